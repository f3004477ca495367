/**
 * Output throughput: a step that prints N bytes (`head -c N /dev/zero | tr "\0" x`) through kiln, against
 * the same command as a raw exec read to its end. kiln runs through the API (an onEvent that counts the
 * bytes of step.output) and through the CLI (`--progress plain --no-logs > /dev/null`), whose peak
 * resident memory is taken for N bytes and for N/2: flat memory means both peaks are about the same.
 * The CPU this process spends reading the output (kiln's API, or the raw read) is taken too, since the
 * wall time is bounded by the engine's copying on a small machine.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Definition } from '../src/definition/types.js';
import { compile } from '../src/graph/index.js';
import type { BenchContext } from './context.js';
import { cpuSince, markCpu } from './cpu.js';
import { eventAt, timedApiRun, timedCliRun, writeStepFile } from './kiln-runs.js';
import { BENCH_IMAGE, execToEnd, removeBenchResources, startKeepalive } from './raw-docker.js';
import { runRounds, samplesOf, type Variant } from './repeat.js';
import { atMost, metric, ratio, type CaseResult } from './report.js';
import { formatNumber } from './stats.js';

const MB = 1_000_000;
/** The reference run prints this share of N: its peak memory is the reference for "flat". */
const REFERENCE_SHARE = 0.5;
const MEMORY_POLL_MS = 20;

function printCommand(bytes: number): string {
  return `head -c ${bytes} /dev/zero | tr "\\0" x`;
}

export async function benchOutputThroughput(context: BenchContext): Promise<CaseResult> {
  const bytes = (context.quick ? 50 : 200) * MB;
  const referenceBytes = bytes * REFERENCE_SHARE;
  const mb = (n: number) => `${n / MB} MB`;
  const projectDir = join(context.workDir, 'output');
  await mkdir(projectDir, { recursive: true });
  const definition: Definition = {
    version: 1,
    projectDir,
    defaults: { image: BENCH_IMAGE },
    jobs: {
      big: { steps: [{ name: 'print', run: printCommand(bytes) }] },
      reference: { steps: [{ name: 'print', run: printCommand(referenceBytes) }] },
    },
  };
  const graph = compile(definition);
  const file = await writeStepFile(definition);
  const cli = (job: string) =>
    timedCliRun({
      args: ['run', job, '-f', file, '--progress', 'plain', '--no-logs'],
      cwd: projectDir,
      env: context.env,
      memoryPollMs: MEMORY_POLL_MS,
    });

  const raw = await startKeepalive(context.docker);
  const variants: Variant[] = [
    {
      name: 'kiln API',
      async run(round) {
        // The warm-up prints the reference size only: it warms the engine, not the statistics.
        const [job, size] = round.warmUp ? ['reference', referenceBytes] : ['big', bytes];
        let received = 0;
        const cpu = markCpu();
        const { events } = await timedApiRun(graph, {
          engine: context.engine,
          env: context.env,
          jobs: [job],
          onEvent: (event) => {
            if (event.type === 'step.output') {
              received += Buffer.byteLength(event.data, event.encoding === 'base64' ? 'base64' : 'utf8');
            }
          },
        });
        if (received !== size) throw new Error(`kiln passed on ${received} of ${size} bytes`);
        const ms = eventAt(events, 'step.end') - eventAt(events, 'step.start');
        return {
          'api.mbps': size / MB / (ms / 1000),
          'api.cpu': cpuSince(cpu).selfSeconds / (size / (100 * MB)),
        };
      },
    },
    {
      name: 'kiln CLI',
      async run(round): Promise<Record<string, number>> {
        if (round.warmUp) return { 'cli.warmUp': (await cli('reference')).wallMs };
        const big = await cli('big');
        const reference = await cli('reference');
        return {
          'cli.wallMbps': bytes / MB / (big.wallMs / 1000),
          'cli.marginalMbps': (bytes - referenceBytes) / MB / ((big.wallMs - reference.wallMs) / 1000),
          'cli.bigRss': big.peakRssMiB!,
          'cli.referenceRss': reference.peakRssMiB!,
        };
      },
    },
    {
      name: 'raw exec',
      async run(round) {
        const size = round.warmUp ? referenceBytes : bytes;
        const cpu = markCpu();
        const started = performance.now();
        const outcome = await execToEnd(raw, ['/bin/sh', '-c', printCommand(size)]);
        const ms = performance.now() - started;
        if (outcome.exitCode !== 0 || outcome.bytes < size) {
          throw new Error(`the raw exec exited ${outcome.exitCode} after ${outcome.bytes} of ${size} bytes`);
        }
        return {
          'raw.mbps': size / MB / (ms / 1000),
          'raw.cpu': cpuSince(cpu).selfSeconds / (size / (100 * MB)),
        };
      },
    },
  ];

  try {
    const { samples, retries } = await runRounds(context, 'output-throughput', variants);
    const api = metric(
      'kiln API: step.start to step.end, bytes counted in onEvent',
      'MB/s',
      samplesOf(samples, 'api.mbps'),
    );
    const rawRate = metric(
      'raw exec read to its end (exec create to exit code)',
      'MB/s',
      samplesOf(samples, 'raw.mbps'),
    );
    const cliWall = metric(
      'kiln CLI `--progress plain --no-logs > /dev/null`, whole wall',
      'MB/s',
      samplesOf(samples, 'cli.wallMbps'),
    );
    const cliMarginal = metric(
      `kiln CLI, marginal: (N − N/2) / (wall(N) − wall(N/2))`,
      'MB/s',
      samplesOf(samples, 'cli.marginalMbps'),
    );
    const apiCpu = metric('kiln API: CPU of this process per 100 MB', 's', samplesOf(samples, 'api.cpu'));
    const rawCpu = metric('raw read: CPU of this process per 100 MB', 's', samplesOf(samples, 'raw.cpu'));
    const bigRss = metric(
      `kiln CLI peak RSS (VmHWM), ${mb(bytes)} printed`,
      'MiB',
      samplesOf(samples, 'cli.bigRss'),
    );
    const referenceRss = metric(
      `kiln CLI peak RSS (VmHWM), ${mb(referenceBytes)} printed`,
      'MiB',
      samplesOf(samples, 'cli.referenceRss'),
    );
    const flat = ratio(`CLI peak RSS, ${mb(bytes)} / ${mb(referenceBytes)} printed`, bigRss, referenceRss, {
      text: 'flat: ≤ 1.20x',
      test: (r) => r <= 1.2,
    });
    return {
      id: 'output-throughput',
      title: 'Output throughput',
      setup:
        `One step printing ${mb(bytes)} (\`${printCommand(bytes)}\`, no newline), ${context.repetitions} ` +
        `repetitions interleaved after a warm-up; MB = 10^6 bytes.`,
      params: { bytes, referenceBytes, repetitions: context.repetitions, memoryPollMs: MEMORY_POLL_MS },
      metrics: [api, cliMarginal, cliWall, rawRate, apiCpu, rawCpu, bigRss, referenceRss],
      ratios: [
        ratio('raw / kiln API throughput', rawRate, api, atMost(2)),
        ratio('raw / kiln CLI throughput (marginal)', rawRate, cliMarginal, atMost(2)),
        ratio('kiln API / raw read, CPU per byte', apiCpu, rawCpu),
        flat,
      ],
      notes: [
        `The CLI's peak memory is ${formatNumber(bigRss.summary.median)} MiB after printing ${mb(bytes)} and ` +
          `${formatNumber(referenceRss.summary.median)} MiB after ${mb(referenceBytes)}: ` +
          `${formatNumber((bigRss.summary.median - referenceRss.summary.median) / ((bytes - referenceBytes) / MB))} MiB ` +
          `more per MB printed (holding the output would take about 2 MiB per MB, as UTF-16 strings).`,
        ...(flat.met || referenceBytes >= 100 * MB
          ? []
          : [
              `Below about 50 MB printed node's heap is still growing to its working size, so a ` +
                `${mb(referenceBytes)} reference overstates the growth; the full run compares 200 and 100 MB.`,
            ]),
        ...retries,
      ],
    };
  } finally {
    await raw.remove({ force: true, v: true }).catch(() => {});
    await removeBenchResources(context.docker);
  }
}
