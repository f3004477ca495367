/** The longest wait a step file may ask for, in one place for the compiler's durations. */
import { parseDuration } from '../definition/durations.js';

/**
 * The longest timeout, in ms: 2^31 - 1, about 24.8 days (596h31m23s), the most a Node.js timer can
 * wait; a longer one would fire at once.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A duration (see parseDuration) in ms; throws a plain Error when it is none or longer than MAX_TIMEOUT_MS. */
export function parseWait(value: string | number): number {
  const ms = parseDuration(value);
  if (ms > MAX_TIMEOUT_MS) throw new Error('longer than the most kiln can wait, 596h31m23s');
  return ms;
}
