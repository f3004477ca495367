/**
 * Plain lines, for pipes and CI logs. Every line of step output is printed whole, prefixed
 * `[job/step] ` (a service's `[job:service] `): output is buffered per job, step and stream until a newline arrives, so that concurrent
 * jobs never mix within a line; what is left is printed at step.end. What the job cache made of each
 * job, steps starting and ending, jobs ending or skipped, warnings and errors get their own lines, and
 * the summary closes the run.
 */
import {
  type ServiceEndEvent,
  type ServiceOutputEvent,
  type ServiceReadyEvent,
  type ServiceStartEvent,
  stepOutputText,
  type JobCacheEvent,
  type KilnEvent,
  type StepEndEvent,
} from '../events.js';
import type { OutputPressure } from '../output-pressure.js';
import { StreamOutput } from './output.js';
import { createRunState, reduceRun, type RunState } from './run-state.js';
import { createStyle, type Colors, type Style } from './style.js';
import { onAttempt, renderSummary } from './summary.js';
import { formatDuration } from '../format-duration.js';
import { padEndWidth, shortKey, stripEscapes, widthOf } from './text.js';
import type { OutputStream, Reporter, RunPlan } from './types.js';
import { visible } from '../visible-text.js';
import { debugBanner } from './debug-banner.js';

/** An unfinished line longer than this is printed anyway, so a step that never prints `\n` cannot fill memory. */
export const MAX_PENDING_LINE = 64 * 1024;

/** The most reasons a job cache line lists; the rest are counted (`and 2 more`). */
export const MAX_CACHE_REASONS = 3;

export interface PlainReporterOptions {
  readonly stream: OutputStream;
  /** Colors and symbols; off means no escape code at all, step output included. */
  readonly color: boolean;
  /** The steps of each job, for the summary's totals and the prefix width. Default: from job.start. */
  readonly steps?: RunPlan;
  /** The run's log folder, once known, for the summary. Default: none. */
  readonly logsDir?: () => string | undefined;
  /** Held while the stream is behind (see StreamOutput). Default: none. */
  readonly pressure?: OutputPressure;
}

const JOB_COLORS = ['cyan', 'magenta', 'blue', 'yellow', 'green'] as const;

/**
 * The command on one line: a multi-line script shows its first line; control characters show as
 * escapes (`\r`, `\x1b`), so that a command cannot rewrite the line it is printed on.
 */
export function commandLine(command: string): string {
  const lines = command.trim().split('\n');
  return visible(lines.length > 1 ? `${lines[0]!.trimEnd()} …` : (lines[0] ?? ''), '\t');
}

/** Marks a service's name as the source of output (a step's name holds no control character). */
const SERVICE = '\u0001';

/** `[job:service]`, for what a job's service prints. */
function serviceLabel(job: string, service: string): string {
  return `[${visible(job)}:${visible(service)}]`;
}

/** `[job]` or `[job/step]`, names with control characters escaped. */
function label(job: string, step?: string): string {
  return step === undefined ? `[${visible(job)}]` : `[${visible(job)}/${visible(step)}]`;
}

export class PlainReporter implements Reporter {
  readonly #out: StreamOutput;
  readonly #style: Style;
  readonly #logsDir: () => string | undefined;
  #state: RunState;
  #width = 0;
  readonly #pending = new Map<string, string>();
  readonly #jobColors = new Map<string, Colors['cyan']>();
  #summarised = false;
  #closed = false;

  constructor(options: PlainReporterOptions) {
    this.#out = new StreamOutput(options.stream, options.pressure);
    this.#style = createStyle(options.color);
    this.#logsDir = options.logsDir ?? (() => undefined);
    this.#state = createRunState(options.steps);
    for (const [job, steps] of Object.entries(options.steps ?? {})) {
      this.#widen(label(job));
      for (const step of steps) this.#widen(label(job, step));
    }
  }

  onEvent(event: KilnEvent): void {
    this.#state = reduceRun(this.#state, event);
    const s = this.#style;
    switch (event.type) {
      case 'run.start':
        event.jobs.forEach((job) => this.#widen(label(job)));
        return;
      case 'job.cache':
        this.#line(event.job, this.#cacheLine(event));
        return;
      case 'step.start':
        this.#line(
          event.job,
          `${s.start} ${visible(event.step)}${(event.attempt ?? 1) > 1 ? ` (attempt ${event.attempt}/${event.attempts})` : ''}: ${commandLine(event.command)}`,
        );
        return;
      case 'step.output':
        this.#buffered(event.job, event.step, event.stream, stepOutputText(event));
        return;
      case 'step.end':
        this.#flush(event.job, event.step);
        this.#line(event.job, this.#stepEnd(event));
        return;
      case 'mount.wait':
        this.#line(
          event.job,
          `waiting for cache ${visible(event.cache)}, held by ${visible(event.holder)} for ${formatDuration(event.heldForMs)}` +
            (event.lock ? ` (if no kiln process holds it, remove ${event.lock})` : ''),
        );
        return;
      case 'job.end': {
        const took = event.durationMs === undefined ? '' : ` (${formatDuration(event.durationMs)})`;
        const why = event.reason ? `: ${this.#clean(event.reason)}` : '';
        if (event.status === 'cached') {
          // A hit was told by its job.cache line already; a job cached without one is told here.
          if (this.#state.jobs[event.job]?.cache?.result === 'hit') return;
          this.#line(event.job, `${s.cached} job cached${took}`);
        } else if (event.status === 'passed') this.#line(event.job, `${s.ok} job passed${took}`);
        else if (event.status === 'skipped') this.#line(event.job, `${s.skip} job skipped${why}`);
        else this.#line(event.job, `${s.fail} job ${event.status}${why}${took}`);
        return;
      }
      case 'warning':
        this.#out.write(
          `${s.c.yellow('warning:')} ${event.job ? `${label(event.job)} ` : ''}${this.#clean(event.message)}\n`,
        );
        return;
      case 'error':
        this.#out.write(
          `${s.c.red('error:')} ${event.job ? `${label(event.job)} ` : ''}${this.#clean(event.message)}\n`,
        );
        return;
      case 'service.start':
      case 'service.ready':
      case 'service.output':
      case 'service.end':
        this.#onService(event);
        return;
      case 'debug.shell':
        for (const line of debugBanner(event)) this.#line(event.job, `${s.c.yellow('shell:')} ${line}`);
        return;
      case 'run.end':
        this.#summarise();
        return;
      default:
        return;
    }
  }

  /** A service's line: started, ready, its output, stopped or failed. */
  #onService(event: ServiceStartEvent | ServiceReadyEvent | ServiceOutputEvent | ServiceEndEvent): void {
    const s = this.#style;
    switch (event.type) {
      case 'service.start':
        this.#widen(serviceLabel(event.job, event.service));
        this.#line(event.job, `service ${visible(event.service)} started (${visible(event.image)})`);
        return;
      case 'service.ready':
        this.#line(
          event.job,
          `service ${visible(event.service)} ready (${formatDuration(event.durationMs)})`,
        );
        return;
      case 'service.output':
        this.#buffered(event.job, SERVICE + event.service, event.stream, event.data);
        return;
      case 'service.end':
        this.#flush(event.job, SERVICE + event.service);
        this.#line(
          event.job,
          event.status === 'failed'
            ? `${s.fail} service ${visible(event.service)} failed` +
                (event.exitCode === undefined ? '' : ` (exit code ${event.exitCode})`)
            : `service ${visible(event.service)} stopped`,
        );
        return;
    }
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      if (this.#state.startedAt !== undefined) this.#summarise();
    }
    await this.#out.flush();
  }

  #summarise(): void {
    if (this.#summarised) return;
    this.#summarised = true;
    for (const key of [...this.#pending.keys()]) {
      const [job, step] = key.split('\0') as [string, string];
      this.#flush(job, step);
    }
    this.#out.write(renderSummary(this.#state, { color: this.#style.color, logsDir: this.#logsDir() }));
  }

  /**
   * `cached (key sha256:ab12…)`, `cache miss: <reason>; <reason>` or `not cached: <reason>`: at most
   * MAX_CACHE_REASONS reasons, then how many more there are.
   */
  #cacheLine(event: JobCacheEvent): string {
    const { c } = this.#style;
    if (event.result === 'hit') {
      const key = event.key ? ` (key ${shortKey(event.key, { algorithm: true })})` : '';
      const from = event.source === 'remote' ? ' from the remote cache' : '';
      return c.blue(`cached${from}`) + c.dim(key);
    }
    const shown = event.reasons.slice(0, MAX_CACHE_REASONS).map((reason) => this.#clean(reason));
    const more = event.reasons.length - shown.length;
    if (more > 0) shown.push(`and ${more} more`);
    const why = shown.length > 0 ? `: ${shown.join('; ')}` : '';
    return event.result === 'miss' ? `cache miss${why}` : c.dim(`not cached${why}`);
  }

  #stepEnd(event: StepEndEvent): string {
    const s = this.#style;
    const step = visible(event.step);
    const took = ` (${formatDuration(event.durationMs)})`;
    switch (event.status) {
      case 'passed':
      case 'cached':
        return `${s.ok} ${step}${event.attempt === undefined ? '' : ` passed${onAttempt(event)}`}${took}`;
      case 'skipped':
        return `${s.skip} ${step} skipped`;
      case 'failed': {
        const how = (event.exitCode === null ? 'failed' : `exited ${event.exitCode}`) + onAttempt(event);
        return event.allowFailure
          ? `${s.c.yellow(s.color ? '✖' : 'FAIL')} ${step} ${how}, allowed to fail${took}`
          : `${s.fail} ${step} ${how}${took}`;
      }
      case 'timed-out':
        return `${s.fail} ${step} timed out${onAttempt(event)}${took}`;
      case 'cancelled':
        return `${s.fail} ${step} cancelled${took}`;
    }
  }

  #widen(prefix: string): void {
    this.#width = Math.max(this.#width, widthOf(prefix));
  }

  #prefix(job: string, step?: string, text = label(job, step)): string {
    this.#widen(text);
    const padded = padEndWidth(text, this.#width) + ' ';
    if (!this.#style.color) return padded;
    let color = this.#jobColors.get(job);
    if (!color) {
      color = this.#style.c[JOB_COLORS[this.#jobColors.size % JOB_COLORS.length]!];
      this.#jobColors.set(job, color);
    }
    return color(padded);
  }

  #line(job: string, text: string): void {
    this.#out.write(this.#prefix(job) + text + '\n');
  }

  /** A message on one line: its line breaks become spaces, other control characters escapes. */
  #clean(text: string): string {
    return visible(text.replace(/\r?\n/g, ' '));
  }

  /**
   * Output of `source` (a step's name, or SERVICE and a service's name), line by line: buffered per
   * job, source and stream until a newline arrives (or the line reaches MAX_PENDING_LINE).
   */
  #buffered(job: string, source: string, stream: string, data: string): void {
    const key = `${job}\0${source}\0${stream}`;
    const last = data.lastIndexOf('\n');
    if (last === -1) {
      const pending = (this.#pending.get(key) ?? '') + data;
      if (pending.length >= MAX_PENDING_LINE) {
        this.#pending.delete(key);
        this.#lines(job, source, pending);
      } else if (pending !== '') {
        this.#pending.set(key, pending);
      }
      return;
    }
    const pending = this.#pending.get(key);
    const complete = data.slice(0, last);
    this.#lines(job, source, pending === undefined ? complete : pending + complete);
    const rest = data.slice(last + 1);
    if (rest === '') this.#pending.delete(key);
    else this.#pending.set(key, rest);
  }

  /** Prints `text` (one or more lines, without the final newline), each line prefixed. */
  #lines(job: string, source: string, text: string): void {
    let body = this.#style.color ? text : stripEscapes(text);
    if (body.includes('\r')) body = body.replace(/\r+(?=\n|$)/g, '');
    const prefix = this.#prefix(
      job,
      undefined,
      source.startsWith(SERVICE) ? serviceLabel(job, source.slice(1)) : label(job, source),
    );
    this.#out.write(prefix + body.replaceAll('\n', '\n' + prefix) + '\n');
  }

  /** Prints what `source` (see #buffered) left unfinished. */
  #flush(job: string, source: string): void {
    for (const stream of ['stdout', 'stderr']) {
      const key = `${job}\0${source}\0${stream}`;
      const pending = this.#pending.get(key);
      if (pending === undefined) continue;
      this.#pending.delete(key);
      this.#lines(job, source, pending);
    }
  }
}
