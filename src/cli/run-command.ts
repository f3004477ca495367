/** `kiln run`: load, compile, run with a reporter, and turn Ctrl-C into a graceful cancellation. */
import { ExitCode, UsageError } from '../errors.js';
import { selectOnly } from '../graph/select.js';
import { visible } from '../visible-text.js';
import { OutputPressure } from '../output-pressure.js';
import { createReporter, type ProgressMode } from '../reporters/index.js';
import { runBuildGraph, defaultGraceMs } from '../executor/run-session.js';
import { relative } from 'node:path';
import type { Reporter } from '../reporters/types.js';
import { ensureStateDir, stateDir } from '../state-dir.js';
import { watchPlan, watchSources } from './watch-sources.js';
import type { CancelReason } from '../scheduler/types.js';
import type { BuildGraph } from '../graph/types.js';
import { failedJobs, readLastRun, writeLastRun } from './last-run.js';
import { loadGraph, selectNamedJobs } from './load.js';
import { newRunId } from '../scheduler/run-id.js';
import { reportError } from './report-error.js';
import { HeldOutput, ProcessTerminal, requireTerminal } from './shell-terminal.js';
import { shouldColor } from '../reporters/style.js';

export interface RunCommandOptions {
  readonly file: string;
  readonly progress: ProgressMode;
  readonly json?: boolean;
  readonly concurrency?: number;
  readonly keepGoing?: boolean;
  readonly reuse?: boolean;
  readonly gracePeriod?: number;
  readonly trace?: string;
  readonly logs?: boolean;
  /** Commander's `--no-cache`: false runs every job and records the new results. Default true. */
  readonly cache?: boolean;
  /** Exit 1 when a job the cache takes missed. */
  readonly expectCached?: boolean;
  /** `--cache-url`: the shared cache. */
  readonly cacheUrl?: string;
  /** `--cache-readonly`. */
  readonly cacheReadonly?: boolean;
  /** `--only`: run the named jobs without their needs (the outputs they mount come from the job cache). */
  readonly only?: boolean;
  /** `--failed`: run the jobs that failed, timed out or were cancelled in the project's last run. */
  readonly failed?: boolean;
  /** `--watch`: after the run, run again on each change to the selected jobs' bind sources. */
  readonly watch?: boolean;
  /** `--env NAME[=VALUE]`, repeatable: values `${{ env.NAME }}` may read. Default: none. */
  readonly env?: readonly string[];
  /**
   * `--debug` (`-i`): when a step fails, a shell into its job's container on this terminal before the
   * job ends; `'secrets'` (`--debug=secrets`) mounts the step's secrets in it again. Default: off.
   */
  readonly debugShell?: boolean | 'secrets';
  /** Stack traces of errors (`kiln --debug run`). */
  readonly debug?: boolean;
}

export async function runCommand(named: readonly string[], options: RunCommandOptions): Promise<number> {
  // The first run's id, known before compiling: what `${{ run.id }}` is.
  let runId = newRunId();
  let selection: RunSelection;
  try {
    // Before anything else: without a terminal the shell would wait for input that never comes.
    if (options.debugShell) checkDebugShell(options);
    const selected = await selectRun(named, options, runId);
    if (selected === undefined) return ExitCode.passed;
    selection = selected;
    // Before anything writes there (step logs, locks): a state folder that cannot be used is said plainly.
    ensureStateDir();
  } catch (error) {
    return reportError(error, options.debug ?? false);
  }

  const cancel = new AbortController();
  const kill = new AbortController();
  /** The current run's reporter, told of the first interrupt. */
  let reporter: Reporter | undefined;
  const onSignal = interruptHandler(cancel, kill, () => reporter);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // --debug: the view writes through a HeldOutput, held while a shell owns the terminal.
  const held = options.debugShell ? new HeldOutput() : undefined;
  /** One run: the first with the graph compiled above, each rerun (`--watch`) under an id of its own. */
  let first = true;
  const runOnce = async (): Promise<number> => {
    if (!first) {
      runId = newRunId();
      selection = selection.again(runId);
    }
    first = false;
    const { graph, planned, jobs } = selection;
    // Step output is read only as fast as the terminal, the pipe and the log files take it.
    const pressure = new OutputPressure();
    const current = createReporter({
      pressure,
      ...(held ? { stream: held, color: shouldColor(process.stdout, process.env) } : {}),
      mode: options.json ? 'json' : held && options.progress === 'auto' ? 'plain' : options.progress,
      steps: Object.fromEntries([...planned.jobs].map(([name, job]) => [name, job.steps.map((s) => s.name)])),
      ...(options.trace ? { tracePath: options.trace } : {}),
      ...(options.logs === false ? { logDir: false as const } : {}),
    });
    reporter = current;
    try {
      return await runWith(graph, jobs, options, {
        reporter: current,
        pressure,
        cancel,
        kill,
        runId,
        ...(held ? { terminal: new ProcessTerminal({ output: held }) } : {}),
      });
    } finally {
      reporter = undefined;
    }
  };
  try {
    const code = await runOnce();
    if (!options.watch || cancel.signal.aborted || !WATCHED_AFTER.has(code)) return code;
    return await watchAndRun(selection.planned, options, cancel.signal, runOnce);
  } catch (error) {
    return reportError(error, options.debug ?? false);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * What SIGINT and SIGTERM do to a run: the first cancels it (and tells the current reporter), the next
 * kills at once what cancellation is still waiting for.
 */
function interruptHandler(
  cancel: AbortController,
  kill: AbortController,
  reporter: () => Reporter | undefined,
): (signal: NodeJS.Signals) => void {
  let interrupts = 0;
  return (signal) => {
    interrupts += 1;
    if (interrupts === 1) {
      const reason: CancelReason = { kind: 'interrupt', message: `interrupted by ${signal}` };
      reporter()?.onEvent({
        type: 'warning',
        time: new Date().toISOString(),
        message: `${signal}: cancelling (again to kill at once)`,
      });
      cancel.abort(reason);
    } else {
      kill.abort({ kind: 'interrupt', message: `${signal} again: killing` } satisfies CancelReason);
    }
  };
}

/**
 * `--debug` needs a terminal, and shows plain lines: the live view redraws its frame in place, which a
 * shell that owned the screen meanwhile would leave garbled, while plain lines only append, so holding
 * them while the shell is open and printing them after is all it takes.
 */
function checkDebugShell(options: RunCommandOptions): void {
  requireTerminal('kiln run --debug');
  if (options.progress === 'tty' && !options.json) {
    throw new UsageError(
      'kiln run --debug shows plain lines (the live view cannot share the terminal with a shell): drop --progress tty',
    );
  }
}

/** The exit codes after which `--watch` keeps watching: the run passed, or a step failed. */
const WATCHED_AFTER: ReadonlySet<number> = new Set([ExitCode.passed, ExitCode.stepFailed]);

/** One run of the selected jobs with its reporter; its exit code. */
async function runWith(
  graph: BuildGraph,
  jobs: readonly string[],
  options: RunCommandOptions,
  run: {
    reporter: Reporter;
    pressure: OutputPressure;
    cancel: AbortController;
    kill: AbortController;
    /** The run's id, chosen before compiling (what `${{ run.id }}` is in `graph`). */
    runId: string;
    /** `--debug`: the terminal a failed job's shell gets. */
    terminal?: ProcessTerminal;
  },
): Promise<number> {
  const { reporter, pressure, cancel, kill } = run;
  const misses = new Map<string, readonly string[]>();
  try {
    const result = await runBuildGraph(graph, {
      jobs,
      runId: run.runId,
      ...(options.only ? { only: true } : {}),
      onEvent: (event) => {
        if (event.type === 'job.cache' && event.result === 'miss') misses.set(event.job, event.reasons);
        reporter.onEvent(event);
      },
      cache: options.cache === false ? 'refresh' : true,
      ...(options.cacheUrl !== undefined ? { cacheUrl: options.cacheUrl } : {}),
      ...(options.cacheReadonly ? { cacheReadonly: true } : {}),
      pressure,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      keepGoing: options.keepGoing ?? false,
      reuse: options.reuse ?? false,
      graceMs: options.gracePeriod !== undefined ? options.gracePeriod * 1000 : defaultGraceMs(),
      signal: cancel.signal,
      killSignal: kill.signal,
      ...(run.terminal
        ? {
            debug: {
              terminal: run.terminal,
              secrets: options.debugShell === 'secrets',
              ...(process.env.TERM ? { term: process.env.TERM } : {}),
            },
          }
        : {}),
    });
    await reporter.close();
    await writeLastRun(graph.project, result).catch((error: unknown) => {
      process.stderr.write(
        `kiln: warning: kiln run --failed will not know this run: ${visible(String((error as Error).message))}\n`,
      );
    });
    if (options.expectCached && misses.size > 0 && result.exitCode === ExitCode.passed) {
      process.stderr.write(expectedCachedMessage(misses));
      return ExitCode.stepFailed;
    }
    return result.exitCode;
  } catch (error) {
    await reporter.close().catch(() => {});
    const code = reportError(error, options.debug ?? false);
    return cancel.signal.aborted ? ExitCode.interrupted : code;
  }
}

/**
 * `--watch`, after the first run: waits for a change to the selected jobs' bind sources and runs again,
 * until `signal` aborts (Ctrl-C, which also cancels a run that goes). Exits 130 then.
 */
async function watchAndRun(
  planned: BuildGraph,
  options: RunCommandOptions,
  signal: AbortSignal,
  runOnce: () => Promise<number>,
): Promise<number> {
  const watcher = await watchSources(watchPlan(planned, stateDir()));
  try {
    const shown = watcher.roots.map((r) => visible(relativeToCwd(r)));
    for (;;) {
      process.stderr.write(
        watcher.roots.length === 0
          ? 'kiln: --watch: the jobs bind no host folder, so nothing can change; Ctrl-C ends\n'
          : `kiln: watching ${shown.join(', ')} for changes; Ctrl-C ends\n`,
      );
      const changed = await watcher.next(signal);
      if (changed === undefined) return ExitCode.interrupted;
      const first = visible(relativeToCwd(changed[0]!));
      process.stderr.write(
        `kiln: ${first}${changed.length > 1 ? ` and ${changed.length - 1} more` : ''} changed: running again\n`,
      );
      watcher.setRunning(true);
      try {
        await runOnce();
      } finally {
        watcher.setRunning(false);
      }
      if (signal.aborted) return ExitCode.interrupted;
    }
  } finally {
    watcher.close();
  }
}

/** A path as the user would type it here: relative to the working folder when under it. */
function relativeToCwd(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') ? path : `./${rel}`;
}

/**
 * The jobs `--failed` runs: those of the project's last run that failed, timed out or were cancelled
 * and are still in the step file. Undefined, once said why, when there are none.
 */
async function failedOfLastRun(graph: BuildGraph, file: string): Promise<string[] | undefined> {
  const last = await readLastRun(graph.project);
  if (last === undefined) {
    process.stderr.write(
      `kiln: --failed: no earlier run of this project (${visible(file)}); nothing to run\n`,
    );
    return undefined;
  }
  const failed = failedJobs(last);
  const gone = failed.filter((name) => !graph.jobs.has(name));
  for (const name of gone) {
    process.stderr.write(
      `kiln: --failed: job ${visible(name)} of the last run is no longer in ${visible(file)}\n`,
    );
  }
  const jobs = failed.filter((name) => graph.jobs.has(name));
  if (jobs.length === 0) {
    process.stderr.write(
      gone.length > 0
        ? 'kiln: --failed: nothing to run\n'
        : `kiln: --failed: nothing failed in the last run (${visible(last.runId)}); nothing to run\n`,
    );
    return undefined;
  }
  return jobs;
}

/** What `--expect-cached` says when jobs missed: each job with its reasons. */
export function expectedCachedMessage(misses: ReadonlyMap<string, readonly string[]>): string {
  const lines = [
    `kiln: --expect-cached: ${misses.size} job${misses.size === 1 ? '' : 's'} the job cache takes did not hit:`,
  ];
  for (const [job, reasons] of misses) {
    lines.push(`  ${visible(job)}: ${reasons.map((r) => visible(r)).join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The graph a run compiled, what it runs of it, and the same for another run of the same jobs. */
interface RunSelection {
  readonly graph: BuildGraph;
  readonly planned: BuildGraph;
  readonly jobs: readonly string[];
  /** The same step file and jobs compiled for the run `runId` (a rerun of `--watch`). */
  again(runId: string): RunSelection;
}

/**
 * The graph of the step file and what this run runs of it: the named jobs and their needs, the jobs
 * that failed last time (`--failed`; undefined when none did), or the named jobs alone (`--only`).
 */
async function selectRun(
  named: readonly string[],
  options: RunCommandOptions,
  runId: string,
): Promise<RunSelection | undefined> {
  const { graph, recompile } = await loadGraph(options.file, process.env, {
    envOptions: options.env ?? [],
    runId,
  });
  let jobs = named;
  if (options.failed) {
    if (named.length > 0) {
      throw new UsageError('--failed runs the jobs that failed in the last run: name no jobs with it');
    }
    const failed = await failedOfLastRun(graph, options.file);
    if (failed === undefined) return undefined;
    jobs = failed;
  }
  if (options.only && jobs.length === 0) {
    throw new UsageError(
      '--only runs the named jobs without their needs: name them (kiln run JOB... --only)',
    );
  }
  const selection = (graph: BuildGraph): RunSelection => {
    const selected = selectNamedJobs(graph, jobs, options.file);
    const planned = options.only ? selectOnly(graph, jobs).graph : selected;
    return { graph, planned, jobs, again: (id) => selection(recompile(id)) };
  };
  return selection(graph);
}
