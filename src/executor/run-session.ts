/**
 * The run session, the programmatic way to run: compile a definition, check kiln's state folder and the
 * engine, sweep what dead runs left, and run the graph with the Docker job executor. The CLI is a thin
 * layer over this.
 */
import { compile, selectJobs } from '../graph/index.js';
import { MAX_TIMEOUT_MS } from '../graph/compile.js';
import type { Definition, MountSpec } from '../definition/types.js';
import { createEmitter, type Emit, type EventListener } from '../events.js';
import { ReleaseStack } from '../release.js';
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

/**
 * The run's emitter: events go to `listener`, and the `warnings` gathered before the run started are
 * told once it has (so that run.start stays the first event).
 */
function runEmitter(listener: EventListener, warnings: string[]): Emit {
  return createEmitter((event) => {
    listener(event);
    if (event.type === 'run.start') {
      for (const message of warnings.splice(0)) listener({ type: 'warning', time: event.time, message });
    }
  });
}

/** Runs an already compiled graph on Docker. */
export async function runBuildGraph(graph: BuildGraph, options: RunOptions = {}): Promise<RunResult> {
  ensureStateDir(options.env);
  const engine = options.engine ?? createEngine();
  const info = await checkEngine(engine);
  const pending = [runcWarning(info)].filter((w): w is string => w !== undefined);
  const emit = runEmitter(options.onEvent ?? (() => {}), pending);
  const runId = options.runId ?? newRunId();
  const only = options.only ? selectOnly(graph, options.jobs ?? []) : undefined;
  const selected =
    only?.graph ?? (options.jobs && options.jobs.length > 0 ? selectJobs(graph, [...options.jobs]) : graph);
  const store = ResultStore.forEnv(options.env);
  // What the run holds until it ends (its keeper, its needs' pins, the job cache's pins and uploads):
  // released last first on every path, a failing release not stopping the others.
  const held = new ReleaseStack();
  try {
    // On an engine other hosts share, the run's liveness is its keeper, started before anything is made
    // (while the sweeps run: they make nothing).
    const keeper = keepRun(engine, selected, runId);
    held.push('keeper', runId, async () => (await keeper).release());
    await sweepOrphans(engine);
    await sweepUnsealedOutputs(engine, store);
    const { warning } = await keeper;
    if (warning !== undefined) pending.push(warning);
    const docker = new DockerJobExecutor(engine, {
      ...(options.env ? { env: options.env } : {}),
      ...(options.pressure ? { pressure: options.pressure } : {}),
      reuse: options.reuse ?? false,
      ...(options.debug ? { debug: new DebugShell(engine, options.debug) } : {}),
    });
    const remote = remoteSettings({
      ...(options.cacheUrl !== undefined ? { url: options.cacheUrl } : {}),
      ...(options.cacheReadonly !== undefined ? { readonly: options.cacheReadonly } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
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
          })
        : undefined;
    if (needs) held.push('pins', 'needs', () => needs.release());
    const cache = options.cache ?? true;
    const executor =
      cache === false
        ? undefined
        : new CachingJobExecutor(docker, engine, {
            store,
            noCache: cache === 'refresh',
            reuse: options.reuse ?? false,
            ...(remote ? { remote } : {}),
          });
    if (executor) held.push('job cache', runId, () => executor.close());
    const inner = executor ?? docker;
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
    await held.release();
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
