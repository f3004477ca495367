/**
 * `npm run bench [-- --quick]`: kiln against the raw ways of doing the same work, as ratios. Each case
 * runs its kiln and baseline repetitions interleaved in this one process, after a warm-up. Prints a
 * markdown report (machine, engine, medians, spreads, ratios) and writes the same as JSON to
 * `bench/results/<timestamp>.json` and `bench/results/latest.json`. It never asserts a time.
 *
 * Options:
 *   --quick             smaller sizes and 3 repetitions (a few minutes on 2 cores)
 *   --only ID[,ID...]   run only these cases (per-step, graph-throughput, compile, output-throughput, mounts,
 *                       results-hashing, cache-buildkit, cache-noop-1000, cache-one-change, shared-cache,
 *                       remote-engine)
 *   --repetitions N     measured repetitions per variant (default 3 quick, 5 full)
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Docker from 'dockerode';
import { checkEngine, createEngine } from '../src/runtime/engine.js';
import { benchCacheBuildkit } from './cache-buildkit.js';
import { benchCacheNoop } from './cache-noop.js';
import { benchCacheOneChange } from './cache-one-change.js';
import { benchCompileScaling } from './compile-scaling.js';
import { cpuSince, markCpu } from './cpu.js';
import type { BenchCase, BenchContext } from './context.js';
import { benchGraphThroughput } from './graph-throughput.js';
import { REPO_ROOT } from './kiln-runs.js';
import { describeEngine, describeMachine, engineLine, machineLine } from './machine.js';
import { benchMounts } from './mounts.js';
import { benchOutputThroughput } from './output-throughput.js';
import { benchPerStep } from './per-step.js';
import { BENCH_IMAGE, removeBenchResources } from './raw-docker.js';
import { benchRemoteEngine } from './remote-engine.js';
import { benchSharedCache } from './shared-cache.js';
import { benchResultsHashing } from './results-hashing.js';
import { renderCase, renderSummary, type CaseResult } from './report.js';

const CASES: ReadonlyArray<{ readonly id: string; readonly title: string; readonly run: BenchCase }> = [
  { id: 'per-step', title: 'Per-step overhead', run: benchPerStep },
  { id: 'graph-throughput', title: 'Graph throughput', run: benchGraphThroughput },
  { id: 'compile', title: 'Compile scaling', run: benchCompileScaling },
  { id: 'output-throughput', title: 'Output throughput', run: benchOutputThroughput },
  { id: 'mounts', title: 'Mounts: prepare and release', run: benchMounts },
  { id: 'results-hashing', title: 'Job cache: hashing a bind source', run: benchResultsHashing },
  { id: 'cache-buildkit', title: 'Job cache: against BuildKit', run: benchCacheBuildkit },
  { id: 'cache-noop-1000', title: 'Job cache: unchanged rerun of 1,000 jobs', run: benchCacheNoop },
  { id: 'cache-one-change', title: 'Job cache: one changed file in 50 jobs', run: benchCacheOneChange },
  { id: 'shared-cache', title: 'Shared cache over HTTP', run: benchSharedCache },
  { id: 'remote-engine', title: 'Remote engine: the example over TLS', run: benchRemoteEngine },
];

const USAGE = `usage: npm run bench -- [--quick] [--only ${CASES.map((c) => c.id).join(',')}] [--repetitions N]`;

interface Arguments {
  readonly quick: boolean;
  readonly only: readonly string[];
  readonly repetitions: number;
}

function parseArguments(argv: readonly string[]): Arguments {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      repetitions: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const only = values.only
    ? values.only
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
  const unknown = only.filter((id) => !CASES.some((c) => c.id === id));
  if (unknown.length > 0) throw new Error(`unknown case ${unknown.join(', ')}; ${USAGE}`);
  const repetitions = values.repetitions === undefined ? (values.quick ? 3 : 5) : Number(values.repetitions);
  if (!Number.isInteger(repetitions) || repetitions < 1)
    throw new Error(`--repetitions must be a whole number ≥ 1`);
  return { quick: values.quick ?? false, only, repetitions };
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function main(): Promise<number> {
  const args = parseArguments(process.argv.slice(2));
  const started = new Date();
  const engine = createEngine();
  await checkEngine(engine);
  // The raw baselines talk to the same engine through their own client (dockerode reads DOCKER_HOST).
  const docker = new Docker();
  await docker
    .getImage(BENCH_IMAGE)
    .inspect()
    .catch(() => {
      throw new Error(`the image ${BENCH_IMAGE} is missing: run bash scripts/build-fixtures.sh`);
    });
  await removeBenchResources(docker, { orphans: true });

  const loadAtStart = loadavg()[0]!;
  const idleMark = markCpu();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const busyBefore = cpuSince(idleMark).machineBusy * 100;
  if (busyBefore > 20)
    log(`the machine is ${busyBefore.toFixed(0)}% busy before the start: expect noisy figures`);
  const machine = describeMachine();
  const engineInfo = await describeEngine(docker);
  const command = `npm run bench${args.quick ? ' -- --quick' : ''}`;
  log(`machine: ${machineLine(machine)}`);
  log(`engine: ${engineLine(engineInfo)}`);

  const tempRoot = await mkdtemp(join(tmpdir(), 'kiln-bench-'));
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_STATE_DIR: join(tempRoot, 'state') };
  const results: CaseResult[] = [];
  try {
    for (const benchCase of CASES) {
      if (args.only.length > 0 && !args.only.includes(benchCase.id)) continue;
      const workDir = join(tempRoot, benchCase.id);
      await mkdir(workDir, { recursive: true });
      const context: BenchContext = {
        quick: args.quick,
        repetitions: args.repetitions,
        engine,
        docker,
        workDir,
        env,
        log,
      };
      const caseStarted = performance.now();
      try {
        results.push(await benchCase.run(context));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log(`${benchCase.id} did not finish: ${message}`);
        results.push({
          id: benchCase.id,
          title: benchCase.title,
          setup: '',
          params: {},
          metrics: [],
          ratios: [],
          notes: [],
          error: message,
        });
      }
      log(`${benchCase.id} took ${((performance.now() - caseStarted) / 1000).toFixed(1)} s`);
    }
  } finally {
    await removeBenchResources(docker).catch(() => {});
    await rm(tempRoot, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started.getTime()) / 1000;
  const loadAtEnd = loadavg()[0]!;
  const load =
    `CPU ${busyBefore.toFixed(0)}% busy in the second before the start, ` +
    `load average (1 min) ${loadAtStart.toFixed(2)} at start, ${loadAtEnd.toFixed(2)} at the end`;

  const report = [
    `## kiln benchmark (${args.quick ? 'quick' : 'full'})`,
    [
      `Command: \`${command}\``,
      `Machine: ${machineLine(machine)}`,
      `Engine: ${engineLine(engineInfo)}`,
      `Run at ${started.toISOString()}, took ${seconds.toFixed(0)} s, ${load}.`,
      `Medians of the repetitions; ranges are min–max. Ratios are of medians; their range is over repetitions.`,
    ].join('  \n'),
    renderSummary(results),
    ...results.map(renderCase),
  ].join('\n\n');
  process.stdout.write(`${report}\n`);

  const json = {
    command,
    quick: args.quick,
    repetitions: args.repetitions,
    startedAt: started.toISOString(),
    durationSeconds: seconds,
    loadAverage: { start: loadAtStart, end: loadAtEnd },
    cpuBusyBeforePercent: busyBefore,
    machine,
    engine: engineInfo,
    results,
  };
  const resultsDir = join(REPO_ROOT, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  const text = `${JSON.stringify(json, null, 2)}\n`;
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  await writeFile(join(resultsDir, `${stamp}.json`), text);
  await writeFile(join(resultsDir, 'latest.json'), text);
  log(`wrote bench/results/${stamp}.json and bench/results/latest.json`);
  return results.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
