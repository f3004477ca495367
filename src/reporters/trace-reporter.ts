/**
 * `--trace FILE`: the run as a Chrome trace-event file (chrome://tracing, Perfetto). Complete events
 * (`ph: "X"`, ts/dur in µs from run.start, pid 1): the run on lane 0, each job on its own lane with a
 * span for the job and, nested in it, spans for its job cache lookup (job.start to job.cache), its
 * mounts and its container (from job.start, or job.cache, to container.create/reuse/recreate; a job
 * that ends before it has a container has a mounts span to its end), each of its services (service.start
 * to service.end, with `readyMs`), each step, and its release (first release event to job.end). What the job cache made of the job (`jobCache`:
 * hit, miss or disabled, `key`, a miss's `reasons`, a hit's `source`) is in the attributes of the
 * lookup's span and of the job's span; a hit has no mounts, container or step spans. Lanes are named
 * with `thread_name` metadata. Written at close.
 */
import { writeFile } from 'node:fs/promises';
import type { JobCacheEvent, KilnEvent } from '../events.js';
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
  /** When the job began on its mounts: job.start, or job.cache when the job cache was asked first. */
  mountsFrom?: number;
  mounts?: Span;
  container?: Span;
  release?: Span;
  readonly steps: Map<string, Span>;
  /** The job's services' spans, by name (service.start to service.end). */
  services?: Map<string, Span>;
}

const PID = 1;

type EventOf<T extends KilnEvent['type']> = Extract<KilnEvent, { type: T }>;

/** What the job cache made of a job, as span attributes. */
function cacheArgs(event: JobCacheEvent): Record<string, unknown> {
  return {
    jobCache: event.result,
    ...(event.key === undefined ? {} : { key: event.key }),
    ...(event.reasons.length > 0 ? { reasons: [...event.reasons] } : {}),
    ...(event.source === undefined ? {} : { source: event.source }),
  };
}

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
        return this.#runStart(event, at);
      case 'job.start':
        return this.#jobStart(event, at);
      case 'job.cache':
        return this.#jobCache(event, at);
      case 'container.create':
      case 'container.reuse':
      case 'container.recreate':
        return this.#containerReady(event, at);
      case 'service.start':
      case 'service.ready':
      case 'service.end':
        return this.#service(event, at);
      case 'step.start':
        return this.#stepStart(event, at);
      case 'step.end':
        return this.#stepEnd(event, at);
      case 'release':
        return this.#release(event, at);
      case 'job.end':
        return this.#jobEnd(event, at);
      case 'run.end':
        return this.#runEnd(event, at);
      case 'warning':
      case 'error':
        return this.#instant(event, at);
      default:
        return;
    }
  }

  #runStart(event: EventOf<'run.start'>, at: number): void {
    this.#origin = Math.min(this.#origin ?? at, at);
    this.#runId = event.runId;
    this.#run = { name: `run ${event.runId}`, cat: 'run', start: at, args: { project: event.project } };
    event.jobs.forEach((job) => this.#lane(job));
  }

  #jobStart(event: EventOf<'job.start'>, at: number): void {
    const lane = this.#lane(event.job);
    lane.jobSpan = { name: event.job, cat: 'job', start: at, args: { image: event.image } };
    lane.mountsFrom = at;
    lane.spans.push(lane.jobSpan);
  }

  /** The lookup is a span of its own; a hit has no mounts or container, a miss's come after it. */
  #jobCache(event: JobCacheEvent, at: number): void {
    const lane = this.#lane(event.job);
    const args = cacheArgs(event);
    const start = lane.jobSpan?.start ?? at;
    lane.spans.push({ name: 'job cache', cat: 'job-cache', start, end: at, args });
    if (lane.jobSpan) lane.jobSpan.args = { ...lane.jobSpan.args, ...args };
    lane.mountsFrom = event.result === 'hit' ? undefined : at;
  }

  /** The mounts and the container span from when the job began on them to its first container event. */
  #containerReady(
    event: EventOf<'container.create' | 'container.reuse' | 'container.recreate'>,
    at: number,
  ): void {
    const lane = this.#lane(event.job);
    if (lane.container || lane.mountsFrom === undefined) return;
    lane.mounts = { name: 'mounts', cat: 'mounts', start: lane.mountsFrom, end: at };
    lane.container = {
      name: 'container',
      cat: 'container',
      start: lane.mountsFrom,
      end: at,
      args: { how: event.type.slice('container.'.length), id: event.container },
    };
    lane.spans.push(lane.mounts, lane.container);
  }

  /** A service's span, under its job: from its start to its end, with when it was ready. */
  #service(event: EventOf<'service.start' | 'service.ready' | 'service.end'>, at: number): void {
    const lane = this.#lane(event.job);
    lane.services ??= new Map();
    if (event.type === 'service.start') {
      const span: Span = {
        name: `service ${event.service}`,
        cat: 'service',
        start: at,
        args: { image: event.image, container: event.container },
      };
      lane.services.set(event.service, span);
      lane.spans.push(span);
      return;
    }
    const span = lane.services.get(event.service);
    if (!span) return;
    if (event.type === 'service.ready') span.args = { ...span.args, readyMs: event.durationMs };
    else {
      span.end = Math.max(span.start, at);
      span.args = {
        ...span.args,
        status: event.status,
        ...(event.exitCode !== undefined ? { exitCode: event.exitCode } : {}),
      };
    }
  }

  #stepStart(event: EventOf<'step.start'>, at: number): void {
    const lane = this.#lane(event.job);
    const span: Span = {
      name: event.step,
      cat: 'step',
      start: at,
      args: {
        command: event.command,
        index: event.index,
        ...(event.attempt !== undefined ? { attempt: event.attempt } : {}),
      },
    };
    lane.steps.set(event.step, span);
    lane.spans.push(span);
  }

  #stepEnd(event: EventOf<'step.end'>, at: number): void {
    const span = this.#lane(event.job).steps.get(event.step);
    if (!span) return;
    span.end = Math.max(span.start, at);
    span.args = { ...span.args, status: event.status, exitCode: event.exitCode };
  }

  #release(event: EventOf<'release'>, at: number): void {
    if (!event.job) return;
    const lane = this.#lane(event.job);
    if (!lane.release && lane.jobSpan) {
      lane.release = { name: 'release', cat: 'release', start: at };
      lane.spans.push(lane.release);
    }
  }

  #jobEnd(event: EventOf<'job.end'>, at: number): void {
    const lane = this.#lane(event.job);
    if (!lane.jobSpan) {
      // Never started (skipped): an empty span still shows why.
      lane.jobSpan = { name: event.job, cat: 'job', start: at };
      lane.spans.push(lane.jobSpan);
    }
    if (lane.mountsFrom !== undefined && !lane.container) {
      // It ended before it had a container (a mount that failed, a cancelled wait for a lock).
      lane.mounts = { name: 'mounts', cat: 'mounts', start: lane.mountsFrom, end: at };
      lane.spans.push(lane.mounts);
    }
    lane.jobSpan.end = at;
    lane.jobSpan.args = {
      ...lane.jobSpan.args,
      status: event.status,
      ...(event.reason ? { reason: event.reason } : {}),
    };
    if (lane.release && lane.release.end === undefined) lane.release.end = at;
  }

  #runEnd(event: EventOf<'run.end'>, at: number): void {
    if (!this.#run) return;
    this.#run.end = at;
    this.#run.args = { ...this.#run.args, status: event.status, exitCode: event.exitCode };
  }

  #instant(event: EventOf<'warning' | 'error'>, at: number): void {
    this.#instants.push({
      name: `${event.type}: ${event.message}`,
      ph: 'i',
      s: 't',
      pid: PID,
      tid: event.job ? this.#lane(event.job).tid : 0,
      ts: this.#us(at),
      cat: event.type,
    });
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
