/**
 * What every reporter is, and the options of createReporter.
 */
import type { Writable } from 'node:stream';
import type { KilnEvent } from '../events.js';
import type { OutputPressure } from '../output-pressure.js';

export interface Reporter {
  /** Takes one event of the run; never throws for what it prints. */
  onEvent(event: KilnEvent): void;
  /** Flush and stop (the live view prints its final frame and the summary). Safe to call twice. */
  close(): Promise<void>;
}

/**
 * How progress is shown. `auto`: the live view when the stream is a TTY and TERM is not `dumb`, plain
 * lines otherwise. `json`: one event per line and nothing else.
 */
export type ProgressMode = 'auto' | 'tty' | 'plain' | 'json';

/** A stream reporters write to: a Writable, with the terminal's fields when it is one. */
export type OutputStream = Writable & {
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
};

/** The step names of each job, in order, as compiled. */
export type RunPlan = Readonly<Record<string, readonly string[]>>;

export interface ReporterOptions {
  readonly mode: ProgressMode;
  /** Where everything is printed (json, plain, live view and summary alike). Default: process.stdout. */
  readonly stream?: OutputStream;
  /**
   * Colors and symbols. Default: on when the stream is a TTY and TERM is not `dumb`; a non-empty
   * NO_COLOR turns it off, FORCE_COLOR (`0`/`false` off, anything else on) forces it.
   */
  readonly color?: boolean;
  /** Terminal width. Default: stream.columns, else 80 (read again at each frame). */
  readonly columns?: number;
  /** Terminal height; the live view never draws more than `rows - 1` lines. Default: stream.rows, else 24. */
  readonly rows?: number;
  /** Where full step logs go. Default: `<stateDir()>/runs`; false keeps no logs. */
  readonly logDir?: string | false;
  /** Also write a Chrome trace-event file here at close (`--trace FILE`). Default: none. */
  readonly tracePath?: string;
  /** Runs whose logs are kept; older run folders are removed at run.start. Default: 20. */
  readonly keepRuns?: number;
  /**
   * The steps of each job (from the compiled graph), so that `n/N` and `passed/total` are known before
   * a job starts. Default: none; each job's steps are then learned from its `job.start` event.
   */
  readonly steps?: RunPlan;
  /** Environment read for NO_COLOR, FORCE_COLOR, TERM and the state folder. Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Held while the stream or a log file is behind; give the same one to `run` so that step output is
   * read only as fast as it is written. Default: none (output waits in memory).
   */
  readonly pressure?: OutputPressure;
}
