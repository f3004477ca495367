/**
 * Summaries of repeated measurements (median, percentiles, min and max) and how the benchmark tables
 * write numbers and ratios.
 */

export interface Summary {
  /** How many samples. */
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** 10th and 90th percentiles (linear interpolation between the closest ranks). */
  readonly p10: number;
  readonly p90: number;
}

/** The q-quantile (0..1) of the values, interpolating linearly between the closest ranks. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(Math.max(q, 0), 1) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/** The median; the mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    median: median(values),
    min: values.length === 0 ? NaN : Math.min(...values),
    max: values.length === 0 ? NaN : Math.max(...values),
    p10: percentile(values, 0.1),
    p90: percentile(values, 0.9),
  };
}

/** Element-wise `a[i] / b[i]` of two series measured in the same repetitions (interleaved pairs). */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.min(a.length, b.length);
  return Array.from({ length: n }, (_, i) => a[i]! / b[i]!);
}

/** A number with about three significant digits: `0.0123`, `1.23`, `12.3`, `123`, `1234`. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(2);
}

/** A ratio as the tables print it: `1.07x`. */
export function formatRatio(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}x`;
}

/** The spread of a summary: `min–max` (with few samples the percentiles say no more than the extremes). */
export function formatSpread(summary: Summary, format: (value: number) => string = formatNumber): string {
  if (summary.n === 0) return 'n/a';
  return `${format(summary.min)}–${format(summary.max)}`;
}

/** A ratio's median and, from paired repetitions, its range: `1.07x (1.02–1.11)`. */
export function formatRatioWithRange(ratio: number, paired: readonly number[]): string {
  if (paired.length < 2) return formatRatio(ratio);
  const s = summarize(paired);
  return `${formatRatio(ratio)} (${formatRatio(s.min)}–${formatRatio(s.max)})`;
}
