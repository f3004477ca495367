/**
 * runGraph: runs a BuildGraph's jobs over their `needs`. A job starts when every job it needs has
 * passed, or, for a job with `if: always()`, once every job it needs has ended (whatever its status,
 * skipped too); one p-queue holds the concurrency. An executor that prepares jobs (JobExecutor.prepare:
 * planning, cache lookups) does so outside the slots, a few jobs at a time, and a job that this settles
 * (a cache hit) never waits for a slot. Fail-fast (the default, as make) starts nothing new after the
 * first failure but `always()` jobs, and lets running jobs finish; keep-going runs every job
 * whose needs passed. The run's signal cancels: nothing new starts (`always()` jobs neither), running jobs
 * see their signal abort, the rest are skipped.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import PQueue from 'p-queue';
import { CancelledError, isKilnError, UsageError } from '../errors.js';
import type { Emit, EventInput, Status } from '../events.js';
import { MAX_TIMEOUT_MS } from '../graph/compile.js';
import type { BuildGraph, CompiledJob } from '../graph/types.js';
import { cancelStatus, timeoutReason, toCancelReason } from './cancel-reason.js';
import { indexDependencies, type DependencyIndex } from './dependency-index.js';
import { newRunId } from './run-id.js';
import { isFailure, isSuccess, runVerdict } from './run-status.js';
import type { JobContext, JobExecutor, JobOutcome, PreparedJob, RunResult } from './types.js';

export { newRunId } from './run-id.js';

export interface RunGraphOptions {
  /** Runs one job (prepares its mounts, container and steps, and releases them). */
  readonly executor: JobExecutor;
  /** Receives every event of the run; also handed to the executor. */
  readonly emit: Emit;
  /** Most jobs running at once: a whole number >= 1, or Infinity. Default `os.availableParallelism()`. */
  readonly concurrency?: number;
  /** Run every job whose needs passed, even after a failure. Default false (fail-fast). */
  readonly keepGoing?: boolean;
  /**
   * Cancels the whole run (SIGINT / SIGTERM). Its `reason` should be a CancelReason; any other reason
   * counts as `{ kind: 'interrupt', message: 'run cancelled' }`. Default: never cancelled.
   */
  readonly signal?: AbortSignal;
  /** A second interrupt: executors skip the rest of the grace period and kill. Default: never. */
  readonly killSignal?: AbortSignal;
  /** Between SIGTERM and SIGKILL when a job is cancelled or times out, in ms. Default 10_000. */
  readonly graceMs?: number;
  /** The run's id, on events and labels. Default `newRunId()`. */
  readonly runId?: string;
}

/** The grace period when none is given, in ms: 10 s. */
export const DEFAULT_GRACE_MS = 10_000;

/** Why jobs that never ran were skipped. */
export const SkipReason = {
  needs: (need: string, status: Status): string => `needs ${need}, which ${describeStatus(status)}`,
  failFast: 'not started after a failure (fail-fast)',
  cancelled: 'run cancelled',
} as const;

/**
 * Runs the graph to its end and resolves with every job's outcome, only after every job that started has
 * ended. Emits `run.start`, per job `job.start` / `job.end` (a job that never ran gets only `job.end`,
 * status `skipped`, with the reason), and `run.end`. Throws before anything runs when the options or the
 * graph are invalid (UsageError, DefinitionError). If an event listener throws, the run still goes to its
 * end, and then the listener's first error is thrown.
 */
export async function runGraph(graph: BuildGraph, options: RunGraphOptions): Promise<RunResult> {
  const settings = resolveOptions(options);
  const index = indexDependencies(graph);
  return new GraphRun(graph, index, settings).run();
}

interface Settings {
  readonly executor: JobExecutor;
  readonly emit: Emit;
  readonly concurrency: number;
  readonly keepGoing: boolean;
  readonly signal: AbortSignal | undefined;
  readonly killSignal: AbortSignal;
  readonly graceMs: number;
  readonly runId: string;
}

const NEVER_ABORTED = new AbortController().signal;

function resolveOptions(options: RunGraphOptions): Settings {
  const concurrency = options.concurrency ?? availableParallelism();
  if (!(concurrency === Number.POSITIVE_INFINITY || (Number.isInteger(concurrency) && concurrency >= 1))) {
    throw new UsageError(`concurrency must be a whole number of at least 1, got ${String(concurrency)}`);
  }
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  if (!(Number.isFinite(graceMs) && graceMs >= 0 && graceMs <= MAX_TIMEOUT_MS)) {
    throw new UsageError(
      `the grace period must be a number of milliseconds from 0 to ${MAX_TIMEOUT_MS} (about 24.8 days), got ${String(graceMs)}`,
    );
  }
  return {
    executor: options.executor,
    emit: options.emit,
    concurrency,
    keepGoing: options.keepGoing ?? false,
    signal: options.signal,
    killSignal: options.killSignal ?? NEVER_ABORTED,
    graceMs,
    runId: options.runId ?? newRunId(),
  };
}

function describeStatus(status: Status): string {
  switch (status) {
    case 'failed':
      return 'failed';
    case 'timed-out':
      return 'timed out';
    case 'cancelled':
      return 'was cancelled';
    case 'skipped':
      return 'was skipped';
    case 'passed':
      return 'passed';
    case 'cached':
      return 'was cached';
  }
}

/**
 * Jobs an executor prepares at once (JobExecutor.prepare): I/O bound work, held to this rather than to
 * the concurrency, so that cache lookups overlap without opening files without bound.
 */
const PREPARE_CONCURRENCY = 16;

/**
 * How long a prepared job waits for the jobs that became ready before it to be prepared too, so that
 * slots go in the order jobs became ready (the graph's, at concurrency 1), ms.
 */
const ORDER_WAIT_MS = 100;

/** Where a job stands. Every job moves forward only: waiting -> (preparing ->) queued -> running -> ended. */
const enum Phase {
  /** Some job it needs has not passed (for an `always()` job: ended) yet. */
  waiting,
  /** Its executor prepares it (JobExecutor.prepare); no `job.start` yet, no slot held. */
  preparing,
  /** In the p-queue, waiting for a free slot. */
  queued,
  running,
  ended,
}

const SKIPPED: JobOutcome = Object.freeze({ status: 'skipped', steps: Object.freeze([]) }) as JobOutcome;

/** A job its executor prepared: what `execute` gets, and what it emitted meanwhile. */
interface Prepared {
  readonly context: JobContext;
  readonly controller: AbortController;
  /** Its own events, held back until its `job.start`; undefined once they go straight out. */
  readonly outbox: { held: EventInput[] | undefined };
  /** What prepare threw, if it did. */
  readonly thrown?: { error: unknown };
  readonly prepareMs: number;
}

/** One run of a graph: the state of every job, indexed by its position in `graph.order`. */
class GraphRun {
  readonly #graph: BuildGraph;
  readonly #index: DependencyIndex;
  readonly #settings: Settings;
  readonly #queue: PQueue;
  /** Jobs being prepared (when the executor prepares them). */
  readonly #prepares = new PQueue({ concurrency: PREPARE_CONCURRENCY });
  /** Turns of prepared jobs, in the order they became ready: the next to hand out, the next to queue. */
  #turns = 0;
  #nextTurn = 0;
  /** Turns whose preparing ended before an earlier one's: what each queues for a slot, if anything. */
  readonly #turnsEnded = new Map<number, (() => Promise<void>) | undefined>();
  #orderWait: ReturnType<typeof setTimeout> | undefined;
  readonly #phase: Phase[];
  /** Per job, how many of the jobs it needs have not passed (for an `always()` job: ended) yet. */
  readonly #unmet: number[];
  readonly #outcomes: (JobOutcome | undefined)[];
  /** Each preparing or running job's own controller: aborted by a cancel of the run or by its timeout. */
  readonly #running = new Map<number, AbortController>();
  #ended = 0;
  /** Set once no new job may start. */
  #stopped: 'fail-fast' | 'cancelled' | undefined;
  /** The first error thrown by an event listener or by the scheduler itself; thrown at the end. */
  #fault: { error: unknown } | undefined;
  #allEnded!: () => void;
  readonly #allEndedPromise = new Promise<void>((resolve) => (this.#allEnded = resolve));

  constructor(graph: BuildGraph, index: DependencyIndex, settings: Settings) {
    this.#graph = graph;
    this.#index = index;
    this.#settings = settings;
    this.#queue = new PQueue({ concurrency: settings.concurrency });
    const count = index.names.length;
    this.#phase = new Array<Phase>(count).fill(Phase.waiting);
    this.#unmet = index.needs.map((needs) => needs.length);
    this.#outcomes = new Array<JobOutcome | undefined>(count);
  }

  /** Keeps the first fault (a listener's or the scheduler's own throw), to be thrown at the end. */
  readonly #faulted = (error: unknown): void => {
    this.#fault ??= { error };
  };

  /** Events go through here: a listener that throws does not stop the run. */
  readonly #emit: Emit = (event: EventInput) => {
    try {
      this.#settings.emit(event);
    } catch (error) {
      this.#faulted(error);
    }
  };

  async run(): Promise<RunResult> {
    const { signal, runId } = this.#settings;
    const startedAt = performance.now();
    let cancelled = false;
    const onAbort = (): void => {
      if (this.#ended === this.#index.names.length) return;
      cancelled = true;
      this.#cancel(signal!.reason);
    };

    this.#emit({ type: 'run.start', runId, project: this.#graph.project, jobs: [...this.#index.names] });
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal?.aborted) onAbort();
      else this.#index.names.forEach((_, i) => this.#unmet[i] === 0 && this.#enqueue(i));
      this.#checkAllEnded();
      await this.#allEndedPromise;
      await this.#prepares.onIdle();
      await this.#queue.onIdle();
      await this.#settings.executor.finish?.(runId).catch((error: unknown) => {
        this.#emit({ type: 'warning', message: `finishing the run: ${(error as Error).message}` });
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }

    const outcomes = new Map<string, JobOutcome>();
    this.#index.names.forEach((name, i) => outcomes.set(name, this.#outcomes[i] ?? SKIPPED));
    const { status, exitCode } = runVerdict(outcomes.values(), cancelled);
    const durationMs = Math.round(performance.now() - startedAt);
    this.#emit({ type: 'run.end', status, exitCode, durationMs });
    if (this.#fault) throw this.#fault.error;
    return { runId, status, exitCode, durationMs, jobs: outcomes };
  }

  /** The job runs once its needs have ended, whatever their status (`if: always()`). */
  #always(i: number): boolean {
    return this.#graph.jobs.get(this.#index.names[i]!)?.if === 'always';
  }

  #enqueue(i: number): void {
    if (this.#stopped === 'cancelled' || (this.#stopped && !this.#always(i))) {
      this.#skip(i, this.#stopped === 'cancelled' ? SkipReason.cancelled : SkipReason.failFast);
      return;
    }
    if (this.#settings.executor.prepare) {
      this.#phase[i] = Phase.preparing;
      const turn = this.#turns++;
      this.#prepares.add(() => this.#prepareJob(i, turn)).catch(this.#faulted);
      return;
    }
    this.#phase[i] = Phase.queued;
    this.#queue.add(() => this.#runJob(i)).catch(this.#faulted);
  }

  #contextOf(i: number, controller: AbortController, emit: Emit): JobContext {
    return {
      graph: this.#graph,
      runId: this.#settings.runId,
      emit,
      signal: controller.signal,
      killSignal: this.#settings.killSignal,
      graceMs: this.#settings.graceMs,
      needs: this.#needsOf(i),
    };
  }

  /** Aborts the job's signal once its timeout passes (from now); clear the returned timer. */
  #timeout(job: CompiledJob, controller: AbortController): ReturnType<typeof setTimeout> | undefined {
    const { timeoutMs } = job;
    if (timeoutMs === undefined) return undefined;
    return setTimeout(() => controller.abort(timeoutReason(`job ${job.name}`, timeoutMs)), timeoutMs);
  }

  /**
   * Has the executor prepare the job (under its timeout; a cancel of the run aborts it too), then
   * executes it at once when it needs no slot, else queues it for one. A job skipped meanwhile
   * (fail-fast, cancel) goes no further, and what it emitted is dropped.
   */
  async #prepareJob(i: number, turn: number): Promise<void> {
    let next: { readonly slot: boolean; readonly run: () => Promise<void> } | undefined;
    try {
      next = await this.#prepare(i);
    } finally {
      // Jobs queue for a slot in the order they became ready, whatever order their preparing ends in.
      this.#takeTurn(turn, next?.slot ? next.run : undefined);
    }
    if (next && !next.slot) await next.run();
  }

  /**
   * Queues for a slot, in turn, what `turn` holds (nothing: the job needs no slot or went no further),
   * once every earlier turn has been taken. An earlier job still preparing after ORDER_WAIT_MS gives up
   * its place (it queues when it is prepared), so that one slow preparing never holds the others back.
   */
  #takeTurn(turn: number, run: (() => Promise<void>) | undefined): void {
    if (turn < this.#nextTurn) {
      if (run) this.#queue.add(run).catch(this.#faulted);
      return;
    }
    this.#turnsEnded.set(turn, run);
    this.#flushTurns();
  }

  #flushTurns(): void {
    while (this.#turnsEnded.has(this.#nextTurn)) {
      const queued = this.#turnsEnded.get(this.#nextTurn);
      this.#turnsEnded.delete(this.#nextTurn++);
      if (queued) this.#queue.add(queued).catch(this.#faulted);
    }
    clearTimeout(this.#orderWait);
    this.#orderWait = undefined;
    if (this.#turnsEnded.size === 0) return;
    this.#orderWait = setTimeout(() => {
      this.#nextTurn = Math.min(...this.#turnsEnded.keys());
      this.#flushTurns();
    }, ORDER_WAIT_MS);
  }

  /** Prepares the job: how it goes on (with or without a slot), or nothing when it was skipped meanwhile. */
  async #prepare(
    i: number,
  ): Promise<{ readonly slot: boolean; readonly run: () => Promise<void> } | undefined> {
    if (this.#phase[i] !== Phase.preparing) return undefined;
    const job = this.#graph.jobs.get(this.#index.names[i]!)!;
    const controller = new AbortController();
    this.#running.set(i, controller);
    const outbox: Prepared['outbox'] = { held: [] };
    // Only the job's own events wait for its job.start; the run's and other jobs' (an executor may keep
    // the first context's emit for the whole run) go out at once.
    const emit: Emit = (event) => {
      if (outbox.held && 'job' in event && event.job === job.name) outbox.held.push(event);
      else this.#emit(event);
    };
    const context = this.#contextOf(i, controller, emit);
    const startedAt = performance.now();
    const timer = this.#timeout(job, controller);
    let settled: PreparedJob | undefined;
    let thrown: { error: unknown } | undefined;
    try {
      settled = await this.#settings.executor.prepare!(job, context);
      if (typeof settled !== 'object' || settled === null || typeof settled.slot !== 'boolean') {
        throw new Error(`the executor prepared no slot decision for job ${job.name}`);
      }
    } catch (error) {
      thrown = { error };
    } finally {
      clearTimeout(timer);
      this.#running.delete(i);
    }
    if ((this.#phase[i] as Phase) !== Phase.preparing) {
      outbox.held = undefined;
      return undefined;
    }
    const prepared: Prepared = {
      context,
      controller,
      outbox,
      prepareMs: performance.now() - startedAt,
      ...(thrown ? { thrown } : {}),
    };
    this.#phase[i] = Phase.queued;
    return { slot: !thrown && settled!.slot, run: () => this.#runJob(i, prepared) };
  }

  async #runJob(i: number, prepared?: Prepared): Promise<void> {
    // Skipped (fail-fast, cancel) while it waited for a slot.
    if (this.#phase[i] !== Phase.queued) {
      if (prepared) prepared.outbox.held = undefined;
      return;
    }
    this.#phase[i] = Phase.running;
    const name = this.#index.names[i]!;
    const job = this.#graph.jobs.get(name)!;
    const controller = prepared?.controller ?? new AbortController();
    this.#running.set(i, controller);
    const context = prepared?.context ?? this.#contextOf(i, controller, this.#emit);

    this.#emit({ type: 'job.start', job: name, image: job.image, steps: job.steps.map((s) => s.name) });
    if (prepared) {
      const held = prepared.outbox.held ?? [];
      prepared.outbox.held = undefined;
      for (const event of held) this.#emit(event);
    }
    // A prepared job's time counts its preparing, not its wait for a slot.
    const startedAt = performance.now() - (prepared?.prepareMs ?? 0);
    const timer = this.#timeout(job, controller);
    let outcome: JobOutcome;
    try {
      if (prepared?.thrown) throw prepared.thrown.error;
      outcome = await this.#execute(job, context);
    } catch (error) {
      outcome = this.#outcomeOfThrow(name, error, controller.signal);
    } finally {
      clearTimeout(timer);
      this.#running.delete(i);
    }
    const durationMs = Math.round(performance.now() - startedAt);
    this.#end(i, outcome, durationMs, reasonOf(outcome, controller.signal));
  }

  /**
   * The outcomes of the jobs job `i` needs (all passed, or it would not run, unless it is an `always()`
   * job), by name.
   */
  #needsOf(i: number): ReadonlyMap<string, JobOutcome> {
    return new Map(this.#index.needs[i]!.map((j) => [this.#index.names[j]!, this.#outcomes[j]!]));
  }

  /** Calls the executor; an async function, so that a synchronous throw arrives as a rejection. */
  async #execute(job: CompiledJob, context: JobContext): Promise<JobOutcome> {
    const outcome = await this.#settings.executor.execute(job, context);
    if (typeof outcome !== 'object' || outcome === null || typeof outcome.status !== 'string') {
      throw new Error(`the executor returned no outcome for job ${job.name}`);
    }
    return outcome;
  }

  /**
   * What a job ends with when the executor throws. Throwing the abort reason (or an AbortError or a
   * CancelledError) after the job's signal aborted is a way to stop, not a fault; anything else fails
   * the job and is reported as an `error` event.
   */
  #outcomeOfThrow(job: string, thrown: unknown, signal: AbortSignal): JobOutcome {
    const isStop =
      signal.aborted &&
      (thrown === signal.reason ||
        thrown instanceof CancelledError ||
        (thrown instanceof Error && thrown.name === 'AbortError'));
    if (isStop) return { status: cancelStatus(signal.reason), steps: [] };
    const error = thrown instanceof Error ? thrown : new Error(String(thrown));
    const code = isKilnError(error) ? error.code : 'E_INTERNAL';
    this.#emit({ type: 'error', job, code, message: error.message });
    return { status: 'failed', steps: [], error };
  }

  #end(i: number, outcome: JobOutcome, durationMs: number, reason: string | undefined): void {
    const name = this.#index.names[i]!;
    this.#record(i, outcome, {
      type: 'job.end',
      job: name,
      status: outcome.status,
      durationMs,
      ...(reason === undefined ? {} : { reason }),
    });
    this.#needEnded(i);
    if (
      !isSuccess(outcome.status) &&
      !this.#settings.keepGoing &&
      !this.#stopped &&
      isFailure(outcome.status) &&
      // An instance of a matrix job with `fail-fast: false` leaves the others going.
      this.#graph.jobs.get(name)?.matrix?.failFast !== false
    )
      this.#stop('fail-fast');
    this.#checkAllEnded();
  }

  /**
   * Tells the jobs that need job `i` that it has ended: one whose needs are now all met is queued, one
   * that needed it to pass is skipped, and so on down (iteratively: a chain may be long). An `always()`
   * job counts a need as met whatever its status.
   */
  #needEnded(i: number): void {
    const stack = [i];
    while (stack.length > 0) {
      const j = stack.pop()!;
      const status = this.#outcomes[j]!.status;
      for (const d of this.#index.dependants[j]!) {
        if (this.#phase[d] !== Phase.waiting) continue;
        if (isSuccess(status) || this.#always(d)) {
          this.#unmet[d]! -= 1;
          if (this.#unmet[d] === 0) this.#enqueue(d);
          // Skipped there when the run has stopped: its dependants learn of it too.
          if ((this.#phase[d] as Phase) === Phase.ended) stack.push(d);
        } else {
          this.#skip(d, SkipReason.needs(this.#index.names[j]!, status));
          stack.push(d);
        }
      }
    }
  }

  /**
   * No job starts any more; every job not yet started is skipped, in graph order, except, after a
   * failure (not a cancel), `always()` jobs, which still run once their needs have ended.
   */
  #stop(why: 'fail-fast' | 'cancelled'): void {
    this.#stopped = why;
    const reason = why === 'cancelled' ? SkipReason.cancelled : SkipReason.failFast;
    const skipped: number[] = [];
    this.#phase.forEach((phase, i) => {
      if (phase !== Phase.waiting && phase !== Phase.preparing && phase !== Phase.queued) return;
      if (why === 'fail-fast' && this.#always(i)) return;
      this.#skip(i, reason);
      skipped.push(i);
    });
    // Only `always()` jobs can still be waiting: they count these as ended.
    for (const i of skipped) this.#needEnded(i);
  }

  #cancel(signalReason: unknown): void {
    const reason = toCancelReason(signalReason);
    this.#stop('cancelled');
    for (const controller of this.#running.values()) controller.abort(reason);
    this.#checkAllEnded();
  }

  #skip(i: number, reason: string): void {
    this.#record(i, SKIPPED, { type: 'job.end', job: this.#index.names[i]!, status: 'skipped', reason });
  }

  #record(i: number, outcome: JobOutcome, event: EventInput): void {
    this.#phase[i] = Phase.ended;
    this.#outcomes[i] = outcome;
    this.#ended += 1;
    this.#emit(event);
  }

  #checkAllEnded(): void {
    if (this.#ended === this.#index.names.length) this.#allEnded();
  }
}

/** Why a job that ran ended as it did, when that is not a step's exit code. */
function reasonOf(outcome: JobOutcome, signal: AbortSignal): string | undefined {
  if (outcome.error) return outcome.error.message;
  if ((outcome.status === 'timed-out' || outcome.status === 'cancelled') && signal.aborted) {
    return toCancelReason(signal.reason).message;
  }
  return undefined;
}
