/**
 * A scriptable JobExecutor for scheduler tests. Per job it can pass, fail, throw, take some time, block
 * until the test releases it, and react to its abort signal with a given outcome. It records when each
 * job started and ended, the reason its signal aborted with, and the most jobs running at once.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { createEmitter, type Emit, type JobEndEvent, type KilnEvent, type Status } from '../../src/events.js';
import type { CompiledJob } from '../../src/graph/types.js';
import { cancelStatus } from '../../src/scheduler/cancel-reason.js';
import type {
  CancelReason,
  JobContext,
  JobExecutor,
  JobOutcome,
  JobOutputRef,
} from '../../src/scheduler/types.js';

export interface JobScript {
  /** The status the job ends with when nothing stops it. Default `passed`. */
  readonly status?: Status;
  /** Thrown (after the job's time) instead of returning an outcome. */
  readonly throws?: unknown;
  /** Returned as the outcome's `error`: a fault the executor caught itself. */
  readonly error?: Error;
  /** How long the job takes, in ms. Default 0. */
  readonly durationMs?: number;
  /** The job waits, after `durationMs`, until the test calls `release(job)`. Default false. */
  readonly blocked?: boolean;
  /**
   * When the job's signal aborts: the status it then ends with, or `ignore` to run on as scripted.
   * Default `timed-out` for a timeout, `cancelled` otherwise.
   */
  readonly onAbort?: Status | 'ignore';
  /** After an abort, how long the job takes to stop (its grace), in ms. Default 0. */
  readonly stopMs?: number;
  /** The outputs its outcome hands on. Default none. */
  readonly outputs?: ReadonlyMap<string, JobOutputRef>;
}

export interface JobRun {
  readonly job: string;
  readonly context: JobContext;
  /** performance.now() when the executor was called. */
  readonly startedAt: number;
  /** performance.now() when it returned or threw. */
  endedAt?: number;
  /** The job signal's reason, if it aborted while the job ran. */
  abortReason?: CancelReason;
  /** How many jobs were running, this one included, when it started. */
  readonly runningAtStart: number;
}

interface Waiter<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
}

function waiter<T>(): Waiter<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export class FakeExecutor implements JobExecutor {
  readonly #scripts = new Map<string, JobScript>();
  readonly #fallback: JobScript;
  readonly #started = new Map<string, Waiter<JobRun>>();
  readonly #gates = new Map<string, Waiter<Status | undefined>>();
  /** Every job the executor was called for, by name. */
  readonly runs = new Map<string, JobRun>();
  /** Job names in the order the executor was called. */
  readonly startOrder: string[] = [];
  /** Job names in the order the executor returned or threw. */
  readonly endOrder: string[] = [];
  #running = 0;
  #maxRunning = 0;

  /** `scripts` per job name; `fallback` for every job without one (default: pass at once). */
  constructor(scripts: Readonly<Record<string, JobScript>> = {}, fallback: JobScript = {}) {
    for (const [job, script] of Object.entries(scripts)) this.#scripts.set(job, script);
    this.#fallback = fallback;
  }

  get running(): number {
    return this.#running;
  }

  get maxRunning(): number {
    return this.#maxRunning;
  }

  /** Resolves when the job has started (at once if it already has). */
  started(job: string): Promise<JobRun> {
    return this.#waiter(this.#started, job).promise;
  }

  /** Lets a blocked job go on, optionally ending with `status` instead of its scripted one. */
  release(job: string, status?: Status): void {
    this.#waiter(this.#gates, job).resolve(status);
  }

  async execute(job: CompiledJob, context: JobContext): Promise<JobOutcome> {
    const script = { ...this.#fallback, ...this.#scripts.get(job.name) };
    this.#running += 1;
    this.#maxRunning = Math.max(this.#maxRunning, this.#running);
    const run: JobRun = {
      job: job.name,
      context,
      startedAt: performance.now(),
      runningAtStart: this.#running,
    };
    this.runs.set(job.name, run);
    this.startOrder.push(job.name);
    this.#waiter(this.#started, job.name).resolve(run);

    const { signal } = context;
    if (!script.durationMs && !script.blocked && !signal.aborted) {
      // Nothing to wait for: the quick path keeps 10,000-job graphs fast.
      await new Promise(setImmediate);
      this.#running -= 1;
      run.endedAt = performance.now();
      this.endOrder.push(job.name);
      if (script.throws !== undefined) throw script.throws;
      return outcome(script.status ?? 'passed', script);
    }
    const onAbort = (): void => {
      run.abortReason = signal.reason as CancelReason;
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const stopWork = new AbortController();
    try {
      const work = this.#work(job.name, script, stopWork.signal);
      let status: Status;
      if (script.onAbort === 'ignore') {
        status = await work;
      } else {
        const aborted = new Promise<'aborted'>((resolve) => {
          if (signal.aborted) resolve('aborted');
          else
            signal.addEventListener('abort', () => resolve('aborted'), {
              once: true,
              signal: stopWork.signal,
            });
        });
        const first = await Promise.race([work, aborted]);
        if (first === 'aborted') {
          stopWork.abort();
          if (script.stopMs) await delay(script.stopMs);
          status = script.onAbort ?? cancelStatus(signal.reason);
        } else {
          status = first;
        }
      }
      if (script.throws !== undefined) throw script.throws;
      return outcome(status, script);
    } finally {
      stopWork.abort();
      signal.removeEventListener('abort', onAbort);
      this.#running -= 1;
      run.endedAt = performance.now();
      this.endOrder.push(job.name);
    }
  }

  /** The job's scripted work; resolves with its status, or never once `stop` aborts. */
  async #work(job: string, script: JobScript, stop: AbortSignal): Promise<Status> {
    try {
      if (script.durationMs) await delay(script.durationMs, undefined, { signal: stop });
      let status = script.status ?? 'passed';
      if (script.blocked) {
        const released = await Promise.race([
          this.#waiter(this.#gates, job).promise,
          new Promise<never>((_, reject) => stop.addEventListener('abort', reject, { once: true })),
        ]);
        status = released ?? status;
      }
      return status;
    } catch {
      return new Promise<Status>(() => {});
    }
  }

  #waiter<T>(map: Map<string, Waiter<T>>, job: string): Waiter<T> {
    let w = map.get(job);
    if (!w) map.set(job, (w = waiter<T>()));
    return w;
  }
}

function outcome(status: Status, script: JobScript): JobOutcome {
  return {
    status,
    steps: [],
    ...(script.error ? { error: script.error } : {}),
    ...(script.outputs ? { outputs: script.outputs } : {}),
  };
}

/** Collects the events of a run, to assert on what a user would see. */
export class EventLog {
  readonly events: KilnEvent[] = [];
  readonly #waiting: Array<{ wanted: (e: KilnEvent) => boolean; resolve: (e: KilnEvent) => void }> = [];
  readonly emit: Emit = createEmitter((event) => {
    this.events.push(event);
    for (const w of this.#waiting.splice(0)) {
      if (w.wanted(event)) w.resolve(event);
      else this.#waiting.push(w);
    }
  });

  /** The first event of this type (and job), already told or to come. */
  when<T extends KilnEvent['type']>(type: T, job?: string): Promise<Extract<KilnEvent, { type: T }>> {
    const wanted = (e: KilnEvent) => e.type === type && (job === undefined || ('job' in e && e.job === job));
    const told = this.events.find(wanted);
    if (told) return Promise.resolve(told as Extract<KilnEvent, { type: T }>);
    return new Promise((resolve) =>
      this.#waiting.push({ wanted, resolve: (e) => resolve(e as Extract<KilnEvent, { type: T }>) }),
    );
  }

  /** The events of one type, optionally of one job. */
  of<T extends KilnEvent['type']>(type: T, job?: string): Extract<KilnEvent, { type: T }>[] {
    return this.events.filter(
      (e): e is Extract<KilnEvent, { type: T }> =>
        e.type === type && (job === undefined || ('job' in e && e.job === job)),
    );
  }

  /** The `job.end` event of a job (there is exactly one per job). */
  end(job: string): JobEndEvent {
    const ends = this.of('job.end', job);
    if (ends.length !== 1) throw new Error(`expected one job.end for ${job}, got ${ends.length}`);
    return ends[0]!;
  }

  /** Position of the first event of this type (and job) in the log, -1 if none. */
  indexOf(type: KilnEvent['type'], job?: string): number {
    return this.events.findIndex(
      (e) => e.type === type && (job === undefined || ('job' in e && e.job === job)),
    );
  }

  /** `type:job` of every job.start / job.end, in order: a compact trace for assertions. */
  trace(): string[] {
    return this.events.flatMap((e) =>
      e.type === 'job.start' || e.type === 'job.end' ? [`${e.type}:${e.job}`] : [],
    );
  }
}
