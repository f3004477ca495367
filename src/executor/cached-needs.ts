/**
 * `kiln run JOB... --only`: the outputs of the needs that are not run, from the job cache. Each such need
 * is planned and keyed as `kiln plan` would (with the jobs it needs, in order: its key depends on the
 * digests of their outputs), and must be a hit; its result is pinned for the run and handed to the named
 * jobs as the need's outcome. A need without a result refuses the run before anything starts.
 */
import type { Emit } from '../events.js';
import { UsageError } from '../errors.js';
import { selectJobs } from '../graph/select.js';
import type { BuildGraph, CompiledJob } from '../graph/types.js';
import { RunSecrets } from '../mounts/run-secrets.js';
import { ReleaseStack } from '../release.js';
import type { RemoteSettings, ResultStore, StoredResult } from '../results/index.js';
import type { Engine } from '../runtime/engine.js';
import type { ImageRuntime } from '../runtime/images.js';
import type { JobContext, JobExecutor, JobOutcome, JobOutputRef, PreparedJob } from '../scheduler/types.js';
import { visible } from '../visible-text.js';
import { cachedOutcome, remoteOutcome } from './hit-outcomes.js';
import { JobCache, type CacheDecision } from './job-cache.js';
import { cachePolicy } from './job-key.js';
import { planJob } from './plan-job.js';
import { RemoteResults } from './remote-results.js';

export interface CachedNeedsOptions {
  readonly engine: Engine;
  readonly store: ResultStore;
  /** The run the results are pinned for. */
  readonly runId: string;
  /** For secrets, ssh agents, the state folder. */
  readonly env: NodeJS.ProcessEnv;
  /** `--reuse`: no job is cached, so no need can come from the cache. */
  readonly reuse: boolean;
  /** The shared cache, looked up after a local miss; a hit there is downloaded. Default none. */
  readonly remote?: RemoteSettings;
  /** Warnings met on the way (a damaged result file). */
  readonly emit: Emit;
  /**
   * Who asks, for the refusal: the command it names first, and who mounts the needs' outputs, with the
   * verb. Default `--only` and `the named jobs mount`.
   */
  readonly asker?: { readonly command: string; readonly mounter: string };
}

/** The outcomes of the needs, each a cached result, pinned until `release`. */
export interface CachedNeeds {
  readonly outcomes: ReadonlyMap<string, JobOutcome>;
  /** Releases the pins (once the run ended). */
  release(): Promise<void>;
}

/**
 * The cached outcomes of `needs` (jobs of `graph`, the whole graph). Throws a UsageError naming every
 * need that has no result, with why, and saying to run it first.
 */
export async function cachedNeeds(
  graph: BuildGraph,
  needs: readonly string[],
  options: CachedNeedsOptions,
): Promise<CachedNeeds> {
  const stack = new ReleaseStack();
  const remote = options.remote
    ? new RemoteResults({
        engine: options.engine,
        store: options.store,
        settings: options.remote,
        emit: options.emit,
      })
    : undefined;
  const cache = new JobCache({
    engine: options.engine,
    store: options.store,
    graph,
    runId: options.runId,
    pin: true,
    reuse: options.reuse,
    emit: options.emit,
    ...(remote ? { remote } : {}),
  });
  const wanted = new Set(needs);
  const outcomes = new Map<string, JobOutcome>();
  const missing = new Map<string, string>();
  const secrets = new RunSecrets(graph, options.env);
  const signal = new AbortController().signal;
  try {
    // The needs and the jobs they need, in order: each one's key needs the digests of those before it.
    for (const name of selectJobs(graph, needs).order) {
      const job = graph.jobs.get(name)!;
      const why = await (async (): Promise<string | JobOutcome> => {
        const policy = cachePolicy(job, graph.projectDir, options.reuse);
        if (!policy.cached) return `the job cache does not keep it: ${policy.reasons.join('; ')}`;
        const unknown = job.mounts.find((m) => m.type === 'output' && !outcomes.has(m.job));
        if (unknown?.type === 'output') return `job ${unknown.job}, whose output it mounts, has none`;
        const plan = await planJob(
          job,
          { graph, signal, needs: outcomes },
          { images: neverPulling(options.engine.images), env: options.env, secrets, reuse: options.reuse },
        ).catch((error: unknown) => (error as Error).message);
        if (typeof plan === 'string') return plan;
        const decision = await cache.decide(plan, signal);
        if (decision.result !== 'hit') return decision.reasons.join('; ') || 'no result';
        if (decision.source === 'local') {
          const { pin } = decision;
          if (pin) stack.push('pin', decision.keyed.key, () => pin.release());
          return cachedOutcome(decision.stored);
        }
        // Only in the shared cache: a need the named jobs mount is downloaded; one before it only keys.
        if (!wanted.has(name)) return remoteOutcome(name, decision.entry);
        const owner = cache.owner(name);
        const pin = await options.store.pin(decision.keyed.key, owner);
        stack.push('pin', decision.keyed.key, () => pin.release());
        const stored = await remote!.download(
          decision.entry,
          { project: graph.project, job: name, runId: options.runId, imageId: plan.imageId, owner },
          signal,
        );
        return stored ? cachedOutcome(stored) : 'its result in the shared cache could not be downloaded';
      })();
      if (typeof why === 'string') missing.set(name, why);
      else outcomes.set(name, why);
    }
    const refused = needs.filter((name) => missing.has(name));
    if (refused.length > 0) throw new UsageError(refusal(refused, missing, options.asker));
  } catch (error) {
    await stack.release();
    throw error;
  }
  return {
    outcomes: new Map(needs.map((name) => [name, outcomes.get(name)!])),
    release: async () => {
      await stack.release();
    },
  };
}

/** Why `--only` cannot run: per need with no result, why, and the command that builds it. */
function refusal(
  needs: readonly string[],
  why: ReadonlyMap<string, string>,
  asker = { command: '--only', mounter: 'the named jobs mount' },
): string {
  const quoted = (name: string) => (/^[\w.-]+$/.test(name) ? name : `'${name.replace(/'/g, `'\\''`)}'`);
  return needs
    .map(
      (name) =>
        `${asker.command}: job ${visible(name)} has no result in the job cache (${visible(why.get(name)!)}), ` +
        `and ${asker.mounter} its outputs; run it first: kiln run ${visible(quoted(name))}`,
    )
    .join('\nkiln: ');
}

/** Needs are never pulled: an image the engine lacks means the need's result cannot be known here. */
function neverPulling(images: ImageRuntime): ImageRuntime {
  return {
    idOf: (reference) => images.idOf(reference),
    pull: (reference) => Promise.reject(new Error(`its image ${reference} is not on the engine`)),
  };
}

/**
 * The executor of an `--only` run: each named job sees the cached outcomes of the needs dropped from it
 * beside those of the needs that ran, so that it mounts their outputs as in a full run (and gets the
 * same key).
 */
export class SeededNeedsExecutor implements JobExecutor {
  readonly #inner: JobExecutor;
  readonly #seeded: ReadonlyMap<string, JobOutcome>;

  constructor(inner: JobExecutor, seeded: ReadonlyMap<string, JobOutcome>) {
    this.#inner = inner;
    this.#seeded = seeded;
  }

  execute(job: CompiledJob, context: JobContext): Promise<JobOutcome> {
    return this.#inner.execute(job, this.#seed(job, context));
  }

  async prepare(job: CompiledJob, context: JobContext): Promise<PreparedJob> {
    return this.#inner.prepare ? this.#inner.prepare(job, this.#seed(job, context)) : { slot: true };
  }

  #seed(job: CompiledJob, context: JobContext): JobContext {
    const needs = new Map(context.needs);
    for (const mount of job.mounts) {
      if (mount.type !== 'output' || needs.has(mount.job)) continue;
      const seeded = this.#seeded.get(mount.job);
      if (seeded) needs.set(mount.job, seeded);
    }
    return { ...context, needs };
  }

  async finish(runId: string): Promise<void> {
    await this.#inner.finish?.(runId);
  }
}
