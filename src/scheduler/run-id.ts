/**
 * Run ids: short, unique enough for one machine, and sortable by when the run started.
 */
import { randomBytes } from 'node:crypto';

/**
 * A new run id: the UTC start time to the second and four random hex digits, e.g. `20261123-093012-a1b2`.
 * Ids of runs started in different seconds sort in start order.
 */
export function newRunId(now: Date = new Date()): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const date = `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}`;
  const time = `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  return `${date}-${time}-${randomBytes(2).toString('hex')}`;
}
