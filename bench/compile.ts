/**
 * How long compiling takes, and how much heap the graph holds, for definitions of N jobs (2 steps and
 * 1 bind mount each), shaped as a chain (each job needs the one before) or a fan-in (the last job
 * needs all the others). Also times loading the same definition from YAML text (parse, schema
 * validation, conversion with source positions).
 *
 * Run alone: `node dist/bench/compile.js` prints a table for 1k, 10k and 100k jobs.
 */
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadDefinitionText } from '../src/definition/loader.js';
import type { Definition, JobSpec } from '../src/definition/types.js';
import { compile } from '../src/graph/index.js';

export type BenchShape = 'chain' | 'fan-in';

export interface CompileBenchRow {
  readonly jobs: number;
  readonly shape: BenchShape;
  /** Compile time in milliseconds: the median of 3 runs up to 10k jobs, a single run above. */
  readonly ms: number;
  /** Heap growth in MiB while the compiled graph is held (after a garbage collection when available). */
  readonly heapMB: number;
  /** Time to load and validate the same definition from YAML text, in milliseconds (one run). */
  readonly loadMs: number;
}

const IMAGE = 'kiln-fixture/busybox:latest';
const PROJECT_DIR = '/bench/project';

/** Compile definitions of each size; `shape` defaults to `chain`. */
export async function benchCompile(sizes: number[], shape: BenchShape = 'chain'): Promise<CompileBenchRow[]> {
  const gc = exposeGc();
  const rows: CompileBenchRow[] = [];
  for (const jobs of sizes) {
    const definition = makeDefinition(jobs, shape);
    const runs = jobs <= 10_000 ? 3 : 1;
    const times: number[] = [];
    let heapMB = 0;
    for (let run = 0; run < runs; run++) {
      gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      const started = performance.now();
      const graph = compile(definition);
      times.push(performance.now() - started);
      gc?.();
      heapMB = Math.max(heapMB, (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20);
      if (graph.order.length !== jobs) throw new Error(`compiled ${graph.order.length} of ${jobs} jobs`);
    }

    const text = makeYaml(jobs, shape);
    gc?.();
    const loadStarted = performance.now();
    loadDefinitionText(text, `${PROJECT_DIR}/kiln.yaml`);
    const loadMs = performance.now() - loadStarted;

    rows.push({ jobs, shape, ms: median(times), heapMB, loadMs });
    await new Promise((resolve) => setImmediate(resolve));
  }
  return rows;
}

function jobName(index: number): string {
  return `job-${index}`;
}

function needsOf(index: number, jobs: number, shape: BenchShape): string[] {
  if (shape === 'chain') return index === 0 ? [] : [jobName(index - 1)];
  if (index < jobs - 1) return [];
  return Array.from({ length: jobs - 1 }, (_, i) => jobName(i));
}

function makeDefinition(jobs: number, shape: BenchShape): Definition {
  const specs: Record<string, JobSpec> = {};
  for (let i = 0; i < jobs; i++) {
    specs[jobName(i)] = {
      needs: needsOf(i, jobs, shape),
      mounts: [{ type: 'bind', source: '.', target: '/src', readonly: true }],
      steps: [
        { name: 'build', run: 'make -j2' },
        { name: 'test', run: ['make', 'test'], timeout: '10m' },
      ],
    };
  }
  return { version: 1, projectDir: PROJECT_DIR, defaults: { image: IMAGE }, jobs: specs };
}

function makeYaml(jobs: number, shape: BenchShape): string {
  const lines = ['version: 1', 'defaults:', `  image: ${IMAGE}`, 'jobs:'];
  for (let i = 0; i < jobs; i++) {
    const needs = needsOf(i, jobs, shape);
    lines.push(`  ${jobName(i)}:`);
    if (needs.length > 0) lines.push(`    needs: [${needs.join(', ')}]`);
    lines.push(
      '    mounts:',
      '      - { type: bind, source: ., target: /src, readonly: true }',
      '    steps:',
      '      - { name: build, run: make -j2 }',
      '      - { name: test, run: [make, test], timeout: 10m }',
    );
  }
  return lines.join('\n') + '\n';
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** `global.gc`, made available without a command-line flag so that heap figures are steadier. */
function exposeGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

export function formatCompileTable(rows: readonly CompileBenchRow[]): string {
  const header = ['jobs', 'shape', 'compile ms', 'heap MiB', 'load+validate ms'];
  const body = rows.map((row) => [
    String(row.jobs),
    row.shape,
    row.ms.toFixed(1),
    row.heapMB.toFixed(1),
    row.loadMs.toFixed(1),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...body.map((cells) => cells[column]!.length)),
  );
  return [header, ...body]
    .map((cells) => cells.map((cell, i) => cell.padStart(widths[i]!)).join('  '))
    .join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizes = [1_000, 10_000, 100_000];
  const rows = [...(await benchCompile(sizes, 'chain')), ...(await benchCompile(sizes, 'fan-in'))];
  process.stdout.write(formatCompileTable(rows) + '\n');
}
