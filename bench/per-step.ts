/**
 * Per-step overhead: one job of N trivial steps (`true`) through kiln, against (a) a loop of raw execs
 * into one running container and (b) a container per step. kiln runs through the API (its step phase,
 * its whole job and the whole call are taken from the events) and through the CLI, whose extra wall
 * time is the CLI's start-up cost.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Definition } from '../src/definition/types.js';
import { compile } from '../src/graph/index.js';
import { wrapStep } from '../src/runtime/step-wrapper.js';
import type { BenchContext } from './context.js';
import { eventAt, timedApiRun, timedCliRun, writeStepFile } from './kiln-runs.js';
import {
  BENCH_IMAGE,
  execToEnd,
  removeBenchResources,
  runContainerOnce,
  startKeepalive,
} from './raw-docker.js';
import { runRounds, samplesOf, type Round, type Variant } from './repeat.js';
import { atLeast, atMost, metric, ratio, type CaseResult } from './report.js';
import { formatNumber, median, pairedRatios } from './stats.js';

/** Steps (and containers, for baseline (b)) of the warm-up round: it warms the engine, not the statistics. */
const WARM_UP_STEPS = 3;

function trueSteps(count: number) {
  return Array.from({ length: count }, (_, i) => ({ name: `step-${i + 1}`, run: 'true' }));
}

export async function benchPerStep(context: BenchContext): Promise<CaseResult> {
  const steps = context.quick ? 20 : 50;
  const projectDir = join(context.workDir, 'per-step');
  await mkdir(projectDir, { recursive: true });
  const definition: Definition = {
    version: 1,
    projectDir,
    defaults: { image: BENCH_IMAGE },
    jobs: {
      steps: { steps: trueSteps(steps) },
      'warm-up': { steps: trueSteps(WARM_UP_STEPS) },
    },
  };
  const graph = compile(definition);
  const file = await writeStepFile(definition);
  const { docker } = context;
  const command = ['/bin/sh', '-c', 'true'];
  const wrapped = wrapStep({ argv: command });
  /** A raw exec loop, with the command as given or under kiln's step wrapper (stdin held open, as kiln does). */
  const execLoop = async (round: Round, argv: readonly string[], holdStdin: boolean) => {
    const started = performance.now();
    const container = await startKeepalive(docker);
    const created = performance.now();
    let loopEnd = created;
    try {
      for (let i = 0; i < countOf(round); i++) {
        const { exitCode } = await execToEnd(container, argv, { holdStdin, env: ['KILN_GRACE_S=10'] });
        if (exitCode !== 0) throw new Error(`raw exec exited with ${exitCode}`);
      }
      loopEnd = performance.now();
    } finally {
      await container.remove({ force: true, v: true });
    }
    const ended = performance.now();
    return { loop: loopEnd - created, whole: ended - started, setup: created - started + (ended - loopEnd) };
  };
  const jobOf = (round: Round) => (round.warmUp ? 'warm-up' : 'steps');
  const countOf = (round: Round) => (round.warmUp ? WARM_UP_STEPS : steps);

  const variants: Variant[] = [
    {
      name: 'kiln API',
      async run(round) {
        const { events, wallMs } = await timedApiRun(graph, {
          engine: context.engine,
          env: context.env,
          concurrency: 1,
          jobs: [jobOf(round)],
        });
        return {
          'kiln.phase': eventAt(events, 'step.end', 'last') - eventAt(events, 'step.start', 'first'),
          'kiln.job': eventAt(events, 'job.end') - eventAt(events, 'job.start'),
          'kiln.run': wallMs,
        };
      },
    },
    {
      name: 'kiln CLI',
      async run(round): Promise<Record<string, number>> {
        const run = await timedCliRun({
          args: ['run', jobOf(round), '-f', file, '--json'],
          cwd: projectDir,
          env: context.env,
        });
        if (round.warmUp) return { 'cli.run': run.wallMs };
        const version = await timedCliRun({ args: ['--version'], cwd: projectDir, env: context.env });
        return { 'cli.run': run.wallMs, 'cli.version': version.wallMs };
      },
    },
    {
      name: 'raw exec loop',
      async run(round) {
        const { loop, whole, setup } = await execLoop(round, command, false);
        return { 'raw.loop': loop, 'raw.whole': whole, 'raw.setup': setup };
      },
    },
    {
      name: 'raw exec loop, wrapped',
      async run(round) {
        return { 'wrapped.loop': (await execLoop(round, wrapped, true)).loop };
      },
    },
    {
      name: 'container per step',
      async run(round) {
        const started = performance.now();
        for (let i = 0; i < countOf(round); i++) {
          const code = await runContainerOnce(docker, command);
          if (code !== 0) throw new Error(`a container per step exited with ${code}`);
        }
        return { 'ctr.whole': performance.now() - started };
      },
    },
  ];

  try {
    const { samples, retries } = await runRounds(context, 'per-step', variants);
    const perStep = (key: string) => samplesOf(samples, key).map((ms) => ms / steps);
    const kilnStep = metric(
      'kiln, step phase per step (first step.start to last step.end) / N',
      'ms',
      perStep('kiln.phase'),
    );
    const rawStep = metric('(a) raw exec loop, per exec', 'ms', perStep('raw.loop'));
    const wrappedStep = metric(
      "(a') raw exec loop under kiln's step wrapper, per exec",
      'ms',
      perStep('wrapped.loop'),
    );
    const ctrStep = metric(
      '(b) container per step (create, start, wait, remove)',
      'ms',
      perStep('ctr.whole'),
    );
    const kilnJob = metric('kiln, whole job (job.start to job.end)', 'ms', samplesOf(samples, 'kiln.job'));
    const rawWhole = metric(
      '(a) whole: create+start, N execs, remove',
      'ms',
      samplesOf(samples, 'raw.whole'),
    );
    const rawSetup = metric('(a) container create+start and remove', 'ms', samplesOf(samples, 'raw.setup'));
    const kilnRun = metric('kiln API call (engine check, sweep, job)', 'ms', samplesOf(samples, 'kiln.run'));
    const cliRun = metric('kiln CLI `run --json > /dev/null`, wall', 'ms', samplesOf(samples, 'cli.run'));
    const cliExtra = metric(
      'CLI wall − API call (node start-up, load, reporter)',
      'ms',
      samplesOf(samples, 'cli.run').map((ms, i) => ms - samplesOf(samples, 'kiln.run')[i]!),
    );
    const cliVersion = metric(
      '`kiln --version`, wall (node + CLI start-up alone)',
      'ms',
      samplesOf(samples, 'cli.version'),
    );

    const kilnPerStepVsRaw = ratio(
      'kiln / (a) per step (step phase vs exec loop)',
      kilnStep,
      rawStep,
      atMost(1.1),
    );
    const kilnJobVsRaw = ratio(
      'kiln / (a) whole job (incl. container create/remove)',
      kilnJob,
      rawWhole,
      atMost(1.1),
    );
    const kilnVsWrapped = ratio(
      "kiln / (a') per step (kiln vs the same wrapper, raw)",
      kilnStep,
      wrappedStep,
    );
    const ctrVsKiln = ratio(
      '(b) / kiln per step (container per step vs kiln)',
      ctrStep,
      kilnStep,
      atLeast(5),
    );
    const kilnMs = median(kilnStep.samples);
    const rawMs = median(rawStep.samples);
    const wrappedMs = median(wrappedStep.samples);
    const more = (a: number, b: number) =>
      a > b
        ? `${formatNumber(a - b)} ms more`
        : `nothing measurable (${formatNumber(a - b)} ms, within the spread)`;
    const notes = [
      `Per step: kiln ${formatNumber(kilnMs)} ms, the same execs raw under kiln's step wrapper ((a')) ` +
        `${formatNumber(wrappedMs)} ms, bare execs ((a)) ${formatNumber(rawMs)} ms. The wrapper in the container ` +
        `costs ${more(wrappedMs, rawMs)}; kiln's own work in node (events, output, scheduling) costs ` +
        `${more(kilnMs, wrappedMs)}.`,
      `The CLI adds ${formatNumber(cliExtra.summary.median)} ms to the API call; node and the CLI alone start in ` +
        `${formatNumber(cliVersion.summary.median)} ms.`,
      ...retries,
    ];

    return {
      id: 'per-step',
      title: 'Per-step overhead',
      setup:
        `One job of ${steps} steps \`true\` (run through /bin/sh -c, as kiln does for a string), ` +
        `${context.repetitions} repetitions interleaved with the baselines after a warm-up.`,
      params: { steps, repetitions: context.repetitions },
      metrics: [
        kilnStep,
        rawStep,
        wrappedStep,
        ctrStep,
        kilnJob,
        rawWhole,
        rawSetup,
        kilnRun,
        cliRun,
        cliExtra,
        cliVersion,
      ],
      ratios: [
        kilnPerStepVsRaw,
        kilnJobVsRaw,
        ctrVsKiln,
        kilnVsWrapped,
        {
          name: 'kiln CLI wall / API call',
          value: median(cliRun.samples) / median(kilnRun.samples),
          paired: pairedRatios(cliRun.samples, kilnRun.samples),
        },
      ],
      notes,
    };
  } finally {
    await removeBenchResources(docker);
  }
}
