/**
 * One changed file in a graph of 50 jobs (20 with --quick): independent chains of jobs that each bind a
 * one-file source folder of their own and consume the output of the job before them. Each repetition
 * changes the file of one job (another chain and position each time), reruns through the CLI with json
 * events and counts how the jobs ended: exactly the changed job and those after it in its chain must
 * run (`job.end` passed), every other job must be cached (`job.end` cached, `job.cache` hit).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { projectName } from '../src/graph/index.js';
import { countOutcomes, eventedRun, removeProjectVolumes } from './cache-cli.js';
import { chainJobName, downstreamOf, writeChains } from './cache-graphs.js';
import type { BenchContext } from './context.js';
import { timedCliRun, writeStepFile } from './kiln-runs.js';
import { runRounds, samplesOf, type Variant } from './repeat.js';
import { metric, type CaseResult, type Ratio } from './report.js';
import { formatNumber, median, pairedRatios } from './stats.js';

/** `numerator / denominator` per repetition, met only when it is exactly 1 in every one. */
function exactly(name: string, numerator: readonly number[], denominator: readonly number[]): Ratio {
  const paired = pairedRatios(numerator, denominator);
  return {
    name,
    value: median(paired),
    paired,
    goal: '= 1.00x in every repetition',
    met: paired.every((r) => r === 1),
  };
}

export async function benchCacheOneChange(context: BenchContext): Promise<CaseResult> {
  const chains = context.quick ? 4 : 5;
  const length = context.quick ? 5 : 10;
  const projectDir = join(context.workDir, 'chains');
  await mkdir(projectDir, { recursive: true });
  const { definition, sourceOf } = await writeChains(projectDir, chains, length);
  const jobCount = Object.keys(definition.jobs).length;
  const file = await writeStepFile(definition);
  const project = projectName(projectDir);
  const env = { ...context.env, KILN_STATE_DIR: join(context.workDir, 'state') };

  try {
    context.log(`cache-one-change: the cold run of ${jobCount} jobs (once)`);
    const cold = await timedCliRun({
      args: ['run', '-f', file, '--progress', 'plain'],
      cwd: projectDir,
      env,
    });

    const rows: string[][] = [];
    let changes = 0;
    const variant: Variant = {
      name: 'one file changed',
      async run(round) {
        const n = changes++;
        const changed = chainJobName(n % chains, (n * 3 + 1) % length);
        await writeFile(join(projectDir, sourceOf.get(changed)!, 'input.txt'), `${changed} change ${n}\n`);
        const expected = downstreamOf(definition, [changed]);
        const run = await eventedRun({ args: ['-f', file], cwd: projectDir, env });
        const counts = countOutcomes(run);
        const ranOutside = [...run.status].filter(([job, s]) => s === 'passed' && !expected.has(job)).length;
        if (!round.warmUp) {
          rows.push([
            String(round.repetition + 1),
            `${sourceOf.get(changed)}/input.txt`,
            String(expected.size),
            String(counts.ran),
            String(counts.cached),
            String(counts.hits),
            String(ranOutside),
          ]);
        }
        return {
          ran: counts.ran,
          cached: counts.cached,
          hits: counts.hits,
          expected: expected.size,
          notExpected: jobCount - expected.size,
          ranOutside,
          wall: run.wallMs,
        };
      },
    };
    const { samples, retries } = await runRounds(context, 'cache-one-change', [variant]);
    const of = (key: string) => samplesOf(samples, key);
    const ran = of('ran');
    const cached = of('cached');
    return {
      id: 'cache-one-change',
      title: `Job cache: one changed file in ${jobCount} jobs`,
      setup:
        `${chains} independent chains of ${length} busybox jobs, each binding a one-file source folder of its ` +
        `own and mounting the output of the job before it; after one cold run, each repetition changes one ` +
        `job's file and reruns through the CLI. ${context.repetitions} repetitions after a warm-up.`,
      params: {
        jobs: jobCount,
        chains,
        length,
        repetitions: context.repetitions,
      },
      metrics: [
        metric('jobs downstream of the changed file (the changed job included)', 'jobs', of('expected')),
        metric('jobs that ran (job.end passed)', 'jobs', ran),
        metric('jobs cached (job.end cached)', 'jobs', cached),
        metric('cache hits (job.cache hit)', 'jobs', of('hits')),
        metric('jobs that ran but are not downstream of the change', 'jobs', of('ranOutside')),
        metric('the rerun after the change: wall', 'ms', of('wall')),
        metric('the cold run (once)', 'ms', [cold.wallMs]),
      ],
      ratios: [
        exactly('jobs run / jobs downstream of the change', ran, of('expected')),
        exactly('jobs cached / jobs not downstream', cached, of('notExpected')),
      ],
      tables: [
        {
          columns: [
            { title: 'repetition', align: 'right' },
            { title: 'changed file' },
            { title: 'downstream', align: 'right' },
            { title: 'ran', align: 'right' },
            { title: 'cached', align: 'right' },
            { title: 'hits', align: 'right' },
            { title: 'ran, not downstream', align: 'right' },
          ],
          rows,
        },
      ],
      notes: [
        `A rerun after the change took ${formatNumber(median(of('wall')))} ms; the cold run of all ${jobCount} ` +
          `jobs ${formatNumber(cold.wallMs)} ms.`,
        ...retries,
      ],
    };
  } finally {
    await removeProjectVolumes(context.docker, project).catch(() => 0);
  }
}
