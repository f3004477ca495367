/**
 * What a benchmark case hands back (measurements, ratios against the baselines, goals) and how it is
 * written as markdown.
 */
import {
  formatNumber,
  formatRatio,
  formatRatioWithRange,
  formatSpread,
  median,
  pairedRatios,
  summarize,
  type Summary,
} from './stats.js';
import { renderTable, type Column } from './table.js';

export interface Metric {
  /** What was measured, as a reader of the table understands it. */
  readonly name: string;
  /** `ms`, `MB/s`, `MiB`... */
  readonly unit: string;
  /** One sample per repetition, in the order the repetitions ran. */
  readonly samples: readonly number[];
  readonly summary: Summary;
}

export interface Ratio {
  readonly name: string;
  /** The ratio of the two medians. */
  readonly value: number;
  /** The same ratio per repetition (kiln and baseline ran side by side in each). */
  readonly paired: readonly number[];
  /** The goal in words, e.g. `≤ 1.10x`. */
  readonly goal?: string;
  readonly met?: boolean;
}

export interface ExtraTable {
  readonly columns: readonly Column[];
  readonly rows: readonly (readonly string[])[];
}

export interface CaseResult {
  readonly id: string;
  readonly title: string;
  /** One or two sentences: what ran, sizes, repetitions. */
  readonly setup: string;
  /** The parameters, for the JSON file. */
  readonly params: Readonly<Record<string, string | number | boolean>>;
  readonly metrics: readonly Metric[];
  readonly ratios: readonly Ratio[];
  readonly tables?: readonly ExtraTable[];
  /** Raw figures that are not samples (e.g. compile rows), for the JSON file only. */
  readonly data?: unknown;
  /** Observations worth a line under the table (why a number is what it is). */
  readonly notes: readonly string[];
  /** Set when the case could not finish; the other cases still ran. */
  readonly error?: string;
}

export function metric(name: string, unit: string, samples: readonly number[]): Metric {
  return { name, unit, samples: [...samples], summary: summarize(samples) };
}

export interface Goal {
  readonly text: string;
  readonly test: (ratio: number) => boolean;
}

/** `numerator / denominator` on medians, with the per-repetition ratios and an optional goal. */
export function ratio(name: string, numerator: Metric, denominator: Metric, goal?: Goal): Ratio {
  const value = median(numerator.samples) / median(denominator.samples);
  return {
    name,
    value,
    paired: pairedRatios(numerator.samples, denominator.samples),
    ...(goal ? { goal: goal.text, met: goal.test(value) } : {}),
  };
}

export const atMost = (limit: number): Goal => ({ text: `≤ ${formatRatio(limit)}`, test: (r) => r <= limit });
export const atLeast = (limit: number): Goal => ({
  text: `≥ ${formatRatio(limit)}`,
  test: (r) => r >= limit,
});

function goalCell(r: Ratio): string {
  if (r.goal === undefined) return '';
  return `${r.goal} ${r.met ? 'met' : 'missed'}`;
}

export function renderMetrics(metrics: readonly Metric[]): string {
  return renderTable(
    [
      { title: 'measure' },
      { title: 'median', align: 'right' },
      { title: 'min–max', align: 'right' },
      { title: 'unit' },
    ],
    metrics.map((m) => [m.name, formatNumber(m.summary.median), formatSpread(m.summary), m.unit]),
  );
}

export function renderRatios(ratios: readonly Ratio[], caseTitle?: (r: Ratio) => string): string {
  const columns: Column[] = [
    ...(caseTitle ? [{ title: 'case' }] : []),
    { title: 'ratio' },
    { title: 'median (min–max per repetition)', align: 'right' },
    { title: 'goal' },
  ];
  return renderTable(
    columns,
    ratios.map((r) => [
      ...(caseTitle ? [caseTitle(r)] : []),
      r.name,
      formatRatioWithRange(r.value, r.paired),
      goalCell(r),
    ]),
  );
}

/** One case as markdown: heading, setup, measurements, ratios, extra tables, notes. */
export function renderCase(result: CaseResult): string {
  const parts = [`### ${result.title}`, result.setup];
  if (result.error) parts.push(`**Did not finish:** ${result.error}`);
  if (result.metrics.length > 0) parts.push(renderMetrics(result.metrics));
  if (result.ratios.length > 0) parts.push(renderRatios(result.ratios));
  for (const table of result.tables ?? []) parts.push(renderTable(table.columns, table.rows));
  if (result.notes.length > 0) parts.push(result.notes.map((n) => `- ${n}`).join('\n'));
  return parts.join('\n\n');
}

/** Every ratio of every case in one table, the headline of a run. */
export function renderSummary(results: readonly CaseResult[]): string {
  const owner = new Map<Ratio, string>();
  for (const result of results) for (const r of result.ratios) owner.set(r, result.title);
  return renderRatios(
    results.flatMap((r) => r.ratios),
    (r) => owner.get(r) ?? '',
  );
}
