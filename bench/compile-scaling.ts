/**
 * Compile scaling: compile time, heap and YAML load time for chains of 1k and 10k jobs (and 100k in
 * the full run), from bench/compile.ts, with how the time per job grows between sizes (about 1x when
 * compiling is linear).
 */
import { benchCompile, type CompileBenchRow } from './compile.js';
import type { BenchContext } from './context.js';
import type { CaseResult, Ratio } from './report.js';
import { formatNumber, formatRatio } from './stats.js';

/** Time per job may grow this much from one size to the next (10x more jobs) and still read as linear. */
const LINEAR_LIMIT = 1.5;

export async function benchCompileScaling(context: BenchContext): Promise<CaseResult> {
  const sizes = context.quick ? [1_000, 10_000] : [1_000, 10_000, 100_000];
  context.log(`compile: chains of ${sizes.join(', ')} jobs`);
  // A warm-up at the smallest size, so that the first row does not carry the JIT's start.
  await benchCompile([sizes[0]!], 'chain');
  const rows = await benchCompile(sizes, 'chain');

  const ratios: Ratio[] = [];
  const growth = (row: CompileBenchRow, previous: CompileBenchRow | undefined) => {
    if (!previous) return '';
    return formatRatio(row.ms / row.jobs / (previous.ms / previous.jobs));
  };
  rows.forEach((row, i) => {
    const previous = rows[i - 1];
    if (!previous) return;
    for (const [what, now, before] of [
      ['compile', row.ms, previous.ms],
      ['load+validate', row.loadMs, previous.loadMs],
    ] as const) {
      const value = now / row.jobs / (before / previous.jobs);
      ratios.push({
        name: `${what} time per job, ${row.jobs} / ${previous.jobs} jobs`,
        value,
        paired: [],
        goal: `linear: ≤ ${formatRatio(LINEAR_LIMIT)}`,
        met: value <= LINEAR_LIMIT,
      });
    }
  });

  const linear = ratios.filter((r) => r.name.startsWith('compile')).every((r) => r.met);
  return {
    id: 'compile',
    title: 'Compile scaling',
    setup:
      `Definitions of N jobs in a chain (each needs the one before), 2 steps and 1 bind mount each; ` +
      `compile time is the median of 3 runs up to 10k jobs, one run above; load+validate parses the same as YAML.`,
    params: { sizes: sizes.join(','), shape: 'chain' },
    metrics: [],
    ratios,
    tables: [
      {
        columns: [
          { title: 'jobs', align: 'right' },
          { title: 'compile ms', align: 'right' },
          { title: 'µs per job', align: 'right' },
          { title: 'growth per job', align: 'right' },
          { title: 'heap MiB', align: 'right' },
          { title: 'load+validate ms', align: 'right' },
        ],
        rows: rows.map((row, i) => [
          String(row.jobs),
          formatNumber(row.ms),
          formatNumber((row.ms * 1000) / row.jobs),
          growth(row, rows[i - 1]),
          formatNumber(row.heapMB),
          formatNumber(row.loadMs),
        ]),
      },
    ],
    data: rows,
    notes: [
      linear
        ? 'Compile time grows linearly with the number of jobs (time per job stays within 1.5x across 10x sizes).'
        : 'Compile time per job grows by more than 1.5x between sizes: compiling is not linear here.',
    ],
  };
}
