/**
 * The live view on a terminal: the frame of tty-frame.ts redrawn in place with log-update, about ten
 * times a second. Warnings and errors are printed above it. When the run ends the last frame stays on
 * screen and the summary follows it.
 */
import { createLogUpdate } from 'log-update';
import type { KilnEvent } from '../events.js';
import { createRunState, reduceRun, type RunState } from './run-state.js';
import { createStyle, type Style } from './style.js';
import { renderSummary } from './summary.js';
import { renderFrame } from './tty-frame.js';
import { visible } from '../visible-text.js';
import type { OutputStream, Reporter, RunPlan } from './types.js';

const HIDE_CURSOR = '\u001B[?25l';
const SHOW_CURSOR = '\u001B[?25h';

export interface TtyReporterOptions {
  readonly stream: OutputStream;
  /** Colors; the layout is the same without them. */
  readonly color: boolean;
  /** Terminal width. Default: stream.columns, else 80, read at each frame (follows resizes). */
  readonly columns?: number;
  /** Terminal height. Default: stream.rows, else 24, read at each frame. */
  readonly rows?: number;
  /** The steps of each job, for `n/N` before a job starts. Default: none (learned from job.start). */
  readonly steps?: RunPlan;
  /** The run's log folder, once known, for the summary. Default: none. */
  readonly logsDir?: () => string | undefined;
  /** Time between frames, in ms. Default: 100. */
  readonly intervalMs?: number;
}

export class TtyReporter implements Reporter {
  readonly #stream: OutputStream;
  readonly #options: TtyReporterOptions;
  readonly #style: Style;
  readonly #log: ReturnType<typeof createLogUpdate>;
  #state: RunState;
  #timer: NodeJS.Timeout | undefined;
  #tick = 0;
  #live = false;
  #finished = false;

  constructor(options: TtyReporterOptions) {
    this.#stream = options.stream;
    this.#options = options;
    this.#style = createStyle(options.color);
    this.#log = createLogUpdate(options.stream, { showCursor: true });
    this.#state = createRunState(options.steps);
  }

  /** The run as this reporter sees it. */
  get state(): RunState {
    return this.#state;
  }

  onEvent(event: KilnEvent): void {
    this.#state = reduceRun(this.#state, event);
    const { c } = this.#style;
    switch (event.type) {
      case 'run.start':
        this.#start();
        return;
      case 'warning':
        this.#above(
          `${c.yellow('warning:')} ${event.job ? `[${visible(event.job)}] ` : ''}${this.#clean(event.message)}`,
        );
        return;
      case 'error':
        this.#above(
          `${c.red('error:')} ${event.job ? `[${visible(event.job)}] ` : ''}${this.#clean(event.message)}`,
        );
        return;
      case 'run.end':
        this.#finish();
        return;
      default:
        return;
    }
  }

  async close(): Promise<void> {
    if (this.#live) this.#finish();
  }

  /** Draws the frame now (the timer does it ten times a second while the run is live). */
  render(now: number = Date.now()): void {
    if (!this.#live) return;
    const frame = renderFrame(this.#state, {
      columns: this.#options.columns ?? this.#stream.columns ?? 80,
      rows: this.#options.rows ?? this.#stream.rows ?? 24,
      color: this.#style.color,
      now,
      tick: this.#tick,
    });
    this.#log(frame);
  }

  #start(): void {
    if (this.#live || this.#finished) return;
    this.#live = true;
    this.#stream.write(HIDE_CURSOR);
    process.once('exit', this.#restoreCursor);
    this.render();
    this.#timer = setInterval(() => {
      this.#tick++;
      this.render();
    }, this.#options.intervalMs ?? 100);
    this.#timer.unref();
  }

  #above(text: string): void {
    if (this.#live) this.#log.clear();
    this.#stream.write(text + '\n');
    this.render();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#live) {
      this.render(this.#state.endedAt ?? Date.now());
      this.#log.done();
      this.#live = false;
      this.#restoreCursor();
      process.off('exit', this.#restoreCursor);
    }
    const logsDir = this.#options.logsDir?.();
    this.#stream.write(
      renderSummary(this.#state, { color: this.#style.color, ...(logsDir ? { logsDir } : {}) }),
    );
  }

  #restoreCursor = (): void => {
    this.#stream.write(SHOW_CURSOR);
  };

  /** A message on one line: its line breaks become spaces, other control characters escapes. */
  #clean(text: string): string {
    return visible(text.replace(/\r?\n/g, ' '));
  }
}
