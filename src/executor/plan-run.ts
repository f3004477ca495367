/**
 * `kiln plan`: what `kiln run` would do with the job cache, without starting a container, preparing a
 * mount or pinning a result. Each job is planned and keyed as a run would; the engine is asked only for
 * image IDs and which output volumes exist. A job that mounts the output of a job that would run cannot
 * know its key before that job ran: it is a miss that says so.
 */
import type { Emit } from '../events.js';
import type { BuildGraph, CompiledJob } from '../graph/types.js';
import { RunSecrets } from '../mounts/run-secrets.js';
import { ResultStore, type RemoteSettings } from '../results/index.js';
import { RemoteResults } from './remote-results.js';
import type { Engine } from '../runtime/engine.js';
import type { ImageRuntime } from '../runtime/images.js';
import type { JobOutcome } from '../scheduler/types.js';
import { cachedOutcome, remoteOutcome } from './hit-outcomes.js';
import { JobCache, type CacheDecision } from './job-cache.js';
import { cachePolicy } from './job-key.js';
import { planJob } from './plan-job.js';

export interface JobCachePlan {
  readonly job: string;
  /** The job's key, when it can be known now. */
  readonly key?: string;
  readonly result: 'hit' | 'miss' | 'disabled';
  /** On a hit: in this machine's store, or in the shared cache (a run would download it). */
  readonly source?: 'local' | 'remote';
  readonly reasons: readonly string[];
  /** The host folders its outputs would be exported to. */
  readonly exports: readonly string[];
}

export interface PlanRunOptions {
  readonly engine: Engine;
  /** Default: the state folder's store (KILN_STATE_DIR...). */
  readonly store?: ResultStore;
  /** For secrets, ssh agents, the state folder. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** As `kiln run --reuse` would: no job is cached. */
  readonly reuse?: boolean;
  /** As `kiln run --no-cache` would: every job disabled. */
  readonly noCache?: boolean;
  /** Warnings found on the way (a damaged result file). */
  readonly emit?: Emit;
  /** The shared cache to look up after a local miss (as the run would). Default none. */
  readonly remote?: RemoteSettings;
}

/** The plan of every job of `graph` (select jobs first), in the graph's order. */
export async function planRun(graph: BuildGraph, options: PlanRunOptions): Promise<JobCachePlan[]> {
  const env = options.env ?? process.env;
  const store = options.store ?? ResultStore.forEnv(env);
  const emit = options.emit ?? (() => {});
  const cache = new JobCache({
    engine: options.engine,
    store,
    graph,
    runId: `plan-${process.pid}`,
    pin: false,
    noCache: options.noCache ?? false,
    reuse: options.reuse ?? false,
    emit,
    ...(options.remote
      ? { remote: new RemoteResults({ engine: options.engine, store, settings: options.remote, emit }) }
      : {}),
  });
  const context: PlanContext = {
    graph,
    cache,
    images: neverPulling(options.engine.images),
    env,
    secrets: new RunSecrets(graph, env),
    reuse: options.reuse ?? false,
    signal: new AbortController().signal,
    predicted: new Map(),
  };
  const plans: JobCachePlan[] = [];
  for (const name of graph.order) plans.push(await planOne(graph.jobs.get(name)!, context));
  return plans;
}

/** What planning each job shares. */
interface PlanContext {
  readonly graph: BuildGraph;
  readonly cache: JobCache;
  readonly images: ImageRuntime;
  readonly env: NodeJS.ProcessEnv;
  readonly secrets: RunSecrets;
  readonly reuse: boolean;
  /** Never aborted: a plan is not cancelled job by job. */
  readonly signal: AbortSignal;
  /** The outcome each job planned so far would have, as far as it is known (a hit's outputs). */
  readonly predicted: Map<string, JobOutcome>;
}

/** A plan never pulls: an image the engine lacks is a miss that says so. */
function neverPulling(images: ImageRuntime): ImageRuntime {
  return {
    idOf: (reference) => images.idOf(reference),
    pull: (reference) =>
      Promise.reject(new Error(`kiln plan does not pull; kiln run would pull ${reference}`)),
  };
}

/** The plan of one job; a hit's outputs are recorded in `context.predicted` for the jobs after it. */
async function planOne(job: CompiledJob, context: PlanContext): Promise<JobCachePlan> {
  const { name } = job;
  const exports = job.outputs.flatMap((o) => (o.export === undefined ? [] : [o.export]));
  const policy = cachePolicy(job, context.graph.projectDir, context.reuse);
  if (!policy.cached) return { job: name, result: 'disabled', reasons: policy.reasons, exports };
  const waiting = job.mounts.flatMap((m) =>
    m.type === 'output' && context.predicted.get(m.job)?.outputs?.get(m.path) === undefined
      ? [`it mounts output ${m.path} of job ${m.job}, which runs first: its key is known only then`]
      : [],
  );
  if (waiting.length > 0) return { job: name, result: 'miss', reasons: waiting, exports };
  try {
    const { graph, signal, predicted, images, env, secrets, reuse } = context;
    const jobPlan = await planJob(job, { graph, signal, needs: predicted }, { images, env, secrets, reuse });
    const decision = await context.cache.decide(jobPlan);
    if (decision.result === 'hit') predicted.set(name, predictedHit(name, decision));
    return {
      job: name,
      ...(decision.keyed ? { key: decision.keyed.key } : {}),
      result: decision.result,
      reasons: decision.reasons,
      ...(decision.result === 'hit' ? { source: decision.source } : {}),
      exports,
    };
  } catch (error) {
    return {
      job: name,
      result: 'miss',
      reasons: [`it would fail before its first step: ${(error as Error).message}`],
      exports,
    };
  }
}

/** The outcome a hit would have (a remote result keys the jobs after it by its digests). */
function predictedHit(job: string, decision: Extract<CacheDecision, { result: 'hit' }>): JobOutcome {
  return decision.source === 'local' ? cachedOutcome(decision.stored) : remoteOutcome(job, decision.entry);
}
