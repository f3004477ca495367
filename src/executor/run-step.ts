/**
 * One step in its job's container: its secrets written for it alone (and removed after it, LIFO), its
 * ssh agent announced, its command run under the step wrapper with the job's cancellation and its own
 * timeout, its output masked and told as `step.output`, and its end told as `step.end`.
 */
import type { Emit, Status } from '../events.js';
import { setTimeout as delay } from 'node:timers/promises';
import type { CompiledJob, CompiledRetry, CompiledStep } from '../graph/types.js';
import type { CompiledMask } from '../mounts/secret-masker.js';
import type { PreparedStepMounts } from '../mounts/types.js';
import type { OutputPressure } from '../output-pressure.js';
import { ReleaseStack } from '../release.js';
import type { JobContainer } from '../runtime/job-container.js';
import { cancelStatus, timeoutReason } from '../scheduler/cancel-reason.js';
import type { JobContext, StepResult } from '../scheduler/types.js';
import { OutputChannel } from './output-chunks.js';

export interface StepRun {
  readonly job: CompiledJob;
  readonly step: CompiledStep;
  readonly container: JobContainer;
  /** The step's secrets and ssh agents, acquired. */
  readonly mounts: PreparedStepMounts | undefined;
  /** Masks every secret of the run in the step's output. */
  readonly mask: CompiledMask;
  readonly context: JobContext;
  /** Step output is read from the engine only while nobody holds this. */
  readonly pressure?: OutputPressure;
  /**
   * The job was cancelled or timed out, and this `always()` step runs anyway: it stops on its own
   * timeout (default CLEANUP_TIMEOUT_MS) or a second interrupt (`context.killSignal`), not on the job's
   * signal, which has already aborted. Default false.
   */
  readonly cleanup?: boolean;
}

/** How long an `always()` step without a timeout may run after its job was cancelled: 30 s. */
const CLEANUP_TIMEOUT_MS = 30_000;

/**
 * Runs the step, and again while its `retry` says so: an attempt that failed (with one of the exit codes
 * of `retry.on`, when given; a timed-out attempt counts as failed) is followed by another after
 * `retry.delayMs`, up to `retry.attempts` in all. Each attempt has its own `step.start` and `step.end`
 * (with `attempt` and `attempts`), its own timeout and its own secrets. A cancel of the job (or, for a
 * cleanup step, a second interrupt) stops the retries. The result is the last attempt's.
 */
export async function runStep(run: StepRun): Promise<StepResult> {
  const { step, context } = run;
  const jobSignal = run.cleanup ? context.killSignal : context.signal;
  const retry = step.retry;
  for (let attempt = 1; ; attempt++) {
    const result = await runAttempt(run, attempt);
    if (retry === undefined || attempt >= retry.attempts || jobSignal.aborted) return result;
    if (!retriable(retry, result)) return result;
    if (retry.delayMs > 0 && !(await pause(retry.delayMs, jobSignal))) return result;
  }
}

/** Whether a failed attempt is one the step's `retry` runs again. */
function retriable(retry: CompiledRetry, result: StepResult): boolean {
  if (result.status !== 'failed' && result.status !== 'timed-out') return false;
  return retry.on === undefined || (result.exitCode !== null && retry.on.includes(result.exitCode));
}

/** Waits `ms`; false when `signal` aborts first. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** One attempt at the step (the only one without `retry`). */
async function runAttempt(run: StepRun, attempt: number): Promise<StepResult> {
  const { job, step, container, context } = run;
  const emit: Emit = context.emit;
  const base = { job: job.name, step: step.name };
  const tries = step.retry === undefined ? {} : { attempt, attempts: step.retry.attempts };
  const stepStack = new ReleaseStack({ emit, job: job.name });
  const started = Date.now();
  emit({ type: 'step.start', ...base, index: step.index, command: step.display, ...tries });

  const stop = run.cleanup
    ? stepSignal(job, step, context.killSignal, step.timeoutMs ?? CLEANUP_TIMEOUT_MS)
    : stepSignal(job, step, context.signal, step.timeoutMs);
  const output = new OutputChannel(run.mask, (stream, chunk) =>
    emit({ type: 'step.output', ...base, stream, ...chunk }),
  );
  let exitCode: number | null = null;
  let status: Status;
  try {
    const files = await writeSecrets(container, run.mounts, step, stepStack);
    const env: Record<string, string> = { ...step.env };
    for (const ssh of run.mounts?.ssh ?? []) env.SSH_AUTH_SOCK = ssh.target;
    const result = await container.runStep({
      argv: step.argv,
      env,
      envFromFiles: files.envFromFiles,
      removeWhenAbandoned: files.paths,
      workdir: step.workdir,
      ...(step.user ? { user: step.user } : {}),
      signal: stop.signal,
      killSignal: context.killSignal,
      graceMs: context.graceMs,
      onOutput: (stream, chunk) => output.push(stream, chunk),
      ...(run.pressure ? { pressure: run.pressure } : {}),
    });
    exitCode = result.exitCode;
    if (exitCode === 0) status = 'passed';
    else if (result.cancelled !== 'no') status = cancelStatus(stop.reason());
    else status = 'failed';
  } finally {
    stop.dispose();
    output.end();
    await stepStack.release();
  }
  const durationMs = Date.now() - started;
  emit({
    type: 'step.end',
    ...base,
    index: step.index,
    exitCode,
    status,
    durationMs,
    ...(step.allowFailure ? { allowFailure: true } : {}),
    ...tries,
  });
  return { name: step.name, status, exitCode, durationMs, allowFailure: step.allowFailure, ...tries };
}

/**
 * The step's signal: the job's, or its own timeout. `reason()` is why it stopped: the job's reason
 * when the job's signal aborted (whatever else happened), else the step's timeout.
 */
function stepSignal(
  job: CompiledJob,
  step: CompiledStep,
  jobSignal: AbortSignal,
  timeoutMs: number | undefined,
) {
  if (timeoutMs === undefined) {
    return { signal: jobSignal, reason: () => jobSignal.reason as unknown, dispose: () => {} };
  }
  // Not AbortSignal.timeout: its reason is a bare TimeoutError, and the step's reason must say what
  // timed out after how long (a CancelReason); the timer is cleared as soon as the step ends.
  const own = new AbortController();
  const subject = `step ${step.name} of job ${job.name}`;
  const timer = setTimeout(() => own.abort(timeoutReason(subject, timeoutMs)), timeoutMs);
  return {
    signal: AbortSignal.any([jobSignal, own.signal]),
    reason: (): unknown => (jobSignal.aborted ? jobSignal.reason : own.signal.reason),
    dispose: () => clearTimeout(timer),
  };
}

/**
 * Writes the step's secrets into the container, each release pushed on the step's stack: the env
 * variables the wrapper reads from their files, and every path to remove if kiln goes away.
 */
async function writeSecrets(
  container: JobContainer,
  mounts: PreparedStepMounts | undefined,
  step: CompiledStep,
  stack: ReleaseStack,
): Promise<{ envFromFiles: Record<string, string>; paths: string[] }> {
  const envFromFiles: Record<string, string> = {};
  const paths: string[] = [];
  const secrets = mounts?.secrets ?? [];
  for (const secret of secrets) {
    const written = await container.writeSecret(secret, step.index);
    stack.push('secret', secret.id, written.remove);
    if (secret.env) envFromFiles[secret.env] = written.path;
    paths.push(written.path);
    if (secret.target !== written.path) paths.push(secret.target);
  }
  return { envFromFiles, paths };
}
