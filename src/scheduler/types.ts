/**
 * The seam between the scheduler and what runs one job. The scheduler owns ordering, concurrency,
 * fail-fast / keep-going and cancellation; a JobExecutor runs one compiled job to its end. Nothing here
 * knows how a job runs (Docker, or anything else): results flow from job to job as JobOutcomes.
 */
import type { Emit, Status } from '../events.js';
import type { BuildGraph, CompiledJob } from '../graph/types.js';

export interface JobContext {
  readonly graph: BuildGraph;
  readonly runId: string;
  readonly emit: Emit;
  /**
   * Aborted when the run is cancelled or the job's timeout passes; `signal.reason` is a CancelReason.
   * The executor then asks running steps to stop (SIGTERM), waits `graceMs`, then kills.
   */
  readonly signal: AbortSignal;
  /** Aborted on a second interrupt: skip what is left of the grace period and kill now. */
  readonly killSignal: AbortSignal;
  /** The grace period between SIGTERM and SIGKILL, in ms. */
  readonly graceMs: number;
  /**
   * The outcomes of the jobs this job needs, by name: each passed, and may hand on its outputs (for a
   * job with `if: always()`: each ended, in any status).
   */
  readonly needs: ReadonlyMap<string, JobOutcome>;
}

export interface StepResult {
  readonly name: string;
  readonly status: Status;
  readonly exitCode: number | null;
  readonly durationMs: number;
  readonly allowFailure: boolean;
  /** For a step with `retry`: the attempt this result is of (1-based), and the most it could take. */
  readonly attempt?: number;
  readonly attempts?: number;
}

/** Where one output of a job is: a sealed volume and the digest of its content. */
export interface JobOutputRef {
  /** The output's path in the job's container, as the job declares it. */
  readonly path: string;
  /** The volume that holds it. */
  readonly volume: string;
  /** The content digest (`sha256:...`). */
  readonly digest: string;
}

export interface JobOutcome {
  readonly status: Status;
  readonly steps: readonly StepResult[];
  /** Set when the job failed outside a step (a mount, the image, the engine). */
  readonly error?: Error;
  /** The job's outputs by path, once sealed (jobs that declare outputs and passed). */
  readonly outputs?: ReadonlyMap<string, JobOutputRef>;
}

/** What {@link JobExecutor.prepare} found out about a job. */
export interface PreparedJob {
  /**
   * Whether the job's `execute` needs a concurrency slot (it runs something). False for a job whose
   * outcome is already known (a cache hit): it is executed at once and holds no slot.
   */
  readonly slot: boolean;
}

export interface JobExecutor {
  execute(job: CompiledJob, context: JobContext): Promise<JobOutcome>;
  /**
   * Optional: the work for a job that needs no concurrency slot (planning it, deciding its cache key and
   * looking it up: I/O bound), done once its needs have ended and before it waits for a slot; `execute`
   * follows with the same context. The events it emits are held back until the job's `job.start`. A
   * throw fails the job as a throw of `execute` does. Without it, everything happens in `execute`.
   */
  prepare?(job: CompiledJob, context: JobContext): Promise<PreparedJob>;
  /**
   * Optional: called once every job has ended, before `run.end`, for what the executor still owes the
   * run (uploads to a shared cache). A throw is reported as a warning, never a failure of the run.
   */
  finish?(runId: string): Promise<void>;
}

/** Why a signal was aborted. */
export interface CancelReason {
  readonly kind: 'interrupt' | 'timeout' | 'fail-fast';
  readonly message: string;
}

export interface RunResult {
  readonly runId: string;
  readonly status: Status;
  readonly exitCode: number;
  readonly durationMs: number;
  readonly jobs: ReadonlyMap<string, JobOutcome>;
}
