/**
 * Durations for people, one way everywhere: the live view, plain lines, the summary and the messages
 * that name a duration (`job build timed out after 1m30s`).
 */

/**
 * `35ms` below a tenth of a second; then tenths, rounded down so that a running clock never runs ahead:
 * `0.3s`, `12.3s`; then `2m05s` below an hour and `1h02m` beyond. `-` for what is not a duration
 * (negative, NaN, infinite). Every form reads back with the step file's parseDuration.
 * Not pretty-ms: it writes `1m 5s` and `1h 2m 5s`, which neither line up in a column nor read back
 * as a duration.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 100) return `${Math.floor(ms)}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const totalSeconds = Math.floor(ms / 1000);
  if (totalSeconds < 3600) {
    return `${Math.floor(totalSeconds / 60)}m${String(totalSeconds % 60).padStart(2, '0')}s`;
  }
  const totalMinutes = Math.floor(totalSeconds / 60);
  return `${Math.floor(totalMinutes / 60)}h${String(totalMinutes % 60).padStart(2, '0')}m`;
}
