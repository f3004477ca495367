/**
 * Graph throughput: many small jobs in three layers joined by needs, run with concurrency 2 (the core
 * count here) against the same graph job by job (concurrency 1). The speed-up is what running jobs side
 * by side gains once the engine's own work (create, start, exec, remove) competes for the same cores.
 * The raw baseline runs the same graph on dockerode with a pool of 2 workers that honours the needs
 * (per job: create and start a container, exec each step, remove), so the speed-up can be read
 * against what the engine allows.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Definition, JobSpec } from '../src/definition/types.js';
import { compile } from '../src/graph/index.js';
import type { BenchContext } from './context.js';
import { cpuSince, markCpu } from './cpu.js';
import { eventAt, timedApiRun, type TimedEvent } from './kiln-runs.js';
import type Docker from 'dockerode';
import { BENCH_IMAGE, execToEnd, removeBenchResources, startKeepalive } from './raw-docker.js';
import { runRounds, samplesOf, type Variant } from './repeat.js';
import { metric, ratio, type CaseResult } from './report.js';
import { formatNumber, median } from './stats.js';

const LAYERS = 3;

function jobName(layer: number, index: number): string {
  return `layer${layer + 1}-job${index + 1}`;
}

/** `width` jobs per layer; each job after the first layer needs two jobs of the layer before. */
function layeredDefinition(projectDir: string, width: number): Definition {
  const jobs: Record<string, JobSpec> = {};
  for (let layer = 0; layer < LAYERS; layer++) {
    for (let index = 0; index < width; index++) {
      const needs =
        layer === 0 ? [] : [...new Set([jobName(layer - 1, index), jobName(layer - 1, (index + 1) % width)])];
      jobs[jobName(layer, index)] = {
        needs,
        steps: [
          { name: 'build', run: 'true' },
          { name: 'test', run: 'true' },
        ],
      };
    }
  }
  return { version: 1, projectDir, defaults: { image: BENCH_IMAGE }, jobs };
}

/** The median over jobs of job.start to container.create: how long a job waits for its container. */
function containerReadyMs(events: readonly TimedEvent[]): number {
  const starts = new Map<string, number>();
  const waits: number[] = [];
  for (const event of events) {
    if (event.type === 'job.start' && event.job) starts.set(event.job, event.at);
    if (event.type === 'container.create' && event.job && starts.has(event.job)) {
      waits.push(event.at - starts.get(event.job)!);
    }
  }
  return median(waits);
}

/** Sum of the jobs' durations over the run's wall time: how many jobs ran at once, on average. */
function jobsInFlight(events: readonly TimedEvent[]): number {
  const starts = new Map<string, number>();
  let busy = 0;
  for (const event of events) {
    if (event.type === 'job.start' && event.job) starts.set(event.job, event.at);
    if (event.type === 'job.end' && event.job && starts.has(event.job))
      busy += event.at - starts.get(event.job)!;
  }
  return busy / (eventAt(events, 'run.end') - eventAt(events, 'run.start'));
}

/** One raw job: a container, its steps as execs, removed. */
async function rawJob(docker: Docker, steps: number): Promise<void> {
  const container = await startKeepalive(docker);
  try {
    for (let i = 0; i < steps; i++) {
      const { exitCode } = await execToEnd(container, ['/bin/sh', '-c', 'true']);
      if (exitCode !== 0) throw new Error(`a raw step exited with ${exitCode}`);
    }
  } finally {
    await container.remove({ force: true, v: true });
  }
}

/** Runs the jobs raw, at most `concurrency` at once, each once all its needs are done. */
async function rawGraph(
  docker: Docker,
  jobs: Readonly<Record<string, JobSpec>>,
  names: readonly string[],
  concurrency: number,
): Promise<void> {
  let running = 0;
  const waiting: Array<() => void> = [];
  const started = new Map<string, Promise<void>>();
  const run = (name: string): Promise<void> => {
    let done = started.get(name);
    if (!done) {
      done = (async () => {
        await Promise.all((jobs[name]!.needs ?? []).map(run));
        while (running >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
        running++;
        try {
          await rawJob(docker, jobs[name]!.steps.length);
        } finally {
          running--;
          waiting.shift()?.();
        }
      })();
      started.set(name, done);
    }
    return done;
  };
  await Promise.all(names.map(run));
}

export async function benchGraphThroughput(context: BenchContext): Promise<CaseResult> {
  const width = context.quick ? 3 : 8;
  const jobCount = width * LAYERS;
  const projectDir = join(context.workDir, 'graph');
  await mkdir(projectDir, { recursive: true });
  const definition = layeredDefinition(projectDir, width);
  const graph = compile(definition);
  if (graph.order.length !== jobCount) throw new Error(`compiled ${graph.order.length} of ${jobCount} jobs`);
  // The warm-up runs two jobs of the first layer only: it warms the engine, not the statistics.
  const warmUpJobs = [jobName(0, 0), jobName(0, 1)];

  const variant = (concurrency: number): Variant => ({
    name: `concurrency ${concurrency}`,
    async run(round) {
      const cpu = markCpu();
      const { events } = await timedApiRun(graph, {
        engine: context.engine,
        env: context.env,
        concurrency,
        ...(round.warmUp ? { jobs: warmUpJobs } : {}),
      });
      const spent = cpuSince(cpu);
      return {
        [`c${concurrency}.machineBusy`]: spent.machineBusy * 100,
        [`c${concurrency}.kilnCpu`]: (spent.selfSeconds * 1000) / jobCount,
        [`c${concurrency}.run`]: eventAt(events, 'run.end') - eventAt(events, 'run.start'),
        [`c${concurrency}.inFlight`]: jobsInFlight(events),
        [`c${concurrency}.containerReady`]: containerReadyMs(events),
      };
    },
  });

  const raw: Variant = {
    name: 'raw pool of 2',
    async run(round) {
      const started = performance.now();
      await rawGraph(context.docker, definition.jobs, round.warmUp ? warmUpJobs : graph.order, 2);
      return { 'raw2.run': performance.now() - started };
    },
  };

  let rounds;
  try {
    rounds = await runRounds(context, 'graph-throughput', [variant(2), variant(1), raw]);
  } finally {
    await removeBenchResources(context.docker);
  }
  const { samples, retries } = rounds;
  const c2 = metric('concurrency 2: run.start to run.end', 'ms', samplesOf(samples, 'c2.run'));
  const c1 = metric('concurrency 1 (job by job): run.start to run.end', 'ms', samplesOf(samples, 'c1.run'));
  const c2Rate = metric(
    'concurrency 2: jobs per second',
    'jobs/s',
    c2.samples.map((ms) => jobCount / (ms / 1000)),
  );
  const c1Rate = metric(
    'concurrency 1: jobs per second',
    'jobs/s',
    c1.samples.map((ms) => jobCount / (ms / 1000)),
  );
  const c2Flight = metric(
    'concurrency 2: jobs running at once, on average',
    'jobs',
    samplesOf(samples, 'c2.inFlight'),
  );
  const c1Job = metric(
    'concurrency 1: one job (its share of the run)',
    'ms',
    c1.samples.map((ms) => ms / jobCount),
  );
  const c2Busy = metric(
    'concurrency 2: machine CPU busy (both cores, engine included)',
    '%',
    samplesOf(samples, 'c2.machineBusy'),
  );
  const c1Busy = metric('concurrency 1: machine CPU busy', '%', samplesOf(samples, 'c1.machineBusy'));
  const c2Cpu = metric(
    'concurrency 2: CPU of the kiln process per job',
    'ms',
    samplesOf(samples, 'c2.kilnCpu'),
  );
  const raw2 = metric(
    'raw pool of 2 workers (dockerode), same graph: wall',
    'ms',
    samplesOf(samples, 'raw2.run'),
  );
  const c2Ready = metric(
    'concurrency 2: job.start to container.create, median job',
    'ms',
    samplesOf(samples, 'c2.containerReady'),
  );
  const c1Ready = metric(
    'concurrency 1: job.start to container.create, median job',
    'ms',
    samplesOf(samples, 'c1.containerReady'),
  );
  const speedUp = ratio('speed-up: concurrency 1 / concurrency 2 (wall)', c1, c2);
  const kilnVsRaw = ratio('kiln / raw pool, both 2 at once (wall)', c2, raw2);
  const busy = c2Busy.summary.median;
  return {
    id: 'graph-throughput',
    title: 'Graph throughput',
    setup:
      `${jobCount} jobs in ${LAYERS} layers of ${width} (each job after the first layer needs two of the layer ` +
      `before), 2 steps \`true\` each; concurrency 2 against concurrency 1, ${context.repetitions} repetitions ` +
      `interleaved after a warm-up.`,
    params: { jobs: jobCount, layers: LAYERS, width, repetitions: context.repetitions },
    metrics: [c2, c1, raw2, c2Rate, c1Rate, c2Flight, c1Job, c2Ready, c1Ready, c2Busy, c1Busy, c2Cpu],
    ratios: [speedUp, kilnVsRaw],
    notes: [
      `Two jobs at once (${formatNumber(c2Flight.summary.median)} in flight on average) make the run ` +
        `${formatNumber(speedUp.value)}x faster; the same graph on raw dockerode with 2 workers takes ` +
        `${formatNumber(median(raw2.samples))} ms (kiln: ${formatNumber(kilnVsRaw.value)}x that). ` +
        `A job waits ${formatNumber(c1Ready.summary.median)} ms for its container job by job and ` +
        `${formatNumber(c2Ready.summary.median)} ms two at once: the engine creates and starts containers more ` +
        `slowly side by side. The machine is ${formatNumber(c1Busy.summary.median)}% busy job by job, ` +
        `${formatNumber(busy)}% two at once; the kiln process spends ${formatNumber(c2Cpu.summary.median)} ms of CPU per job.`,
      ...retries,
    ],
  };
}
