/**
 * The reporters: they alone turn a run's events into output. createReporter picks the view for the
 * stream (live on a terminal, plain lines in a pipe, JSON lines on request) and adds the step logs on
 * disk and the trace file.
 */
import { join } from 'node:path';
import type { KilnEvent } from '../events.js';
import { stateDir } from '../state-dir.js';
import { JsonReporter } from './json-reporter.js';
import { LogStore } from './log-store.js';
import { PlainReporter } from './plain-reporter.js';
import { shouldColor } from './style.js';
import { TraceReporter } from './trace-reporter.js';
import { TtyReporter } from './tty-reporter.js';
import type { OutputStream, ProgressMode, Reporter, ReporterOptions } from './types.js';

export type { OutputStream, ProgressMode, Reporter, ReporterOptions, RunPlan } from './types.js';
export { JsonReporter } from './json-reporter.js';
export { PlainReporter, type PlainReporterOptions } from './plain-reporter.js';
export { TtyReporter, type TtyReporterOptions } from './tty-reporter.js';
export { LogStore, DEFAULT_KEEP_RUNS, type LogStoreOptions } from './log-store.js';
export { TraceReporter, TraceRecorder, type TraceFile, type TraceEvent } from './trace-reporter.js';
export { renderSummary, type SummaryOptions } from './summary.js';
export { renderFrame, type FrameOptions } from './tty-frame.js';
export {
  createRunState,
  reduceRun,
  type RunState,
  type JobState,
  type JobCacheState,
  type StepState,
} from './run-state.js';
export { runLogDir, stepLogPath, eventsLogPath } from './log-paths.js';

/** The view `auto` picks: the live view on a terminal whose TERM is not `dumb`, plain lines otherwise. */
export function resolveMode(
  mode: ProgressMode,
  stream: { readonly isTTY?: boolean },
  env: NodeJS.ProcessEnv = process.env,
): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  return stream.isTTY && env.TERM !== 'dumb' ? 'tty' : 'plain';
}

/** The default folder of step logs: `<stateDir()>/runs`. */
export function defaultLogDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'runs');
}

/** One reporter made of the view for `options.mode`, the step logs (unless `logDir: false`) and the trace. */
export function createReporter(options: ReporterOptions): Reporter {
  const env = options.env ?? process.env;
  const stream: OutputStream = options.stream ?? process.stdout;
  const mode = resolveMode(options.mode, stream, env);
  const color = options.color ?? shouldColor(stream, env);

  // Problems of the logs or the trace are shown as warnings by the view.
  let view: Reporter | undefined;
  const onProblem = (message: string): void =>
    view?.onEvent({ type: 'warning', time: new Date().toISOString(), message });

  const logDir = options.logDir === undefined ? defaultLogDir(env) : options.logDir;
  const logs =
    logDir === false
      ? undefined
      : new LogStore({
          logDir,
          onProblem,
          ...(options.pressure ? { pressure: options.pressure } : {}),
          ...(options.keepRuns === undefined ? {} : { keepRuns: options.keepRuns }),
        });
  const trace = options.tracePath ? new TraceReporter({ path: options.tracePath, onProblem }) : undefined;
  const logsDir = (): string | undefined => logs?.runDir;

  if (mode === 'json') view = new JsonReporter(stream, options.pressure);
  else if (mode === 'plain')
    view = new PlainReporter({
      stream,
      color,
      logsDir,
      ...(options.steps ? { steps: options.steps } : {}),
      ...(options.pressure ? { pressure: options.pressure } : {}),
    });
  else
    view = new TtyReporter({
      stream,
      color,
      logsDir,
      ...(options.columns === undefined ? {} : { columns: options.columns }),
      ...(options.rows === undefined ? {} : { rows: options.rows }),
      ...(options.steps ? { steps: options.steps } : {}),
    });

  const parts = [logs, trace, view].filter((part): part is Reporter => part !== undefined);
  let closing: Promise<void> | undefined;
  return {
    onEvent(event: KilnEvent): void {
      for (const part of parts) part.onEvent(event);
    },
    close(): Promise<void> {
      closing ??= (async () => {
        // Logs and trace first, so that their problems still reach the view before it closes.
        await Promise.all([logs?.close(), trace?.close()]);
        await view!.close();
      })();
      return closing;
    },
  };
}
