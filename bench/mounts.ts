/**
 * Mounts: a job with many cache volumes and binds (subfolders of a temp project) and one trivial step.
 * kiln's prepare time (job.start to container.create: checks, volumes, container create and start) and
 * release time (last step.end to job.end: container removal, locks) against raw dockerode doing the same
 * work: create the same volumes idempotently, create and start a container with the same mounts, remove.
 *
 * kiln emits a `release` event after each release has finished, so the release phase is taken from the
 * last step.end rather than from the first release event (which would miss the container's removal).
 */
import { mkdir, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Definition, MountSpec } from '../src/definition/types.js';
import { compile } from '../src/graph/index.js';
import type { BenchContext } from './context.js';
import { eventAt, timedApiRun } from './kiln-runs.js';
import {
  BENCH_IMAGE,
  ensureVolume,
  removeBenchResources,
  removeProjectVolumes,
  startKeepalive,
} from './raw-docker.js';
import { runRounds, samplesOf, type Variant } from './repeat.js';
import { metric, ratio, type CaseResult } from './report.js';

const CACHES = 10;
const BINDS = 10;

export async function benchMounts(context: BenchContext): Promise<CaseResult> {
  const projectDir = join(context.workDir, 'mounts');
  const mounts: MountSpec[] = [];
  const rawMounts: Docker.MountSettings[] = [];
  const rawVolumes: string[] = [];
  for (let i = 1; i <= BINDS; i++) {
    const folder = join(projectDir, `src-${i}`);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'file.txt'), `folder ${i}\n`);
    mounts.push({ type: 'bind', source: `./src-${i}`, target: `/src/${i}`, readonly: true });
    rawMounts.push({ Type: 'bind', Source: await realpath(folder), Target: `/src/${i}`, ReadOnly: true });
  }
  for (let i = 1; i <= CACHES; i++) {
    mounts.push({ type: 'cache', id: `cache-${i}`, target: `/cache/${i}` });
    const volume = `kiln-bench-cache-${i}`;
    rawVolumes.push(volume);
    rawMounts.push({ Type: 'volume', Source: volume, Target: `/cache/${i}` });
  }
  const definition: Definition = {
    version: 1,
    projectDir,
    defaults: { image: BENCH_IMAGE },
    jobs: { mounts: { mounts, steps: [{ name: 'touch', run: 'true' }] } },
  };
  const graph = compile(definition);
  const { docker } = context;

  const variants: Variant[] = [
    {
      name: 'kiln API',
      async run() {
        const { events } = await timedApiRun(graph, { engine: context.engine, env: context.env });
        const jobStart = eventAt(events, 'job.start');
        const mounted = eventAt(events, 'mount.prepare', 'last');
        const created = eventAt(events, 'container.create');
        return {
          'kiln.mounts': mounted - jobStart,
          'kiln.container': created - mounted,
          'kiln.prepare': created - jobStart,
          'kiln.release': eventAt(events, 'job.end') - eventAt(events, 'step.end', 'last'),
        };
      },
    },
    {
      name: 'raw dockerode',
      async run() {
        const started = performance.now();
        for (const volume of rawVolumes) await ensureVolume(docker, volume);
        const volumesDone = performance.now();
        const container = await startKeepalive(docker, { mounts: rawMounts });
        const prepared = performance.now();
        await container.remove({ force: true, v: true });
        const released = performance.now();
        return {
          'raw.volumes': volumesDone - started,
          'raw.container': prepared - volumesDone,
          'raw.prepare': prepared - started,
          'raw.release': released - prepared,
        };
      },
    },
  ];

  try {
    const { samples, retries } = await runRounds(context, 'mounts', variants);
    const kilnPrepare = metric(
      'kiln prepare: job.start to container.create',
      'ms',
      samplesOf(samples, 'kiln.prepare'),
    );
    const kilnMounts = metric(
      '· of which mounts: job.start to last mount.prepare',
      'ms',
      samplesOf(samples, 'kiln.mounts'),
    );
    const kilnContainer = metric(
      '· of which container: last mount.prepare to container.create',
      'ms',
      samplesOf(samples, 'kiln.container'),
    );
    const rawPrepare = metric(
      'raw prepare: volumes, container create+start',
      'ms',
      samplesOf(samples, 'raw.prepare'),
    );
    const rawVolumesMetric = metric(
      `· of which ${CACHES} volume creates`,
      'ms',
      samplesOf(samples, 'raw.volumes'),
    );
    const rawContainer = metric(
      '· of which container create+start',
      'ms',
      samplesOf(samples, 'raw.container'),
    );
    const kilnRelease = metric(
      'kiln release: last step.end to job.end',
      'ms',
      samplesOf(samples, 'kiln.release'),
    );
    const rawRelease = metric('raw release: container remove', 'ms', samplesOf(samples, 'raw.release'));
    return {
      id: 'mounts',
      title: 'Mounts: prepare and release',
      setup:
        `One job with ${CACHES} cache volumes and ${BINDS} read-only binds (subfolders of a temp project) and one ` +
        `step \`true\`; the volumes exist after the warm-up, as they would from a previous run. ` +
        `${context.repetitions} repetitions interleaved after a warm-up.`,
      params: { caches: CACHES, binds: BINDS, repetitions: context.repetitions },
      metrics: [
        kilnPrepare,
        kilnMounts,
        kilnContainer,
        rawPrepare,
        rawVolumesMetric,
        rawContainer,
        kilnRelease,
        rawRelease,
      ],
      ratios: [
        ratio('kiln / raw prepare', kilnPrepare, rawPrepare),
        ratio('kiln / raw mounts (volumes)', kilnMounts, rawVolumesMetric),
        ratio('kiln / raw release', kilnRelease, rawRelease),
      ],
      notes: retries,
    };
  } finally {
    await removeBenchResources(docker);
    await removeProjectVolumes(docker, graph.project);
  }
}
