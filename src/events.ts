/**
 * The events of a run (docs/architecture.md, Contracts). The core only emits them; reporters turn them into a terminal view
 * or JSON lines. Every event has `type` and `time` (ISO 8601); job and step events carry `job` and `step`.
 */

/** `cached`: the job's result was found in the job cache; nothing ran. */
export type Status = 'passed' | 'failed' | 'skipped' | 'cancelled' | 'timed-out' | 'cached';

interface Base {
  /** ISO 8601 time the event happened. */
  readonly time: string;
}

export interface RunStartEvent extends Base {
  readonly type: 'run.start';
  readonly runId: string;
  readonly project: string;
  readonly jobs: readonly string[];
}
export interface JobStartEvent extends Base {
  readonly type: 'job.start';
  readonly job: string;
  readonly image: string;
  /** The job's step names, in order: what a reporter that was given no plan learns the steps from. */
  readonly steps?: readonly string[];
}
/**
 * What the job cache made of a job: once per job that is handled, after `job.start` and before any mount,
 * container or step. `hit`: the job is not run (its `job.end` says `cached`); `miss`: it runs, and
 * `reasons` say why (what changed since the last key it had on this machine); `disabled`: it runs and is
 * not looked up, `reasons` say why (a secret, `cache: false`, `--no-cache`...).
 */
export interface JobCacheEvent extends Base {
  readonly type: 'job.cache';
  readonly job: string;
  /** The job's key (`sha256:...`); absent when caching is disabled for the job. */
  readonly key?: string;
  readonly result: 'hit' | 'miss' | 'disabled';
  readonly reasons: readonly string[];
  /** On a hit: where the result came from. */
  readonly source?: 'local' | 'remote';
}
export interface MountPrepareEvent extends Base {
  readonly type: 'mount.prepare';
  readonly job: string;
  readonly step?: string;
  readonly mount: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  readonly target: string;
  /** The host path (bind), volume name (cache) or secret / agent id; never a secret's value. */
  readonly source?: string;
  /**
   * A bind on a remote engine: the bytes of its content sent to the engine for this job (0 when the
   * engine held that content already, so an unchanged source costs nothing). Absent on a local engine.
   */
  readonly uploadedBytes?: number;
}
/** A locked cache is held by someone else: kiln waits and says who holds it. */
export interface MountWaitEvent extends Base {
  readonly type: 'mount.wait';
  readonly job: string;
  readonly cache: string;
  readonly holder: string;
  readonly heldForMs: number;
  /**
   * The lock file (on an engine other hosts share, `the container NAME`: a lock container): if no kiln
   * process holds it (a stale lock), removing it frees the cache.
   */
  readonly lock?: string;
}
export interface ContainerEvent extends Base {
  readonly type: 'container.create' | 'container.reuse' | 'container.recreate';
  readonly job: string;
  readonly container: string;
  readonly name?: string;
  /** Why a reused container was recreated. */
  readonly reason?: string;
}
/** A service of the job (see `services:`) was started, beside the job's container, on the job's network. */
export interface ServiceStartEvent extends Base {
  readonly type: 'service.start';
  readonly job: string;
  readonly service: string;
  readonly image: string;
  /** The service's container (short ID). */
  readonly container: string;
}
/** The service is ready (its health check passed, its ports answer, or it runs): the steps may start. */
export interface ServiceReadyEvent extends Base {
  readonly type: 'service.ready';
  readonly job: string;
  readonly service: string;
  /** From its start until it was ready. */
  readonly durationMs: number;
}
/** What the service printed, as it came. */
export interface ServiceOutputEvent extends Base {
  readonly type: 'service.output';
  readonly job: string;
  readonly service: string;
  readonly stream: 'stdout' | 'stderr';
  /** UTF-8 text. */
  readonly data: string;
}
/**
 * The service is gone: `stopped` by kiln once the job was done, or `failed` (it exited on its own or never
 * became ready, with its exit code when it has one).
 */
export interface ServiceEndEvent extends Base {
  readonly type: 'service.end';
  readonly job: string;
  readonly service: string;
  readonly status: 'stopped' | 'failed';
  readonly exitCode?: number;
  readonly durationMs: number;
}
export interface StepStartEvent extends Base {
  readonly type: 'step.start';
  readonly job: string;
  readonly step: string;
  readonly index: number;
  /** The command as the user wrote it. */
  readonly command: string;
  /** For a step with `retry`: which attempt this is (1-based), and the most it may take. */
  readonly attempt?: number;
  readonly attempts?: number;
}
export interface StepOutputEvent extends Base {
  readonly type: 'step.output';
  readonly job: string;
  readonly step: string;
  readonly stream: 'stdout' | 'stderr';
  /**
   * The bytes, secrets masked: UTF-8 text, or with `encoding: 'base64'` the exact bytes of a chunk that
   * is not valid UTF-8 (binary output passes byte for byte). `stepOutputBytes` gives the bytes either way.
   */
  readonly data: string;
  readonly encoding?: 'base64';
}
export interface StepEndEvent extends Base {
  readonly type: 'step.end';
  readonly job: string;
  readonly step: string;
  readonly index: number;
  readonly exitCode: number | null;
  readonly status: Status;
  readonly durationMs: number;
  readonly allowFailure?: boolean;
  /** For a step with `retry`: which attempt ended (1-based), and the most it may take. */
  readonly attempt?: number;
  readonly attempts?: number;
}
export interface ReleaseEvent extends Base {
  readonly type: 'release';
  readonly job?: string;
  /** What kind of resource: container, volume, lock, secret, ssh, ... */
  readonly resource: string;
  readonly id: string;
  /** Set when the release failed; the other releases still ran. */
  readonly error?: string;
}
export interface JobEndEvent extends Base {
  readonly type: 'job.end';
  readonly job: string;
  readonly status: Status;
  readonly durationMs?: number;
  /** Why the job was skipped, cancelled or failed outside a step. */
  readonly reason?: string;
}
export interface RunEndEvent extends Base {
  readonly type: 'run.end';
  readonly status: Status;
  readonly exitCode: number;
  readonly durationMs: number;
}
/** Something a user should know that is not a failure (a recreated container, an old runc). */
export interface WarningEvent extends Base {
  readonly type: 'warning';
  readonly job?: string;
  readonly message: string;
}
/** A fault outside any step: the job could not be run at all. */
export interface ErrorEvent extends Base {
  readonly type: 'error';
  readonly job?: string;
  readonly code: string;
  readonly message: string;
}

/**
 * An interactive shell is opening in a job's container (`kiln run --debug`: after `step` failed with
 * `exitCode`, the container kept as the step left it; `kiln shell`: no step, a fresh container). The
 * terminal is the shell's until it exits; a view prints a banner saying how to leave.
 */
export interface DebugShellEvent extends Base {
  readonly type: 'debug.shell';
  readonly job: string;
  readonly step?: string;
  readonly exitCode?: number | null;
  /** The step's status when it is not `failed` (`timed-out`). */
  readonly status?: Status;
  /** Whether the shell sees the step's (or the job's) secrets. */
  readonly secrets: boolean;
}

export type KilnEvent =
  | RunStartEvent
  | JobStartEvent
  | JobCacheEvent
  | MountPrepareEvent
  | MountWaitEvent
  | ContainerEvent
  | ServiceStartEvent
  | ServiceReadyEvent
  | ServiceOutputEvent
  | ServiceEndEvent
  | StepStartEvent
  | StepOutputEvent
  | StepEndEvent
  | ReleaseEvent
  | JobEndEvent
  | RunEndEvent
  | WarningEvent
  | ErrorEvent
  | DebugShellEvent;

export type KilnEventType = KilnEvent['type'];

/** An event before its time is stamped. */
export type EventInput = KilnEvent extends infer E ? (E extends KilnEvent ? Omit<E, 'time'> : never) : never;

export type EventListener = (event: KilnEvent) => void;

/** Stamps and emits events. */
export type Emit = (event: EventInput) => void;

export function createEmitter(listener: EventListener): Emit {
  return (event) => listener({ ...event, time: new Date().toISOString() } as KilnEvent);
}

/** The exact bytes of a step.output event. */
export function stepOutputBytes(event: StepOutputEvent): Buffer {
  return Buffer.from(event.data, event.encoding === 'base64' ? 'base64' : 'utf8');
}

/** A step.output event's data as text for display (invalid UTF-8 shown as U+FFFD). */
export function stepOutputText(event: StepOutputEvent): string {
  return event.encoding === 'base64' ? Buffer.from(event.data, 'base64').toString('utf8') : event.data;
}
