/**
 * The reasons an AbortSignal carries through a run: always a CancelReason, so that whoever sees an
 * aborted signal can tell an interrupt from a timeout and has a message to show; and the one place where
 * a cancellation becomes a status.
 */
import type { Status } from '../events.js';
import { formatDuration } from '../format-duration.js';
import type { CancelReason } from './types.js';

const KINDS: ReadonlySet<string> = new Set<CancelReason['kind']>(['interrupt', 'timeout', 'fail-fast']);

/** The message used when a run's signal is aborted without a CancelReason. */
export const DEFAULT_CANCEL_MESSAGE = 'run cancelled';

export function isCancelReason(value: unknown): value is CancelReason {
  if (typeof value !== 'object' || value === null) return false;
  const { kind, message } = value as { kind?: unknown; message?: unknown };
  return typeof kind === 'string' && KINDS.has(kind) && typeof message === 'string';
}

/**
 * A signal's `reason` as a CancelReason. A CancelReason is kept as it is; anything else (a bare
 * `abort()`, a string, an Error) counts as an interrupt.
 */
export function toCancelReason(reason: unknown): CancelReason {
  if (isCancelReason(reason)) return reason;
  if (typeof reason === 'string' && reason !== '') return { kind: 'interrupt', message: reason };
  if (reason instanceof Error && reason.name !== 'AbortError' && reason.message !== '') {
    return { kind: 'interrupt', message: reason.message };
  }
  return { kind: 'interrupt', message: DEFAULT_CANCEL_MESSAGE };
}

/**
 * The status of a job or step stopped by an aborted signal with this reason: `timed-out` for a timeout,
 * `cancelled` for anything else.
 */
export function cancelStatus(reason: unknown): Extract<Status, 'cancelled' | 'timed-out'> {
  return toCancelReason(reason).kind === 'timeout' ? 'timed-out' : 'cancelled';
}

/** The reason a signal aborts with when a `timeout` passes: `subject` is what timed out (`job build`). */
export function timeoutReason(subject: string, timeoutMs: number): CancelReason {
  return { kind: 'timeout', message: `${subject} timed out after ${formatDuration(timeoutMs)}` };
}
