/**
 * `kiln shell JOB`: a shell in a fresh container of the job, made as a run would make it (its mounts
 * acquired, the outputs of its needs mounted from the job cache, its services when it has any), without
 * running a step. Everything is released, LIFO, once the shell exits. A need without a result in the job
 * cache refuses before anything is acquired. A job that reuses its container gets a fresh one all the
 * same: the shell must not touch what a later run reuses.
 */
import { createEmitter, type EventListener } from '../events.js';
import type { BuildGraph } from '../graph/types.js';
import { remoteSettings, ResultStore } from '../results/index.js';
import { checkEngine, createEngine, type Engine } from '../runtime/engine.js';
import { sweepOrphans } from '../runtime/sweep.js';
import { newRunId } from '../scheduler/run-id.js';
import { cancelStatus } from '../scheduler/cancel-reason.js';
import type { JobContext } from '../scheduler/types.js';
import { DEFAULT_GRACE_MS } from '../scheduler/run-graph.js';
import { ensureStateDir } from '../state-dir.js';
import { cachedNeeds } from './cached-needs.js';
import { DebugShell, type ShellTerminal } from './debug-shell.js';
import { DockerJobExecutor } from './docker-job-executor.js';

export interface ShellJobOptions {
  /** The terminal the shell gets. */
  readonly terminal: ShellTerminal;
  /** Write the job's secrets for the shell (`--secrets`). Default false. */
  readonly secrets?: boolean;
  /** TERM for the shell. Default `xterm`. */
  readonly term?: string;
  /** Receives the events (mounts, container, `debug.shell`, releases, warnings). Default: none. */
  readonly onEvent?: EventListener;
  /** Hangs the shell up and releases (SIGTERM to kiln). */
  readonly signal?: AbortSignal;
  /** The engine. Default: DOCKER_HOST or the local socket. */
  readonly engine?: Engine;
  /** For secrets, ssh agents, the state folder, the shared cache. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** The shell's exit code; `undefined` when it never opened (`signal` aborted first). */
export async function shellJob(
  graph: BuildGraph,
  name: string,
  options: ShellJobOptions,
): Promise<number | undefined> {
  const env = options.env ?? process.env;
  ensureStateDir(env);
  const engine = options.engine ?? createEngine();
  await checkEngine(engine);
  await sweepOrphans(engine);
  const found = graph.jobs.get(name);
  if (found === undefined) throw new Error(`no job ${name} in the graph`);
  const job = { ...found, reuse: false as const };
  const runId = newRunId();
  const emit = createEmitter(options.onEvent ?? (() => {}));
  const store = ResultStore.forEnv(env);
  const remote = remoteSettings({ env });
  const from = [...new Set(job.mounts.flatMap((m) => (m.type === 'output' ? [m.job] : [])))];
  const needs =
    from.length > 0
      ? await cachedNeeds(graph, from, {
          engine,
          store,
          runId,
          env,
          reuse: false,
          ...(remote ? { remote } : {}),
          emit,
          asker: { command: 'kiln shell', mounter: `job ${job.name} mounts` },
        })
      : undefined;
  try {
    const signal = options.signal ?? new AbortController().signal;
    const context: JobContext = {
      graph,
      runId,
      emit,
      signal,
      killSignal: signal,
      graceMs: DEFAULT_GRACE_MS,
      needs: needs?.outcomes ?? new Map(),
    };
    const shell = new DebugShell(engine, {
      terminal: options.terminal,
      ...(options.secrets ? { secrets: true } : {}),
      ...(options.term ? { term: options.term } : {}),
    });
    let code: number | undefined;
    const outcome = await new DockerJobExecutor(engine, { env }).run(job, context, {
      insteadOfSteps: async (container, mounts) => {
        code = await shell.insteadOfSteps(job, container, mounts.steps, context);
        return code === undefined ? cancelStatus(signal.reason) : 'passed';
      },
    });
    if (outcome.error) throw outcome.error;
    return code;
  } finally {
    await needs?.release();
  }
}
