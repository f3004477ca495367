/**
 * A run's status and exit code from the outcomes of its jobs (the CLI's exit codes, see errors.ts).
 */
import { ExitCode, isKilnError } from '../errors.js';
import type { Status } from '../events.js';
import type { JobOutcome } from './types.js';

export interface RunVerdict {
  readonly status: Status;
  readonly exitCode: number;
}

/** Statuses that let the jobs that need a job run: it passed, or its result was in the job cache. */
export function isSuccess(status: Status): boolean {
  return status === 'passed' || status === 'cached';
}

/** Statuses that fail a run (a job `cancelled` while the run was not counts as a failure too). */
export function isFailure(status: Status): boolean {
  return status === 'failed' || status === 'timed-out' || status === 'cancelled';
}

/**
 * - cancelled by the run's signal: `cancelled`, 130, whatever else happened;
 * - else every job passed (or was skipped without a failure): `passed`, 0;
 * - else `failed`, with exit code 3 when a job failed on an infrastructure fault (a KilnError with exit
 *   code 3, thrown by or returned from the executor), else 2 when one failed on a usage or definition
 *   fault (e.g. a MountError), else 1.
 */
export function runVerdict(outcomes: Iterable<JobOutcome>, cancelled: boolean): RunVerdict {
  if (cancelled) return { status: 'cancelled', exitCode: ExitCode.interrupted };
  let failed = false;
  let exitCode: number = ExitCode.stepFailed;
  for (const outcome of outcomes) {
    if (!isFailure(outcome.status)) continue;
    failed = true;
    const code = isKilnError(outcome.error) ? outcome.error.exitCode : undefined;
    if (code === ExitCode.infrastructure) exitCode = ExitCode.infrastructure;
    else if (code === ExitCode.usage && exitCode !== ExitCode.infrastructure) exitCode = ExitCode.usage;
  }
  return failed ? { status: 'failed', exitCode } : { status: 'passed', exitCode: ExitCode.passed };
}
