/**
 * `kiln plan`: what `kiln run` would do with the job cache, without starting a container, preparing a
 * mount or pinning a result. Each job is planned and keyed as a run would; the engine is asked only for
 * image IDs and which output volumes exist. A job that mounts the output of a job that would run cannot
 * know its key before that job ran: it is a miss that says so.
 */
import type { Emit } from '../events.js';
import type { BuildGraph } from '../graph/types.js';
import { RunSecrets } from '../mounts/run-secrets.js';
import { ResultStore, type RemoteSettings } from '../results/index.js';
import { RemoteResults } from './remote-results.js';
import type { Engine } from '../runtime/engine.js';
import type { ImageRuntime } from '../runtime/images.js';
import type { JobOutcome } from '../scheduler/types.js';
import { JobCache } from './job-cache.js';
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
  const runId = `plan-${process.pid}`;
  const cache = new JobCache({
    engine: options.engine,
    store: options.store ?? ResultStore.forEnv(env),
    graph,
    runId,
    pin: false,
    noCache: options.noCache ?? false,
    reuse: options.reuse ?? false,
    emit: options.emit ?? (() => {}),
    ...(options.remote
      ? {
          remote: new RemoteResults({
            engine: options.engine,
            store: options.store ?? ResultStore.forEnv(env),
            settings: options.remote,
            emit: options.emit ?? (() => {}),
          }),
        }
      : {}),
  });
  // A plan never pulls: an image the engine lacks is a miss that says so.
  const images: ImageRuntime = {
    idOf: (reference) => options.engine.images.idOf(reference),
    pull: (reference) =>
      Promise.reject(new Error(`kiln plan does not pull; kiln run would pull ${reference}`)),
  };
  const secrets = new RunSecrets(graph, env);
  const predicted = new Map<string, JobOutcome>();
  const plans: JobCachePlan[] = [];
  const signal = new AbortController().signal;
  for (const name of graph.order) {
    const job = graph.jobs.get(name)!;
    const exports = job.outputs.flatMap((o) => (o.export === undefined ? [] : [o.export]));
    const waiting = job.mounts.flatMap((m) =>
      m.type === 'output' && predicted.get(m.job)?.outputs?.get(m.path) === undefined
        ? [`it mounts output ${m.path} of job ${m.job}, which runs first: its key is known only then`]
        : [],
    );
    let plan: JobCachePlan;
    const policy = cachePolicy(job, graph.projectDir, options.reuse ?? false);
    if (!policy.cached) {
      plan = { job: name, result: 'disabled', reasons: policy.reasons, exports };
    } else if (waiting.length > 0) {
      plan = { job: name, result: 'miss', reasons: waiting, exports };
    } else {
      try {
        const jobPlan = await planJob(
          job,
          { graph, signal, needs: predicted },
          { images, env, secrets, reuse: options.reuse ?? false },
        );
        const decision = await cache.decide(jobPlan);
        plan = {
          job: name,
          ...(decision.keyed ? { key: decision.keyed.key } : {}),
          result: decision.result,
          reasons: decision.reasons,
          ...(decision.result === 'hit' ? { source: decision.source } : {}),
          exports,
        };
        if (decision.result === 'hit') {
          // A remote result has no volume here yet: the jobs after it need only its digests to be keyed.
          const outputs =
            decision.source === 'local'
              ? decision.stored.outputs
              : decision.entry.outputs.map((o) => ({ ...o, volume: '(in the shared cache)' }));
          predicted.set(name, {
            status: 'cached',
            steps: [],
            outputs: new Map(
              outputs.map((o) => [o.path, { path: o.path, volume: o.volume, digest: o.digest }]),
            ),
          });
        }
      } catch (error) {
        plan = {
          job: name,
          result: 'miss',
          reasons: [`it would fail before its first step: ${(error as Error).message}`],
          exports,
        };
      }
    }
    plans.push(plan);
  }
  return plans;
}
