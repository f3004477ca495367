/**
 * The run session, the programmatic way to run: compile a definition, check kiln's state folder and the
 * engine, sweep what dead runs left, and run the graph with the Docker job executor. The CLI is a thin
 * layer over this.
 */
import { compile, selectJobs } from '../graph/index.js';
import { MAX_TIMEOUT_MS } from '../graph/compile.js';
import type { Definition, MountSpec } from '../definition/types.js';
import { createEmitter, type EventListener } from '../events.js';
import type { BuildGraph } from '../graph/types.js';
import type { OutputPressure } from '../output-pressure.js';
import { checkEngine, createEngine, runcWarning, type Engine } from '../runtime/engine.js';
import { sweepOrphans } from '../runtime/sweep.js';
import { ensureStateDir } from '../state-dir.js';
import { remoteSettings, ResultStore } from '../results/index.js';
import { sweepUnsealedOutputVolumes } from '../runtime/output-volumes.js';
import { selectOnly } from '../graph/select.js';
import { CachingJobExecutor } from './caching-job-executor.js';
import { cachedNeeds, SeededNeedsExecutor } from './cached-needs.js';
import { DockerJobExecutor } from './docker-job-executor.js';
import { keepRun } from './run-keeper.js';
import { DebugShell, type DebugShellOptions } from './debug-shell.js';
import { DEFAULT_GRACE_MS, newRunId, runGraph } from '../scheduler/run-graph.js';
import type { RunResult } from '../scheduler/types.js';

export interface RunOptions {
  /** Run only these jobs and what they need. Default: every job. */
  readonly jobs?: readonly string[];
  /**
   * Run `jobs` alone, without what they need (`kiln run JOB... --only`): a need whose outputs they mount
   * must have a result in the job cache (else a UsageError names it before anything runs), and is
   * handed to them as passed; other needs are not run. Default false.
   */
  readonly only?: boolean;
  /** Receives every event of the run. */
  readonly onEvent?: EventListener;
  /**
   * Flow control for `onEvent`: a listener that cannot keep up holds it, and step output is not read
   * from the engine until it lets go (createReporter takes the same one). Default: none; output is read
   * as fast as the engine gives it.
   */
  readonly pressure?: OutputPressure;
  /** Max jobs at once. Default: the machine's cores. */
  readonly concurrency?: number;
  /** Run every job whose needs passed, even after a failure. Default false. */
  readonly keepGoing?: boolean;
  /** Reuse every job's container across runs (no job is then cached). Default false. */
  readonly reuse?: boolean;
  /**
   * The job cache: `true` looks every cacheable job up and records its result; `'refresh'` runs every
   * job and records the new results (`kiln run --no-cache`); `false` runs without the job cache (no
   * job may then declare outputs). Default true.
   */
  readonly cache?: boolean | 'refresh';
  /**
   * The shared cache: an `http(s)://` URL (Bazel's `/ac/` + `/cas/` layout), a `file://` URL or a
   * folder. Default `KILN_CACHE_URL`; none when both are empty. `KILN_CACHE_TOKEN` and
   * `KILN_CACHE_SIGNING_KEY` come from `env`.
   */
  readonly cacheUrl?: string;
  /** Look the shared cache up but never write to it. Default `KILN_CACHE_READONLY=1`. */
  readonly cacheReadonly?: boolean;
  /** SIGTERM-to-SIGKILL grace period, ms. Default KILN_CANCEL_GRACE_PERIOD (seconds), else DEFAULT_GRACE_MS. */
  readonly graceMs?: number;
  /** Cancels the run (reason: a CancelReason). */
  readonly signal?: AbortSignal;
  /** Kills at once what cancellation is still waiting for. */
  readonly killSignal?: AbortSignal;
  /** Mounts for every job (KILN_DEFAULT_MOUNTS, already parsed). */
  readonly defaultMounts?: readonly MountSpec[];
  /** The engine to use. Default: DOCKER_HOST or the local socket. */
  readonly engine?: Engine;
  /** Environment for secrets, ssh agents, KILN_WORKER. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly runId?: string;
  /**
   * `kiln run --debug`: when a step fails, a shell into its job's container before anything is released
   * (see debug-shell.ts), on this terminal. Default none.
   */
  readonly debug?: DebugShellOptions;
}

/** The grace period of a run that names none: KILN_CANCEL_GRACE_PERIOD (seconds), else DEFAULT_GRACE_MS. */
export function defaultGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.KILN_CANCEL_GRACE_PERIOD;
  const seconds = raw === undefined || raw === '' ? NaN : Number(raw);
  return Number.isFinite(seconds) && seconds >= 0
    ? Math.min(seconds * 1000, MAX_TIMEOUT_MS)
    : DEFAULT_GRACE_MS;
}

/** Runs an already compiled graph on Docker. */
export async function runBuildGraph(graph: BuildGraph, options: RunOptions = {}): Promise<RunResult> {
  ensureStateDir(options.env);
  const engine = options.engine ?? createEngine();
  const listener = options.onEvent ?? (() => {});
  const info = await checkEngine(engine);
  // Warnings about the engine are told once the run has started, so that run.start stays the first event.
  const pending = [runcWarning(info)].filter((w): w is string => w !== undefined);
  const emit = createEmitter((event) => {
    listener(event);
    if (event.type === 'run.start') {
      for (const message of pending.splice(0)) listener({ type: 'warning', time: event.time, message });
    }
  });
  const runId = options.runId ?? newRunId();
  const only = options.only ? selectOnly(graph, options.jobs ?? []) : undefined;
  const selected =
    only?.graph ?? (options.jobs && options.jobs.length > 0 ? selectJobs(graph, [...options.jobs]) : graph);
  // On an engine other hosts share, the run's liveness is its keeper, started before anything is made
  // (while the sweeps run: they make nothing).
  const keeper = keepRun(engine, selected, runId);
  const store = ResultStore.forEnv(options.env);
  try {
    await sweepOrphans(engine);
    await sweepUnsealedOutputs(engine, store);
  } catch (error) {
    await (await keeper).release();
    throw error;
  }
  const keeping = await keeper;
  if (keeping.warning !== undefined) pending.push(keeping.warning);
  const docker = new DockerJobExecutor(engine, {
    ...(options.env ? { env: options.env } : {}),
    ...(options.pressure ? { pressure: options.pressure } : {}),
    reuse: options.reuse ?? false,
    ...(options.debug ? { debug: new DebugShell(engine, options.debug) } : {}),
  });
  const cache = options.cache ?? true;
  const remote = remoteSettings({
    ...(options.cacheUrl !== undefined ? { url: options.cacheUrl } : {}),
    ...(options.cacheReadonly !== undefined ? { readonly: options.cacheReadonly } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  // Before the executor exists: a refusal leaves nothing to close (but the keeper).
  const needs =
    only && only.fromCache.length > 0
      ? await cachedNeeds(graph, only.fromCache, {
          engine,
          store,
          runId,
          env: options.env ?? process.env,
          reuse: options.reuse ?? false,
          ...(remote ? { remote } : {}),
          emit: (event) => {
            if (event.type === 'warning') pending.push(event.message);
          },
        }).catch(async (error: unknown) => {
          await keeping.release();
          throw error;
        })
      : undefined;
  const executor =
    cache === false
      ? undefined
      : new CachingJobExecutor(docker, engine, {
          store,
          noCache: cache === 'refresh',
          reuse: options.reuse ?? false,
          ...(remote ? { remote } : {}),
        });
  const inner = executor ?? docker;
  try {
    return await runGraph(selected, {
      executor: needs ? new SeededNeedsExecutor(inner, needs.outcomes) : inner,
      emit,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      keepGoing: options.keepGoing ?? false,
      graceMs: options.graceMs ?? defaultGraceMs(options.env),
      runId,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.killSignal ? { killSignal: options.killSignal } : {}),
    });
  } finally {
    await executor?.close();
    await needs?.release();
    await keeping.release();
  }
}

/**
 * Removes the output volumes of runs that died before sealing them (killed while running or sealing):
 * their kiln is gone and no result in the store names them.
 */
async function sweepUnsealedOutputs(engine: Engine, store: ResultStore): Promise<void> {
  let sealed: Promise<Set<string>> | undefined;
  await sweepUnsealedOutputVolumes(engine, store.id, async (volume) => {
    sealed ??= store
      .list()
      .then(({ results }) => new Set(results.flatMap((r) => r.outputs.map((o) => o.volume))));
    return (await sealed).has(volume);
  });
}

/** Compiles a definition (from a step file or the builder) and runs it on Docker. */
export async function run(definition: Definition, options: RunOptions = {}): Promise<RunResult> {
  // Chosen before compiling: it is what `${{ run.id }}` is.
  const runId = options.runId ?? newRunId();
  const graph = compile(definition, {
    ...(options.defaultMounts ? { defaultMounts: options.defaultMounts } : {}),
    runId,
  });
  return runBuildGraph(graph, { ...options, runId });
}
