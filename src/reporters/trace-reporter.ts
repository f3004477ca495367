/**
 * `--trace FILE`: the run as a Chrome trace-event file (chrome://tracing, Perfetto). Complete events
 * (`ph: "X"`, ts/dur in µs from run.start, pid 1): the run on lane 0, each job on its own lane with a
 * span for the job and, nested in it, spans for its mounts (job.start to the first container event),
 * its container (job.start to container.create/reuse/recreate), each step, and its release (first
 * release event to job.end). Lanes are named with `thread_name` metadata. Written at close.
 */
import { writeFile } from 'node:fs/promises';
import type { KilnEvent } from '../events.js';
import type { Reporter } from './types.js';

export interface TraceEvent {
  readonly name: string;
  readonly ph: 'X' | 'M' | 'i';
  readonly pid: number;
  readonly tid: number;
  readonly ts?: number;
  readonly dur?: number;
  readonly cat?: string;
  readonly s?: 't' | 'p' | 'g';
  readonly args?: Readonly<Record<string, unknown>>;
}

export interface TraceFile {
  readonly traceEvents: readonly TraceEvent[];
  readonly displayTimeUnit: 'ms';
}

interface Span {
  readonly name: string;
  readonly cat: string;
  readonly start: number;
  end?: number;
  args?: Record<string, unknown>;
}

interface Lane {
  readonly tid: number;
  readonly job: string;
  readonly spans: Span[];
  jobSpan?: Span;
  mounts?: Span;
  container?: Span;
  release?: Span;
  readonly steps: Map<string, Span>;
}

const PID = 1;

/** Collects the spans of a run and renders them; `TraceReporter` writes the result to a file. */
export class TraceRecorder {
  #origin: number | undefined;
  #last = 0;
  #run: Span | undefined;
  readonly #lanes = new Map<string, Lane>();
  readonly #instants: TraceEvent[] = [];
  #runId = '';

  onEvent(event: KilnEvent): void {
    const at = Date.parse(event.time);
    if (Number.isNaN(at)) return;
    this.#origin ??= at;
    this.#last = Math.max(this.#last, at);
    switch (event.type) {
      case 'run.start':
        this.#origin = Math.min(this.#origin, at);
        this.#runId = event.runId;
        this.#run = { name: `run ${event.runId}`, cat: 'run', start: at, args: { project: event.project } };
        event.jobs.forEach((job) => this.#lane(job));
        return;
      case 'job.start': {
        const lane = this.#lane(event.job);
        lane.jobSpan = { name: event.job, cat: 'job', start: at, args: { image: event.image } };
        lane.mounts = { name: 'mounts', cat: 'mounts', start: at };
        lane.container = { name: 'container', cat: 'container', start: at };
        lane.spans.push(lane.jobSpan, lane.mounts, lane.container);
        return;
      }
      case 'container.create':
      case 'container.reuse':
      case 'container.recreate': {
        const lane = this.#lane(event.job);
        if (lane.mounts && lane.mounts.end === undefined) lane.mounts.end = at;
        if (lane.container && lane.container.end === undefined) {
          lane.container.end = at;
          lane.container.args = { how: event.type.slice('container.'.length), id: event.container };
        }
        return;
      }
      case 'step.start': {
        const lane = this.#lane(event.job);
        const span: Span = {
          name: event.step,
          cat: 'step',
          start: at,
          args: { command: event.command, index: event.index },
        };
        lane.steps.set(event.step, span);
        lane.spans.push(span);
        return;
      }
      case 'step.end': {
        const span = this.#lane(event.job).steps.get(event.step);
        if (!span) return;
        span.end = Math.max(span.start, at);
        span.args = { ...span.args, status: event.status, exitCode: event.exitCode };
        return;
      }
      case 'release': {
        if (!event.job) return;
        const lane = this.#lane(event.job);
        if (!lane.release && lane.jobSpan) {
          lane.release = { name: 'release', cat: 'release', start: at };
          lane.spans.push(lane.release);
        }
        return;
      }
      case 'job.end': {
        const lane = this.#lane(event.job);
        if (!lane.jobSpan) {
          // Never started (skipped): an empty span still shows why.
          lane.jobSpan = { name: event.job, cat: 'job', start: at };
          lane.spans.push(lane.jobSpan);
        }
        lane.jobSpan.end = at;
        lane.jobSpan.args = {
          ...lane.jobSpan.args,
          status: event.status,
          ...(event.reason ? { reason: event.reason } : {}),
        };
        if (lane.release && lane.release.end === undefined) lane.release.end = at;
        return;
      }
      case 'run.end':
        if (this.#run) {
          this.#run.end = at;
          this.#run.args = { ...this.#run.args, status: event.status, exitCode: event.exitCode };
        }
        return;
      case 'warning':
      case 'error':
        this.#instants.push({
          name: event.type === 'warning' ? `warning: ${event.message}` : `error: ${event.message}`,
          ph: 'i',
          s: 't',
          pid: PID,
          tid: event.job ? this.#lane(event.job).tid : 0,
          ts: this.#us(at),
          cat: event.type,
        });
        return;
      default:
        return;
    }
  }

  /** The trace so far; spans still open end at the last event seen. */
  toJSON(): TraceFile {
    const events: TraceEvent[] = [
      { name: 'process_name', ph: 'M', pid: PID, tid: 0, args: { name: `kiln ${this.#runId}`.trim() } },
      { name: 'thread_name', ph: 'M', pid: PID, tid: 0, args: { name: 'run' } },
      { name: 'thread_sort_index', ph: 'M', pid: PID, tid: 0, args: { sort_index: 0 } },
    ];
    if (this.#run) events.push(this.#complete(this.#run, 0));
    for (const lane of this.#lanes.values()) {
      events.push(
        { name: 'thread_name', ph: 'M', pid: PID, tid: lane.tid, args: { name: lane.job } },
        { name: 'thread_sort_index', ph: 'M', pid: PID, tid: lane.tid, args: { sort_index: lane.tid } },
      );
      for (const span of lane.spans) events.push(this.#complete(span, lane.tid));
    }
    events.push(...this.#instants);
    return { traceEvents: events, displayTimeUnit: 'ms' };
  }

  #lane(job: string): Lane {
    let lane = this.#lanes.get(job);
    if (!lane) {
      lane = { tid: this.#lanes.size + 1, job, spans: [], steps: new Map() };
      this.#lanes.set(job, lane);
    }
    return lane;
  }

  #us(at: number): number {
    return Math.round((at - (this.#origin ?? at)) * 1000);
  }

  #complete(span: Span, tid: number): TraceEvent {
    const ts = this.#us(span.start);
    const end = this.#us(span.end ?? this.#last);
    return {
      name: span.name,
      cat: span.cat,
      ph: 'X',
      pid: PID,
      tid,
      ts,
      dur: Math.max(0, end - ts),
      ...(span.args ? { args: span.args } : {}),
    };
  }
}

export interface TraceReporterOptions {
  /** The file to write. */
  readonly path: string;
  /** Told when the file cannot be written. Default: ignored. */
  readonly onProblem?: (message: string) => void;
}

export class TraceReporter implements Reporter {
  readonly #recorder = new TraceRecorder();
  readonly #options: TraceReporterOptions;
  #written: Promise<void> | undefined;

  constructor(options: TraceReporterOptions) {
    this.#options = options;
  }

  onEvent(event: KilnEvent): void {
    if (!this.#written) this.#recorder.onEvent(event);
  }

  close(): Promise<void> {
    this.#written ??= writeFile(this.#options.path, JSON.stringify(this.#recorder.toJSON()) + '\n').catch(
      (error: Error) =>
        this.#options.onProblem?.(
          `the trace could not be written to ${this.#options.path}: ${error.message}`,
        ),
    );
    return this.#written;
  }
}
