/**
 * The job cache at scale: a generated graph of 1,000 small jobs (200 with --quick) run once cold, then
 * rerun unchanged through the CLI, against `kiln validate` of the same file (loading and compiling it:
 * the floor of any run). The jobs are a wide fan-in: groups of leaves that each copy a one-file bind
 * source of their own into their output, and per group a collector that mounts its leaves' outputs.
 *
 * The cold run starts one container per job (minutes on 2 cores), so it runs once, before the rounds;
 * each round then reruns the unchanged graph with plain progress and with json events (for the split
 * of its wall time and the count of cached jobs).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { projectName } from '../src/graph/index.js';
import { countOutcomes, eventedRun, removeProjectVolumes } from './cache-cli.js';
import { GROUP_SIZE, writeFanIn } from './cache-graphs.js';
import type { BenchContext } from './context.js';
import { timedCliRun, writeStepFile } from './kiln-runs.js';
import { runRounds, samplesOf, type Variant } from './repeat.js';
import { metric, ratio, type CaseResult } from './report.js';
import { formatNumber, median } from './stats.js';

/** The goal for an unchanged rerun of the full graph, in ms (a figure to report, not an assertion). */
const GOAL_MS = 1000;

export async function benchCacheNoop(context: BenchContext): Promise<CaseResult> {
  const jobs = context.quick ? 200 : 1000;
  const projectDir = join(context.workDir, `graph-${jobs}`);
  await mkdir(projectDir, { recursive: true });
  const definition = await writeFanIn(projectDir, jobs);
  const jobCount = Object.keys(definition.jobs).length;
  const file = await writeStepFile(definition);
  const project = projectName(projectDir);
  const env = { ...context.env, KILN_STATE_DIR: join(context.workDir, 'state') };
  const runArgs = ['run', '-f', file, '--progress', 'plain'];

  try {
    context.log(`cache-noop: the cold run of ${jobCount} jobs (once)`);
    const cold = await timedCliRun({ args: runArgs, cwd: projectDir, env });
    context.log(`cache-noop: cold run took ${formatNumber(cold.wallMs / 1000)} s`);

    let lastCounts = { ran: 0, cached: 0, other: 0, hits: 0 };
    const variants: Variant[] = [
      {
        name: 'kiln run, unchanged (plain)',
        async run() {
          const run = await timedCliRun({ args: runArgs, cwd: projectDir, env, memoryPollMs: 20 });
          return { plain: run.wallMs, rss: run.peakRssMiB ?? NaN };
        },
      },
      {
        name: 'kiln run, unchanged (json)',
        async run() {
          const run = await eventedRun({ args: ['-f', file], cwd: projectDir, env });
          lastCounts = countOutcomes(run);
          return { json: run.wallMs, start: run.startMs, run: run.runMs, exit: run.exitMs };
        },
      },
      {
        name: 'kiln validate',
        async run() {
          return {
            validate: (await timedCliRun({ args: ['validate', '-f', file], cwd: projectDir, env })).wallMs,
          };
        },
      },
    ];
    const { samples, retries } = await runRounds(context, 'cache-noop', variants);
    const of = (key: string) => samplesOf(samples, key);
    const plain = metric(`kiln run, unchanged, ${jobCount} jobs (--progress plain)`, 'ms', of('plain'));
    const validate = metric('kiln validate of the same file (the floor)', 'ms', of('validate'));
    const goal = {
      name: `unchanged rerun of ${jobCount} jobs / ${formatNumber(GOAL_MS / 1000)} s`,
      value: median(plain.samples) / GOAL_MS,
      paired: plain.samples.map((ms) => ms / GOAL_MS),
      goal: '≤ 1.00x',
      met: median(plain.samples) <= GOAL_MS,
    };
    return {
      id: 'cache-noop-1000',
      title: `Job cache: unchanged rerun of ${jobCount} jobs`,
      setup:
        `${jobCount} busybox jobs in groups of ${GROUP_SIZE} (${GROUP_SIZE - 1} leaves copying a one-file bind ` +
        `source into their output, one collector mounting their outputs), run once cold, then rerun unchanged ` +
        `through the CLI. ${context.repetitions} repetitions interleaved after a warm-up.`,
      params: {
        jobs: jobCount,
        groupSize: GROUP_SIZE,
        repetitions: context.repetitions,
      },
      metrics: [
        plain,
        validate,
        metric('kiln run, unchanged (--progress json): wall', 'ms', of('json')),
        metric('… spawn to run.start', 'ms', of('start')),
        metric('… run.start to run.end', 'ms', of('run')),
        metric('… run.end to exit', 'ms', of('exit')),
        metric('kiln run, unchanged (plain): peak resident memory', 'MiB', of('rss')),
        metric('the cold run (once)', 'ms', [cold.wallMs]),
      ],
      ratios: [goal, ratio('unchanged rerun / kiln validate', plain, validate)],
      data: { lastJsonRun: lastCounts },
      notes: [
        `The last json rerun: ${lastCounts.cached} of ${jobCount} jobs cached (${lastCounts.hits} cache hits), ` +
          `${lastCounts.ran} ran; between run.start and run.end the scheduler spent ` +
          `${formatNumber(median(of('run')) / jobCount)} ms per job.`,
        ...retries,
      ],
    };
  } finally {
    await removeProjectVolumes(context.docker, project).catch(() => 0);
  }
}
