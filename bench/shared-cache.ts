/**
 * The shared job cache over HTTP (nginx with WebDAV on a loopback port, started by
 * scripts/cache-server.sh), measured through the CLI side by side in one run:
 *
 * - a remote-hit rerun (an empty state folder: the result is downloaded into fresh volumes and sealed)
 *   against a local-hit rerun of the same project;
 * - the download of one big output (200 MB, 40 MB with --quick) as a remote hit, against `curl` fetching
 *   the same blob from the same server (both write it to disk; kiln also unpacks it into a volume and
 *   digests it, which is the price of using it);
 * - a cold run that uploads its result against a cold run without a shared cache.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './kiln-runs.js';
import { eventedRun, removeProjectVolumes } from './cache-cli.js';
import { commandOutput } from './command-output.js';
import type { BenchContext } from './context.js';
import { runRounds, samplesOf, type Variant } from './repeat.js';
import { atMost, metric, ratio, type CaseResult } from './report.js';

const SERVER = join(REPO_ROOT, 'scripts', 'cache-server.sh');

function stepFile(megabytes: number): string {
  return `version: 1
defaults: { image: kiln-fixture/busybox:latest }
jobs:
  big:
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    # Exported, so that a remote hit downloads it (an output nothing uses is never downloaded).
    outputs: [{ path: /out, export: ./dist }]
    steps:
      # Incompressible bytes, so that gzip does not make the transfer trivial.
      - run: head -c ${megabytes}000000 /dev/urandom > /out/blob && cp /src/* /out/
  small:
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    outputs: [/out]
    steps:
      - run: cp /src/* /out/
`;
}

export async function benchSharedCache(context: BenchContext): Promise<CaseResult> {
  const megabytes = context.quick ? 40 : 200;
  const dir = await mkdtemp(join(context.workDir, 'shared-'));
  const project = join(dir, 'app');
  await mkdir(join(project, 'src'), { recursive: true });
  await writeFile(join(project, 'src', 'a.txt'), 'a\n');
  await writeFile(join(project, 'kiln.yaml'), stepFile(megabytes));
  // The cold runs change a source of a project of their own each time, so that each has new keys to
  // upload; the hits' project never changes.
  const coldProject = join(dir, 'cold');
  await mkdir(join(coldProject, 'src'), { recursive: true });
  await writeFile(join(coldProject, 'kiln.yaml'), stepFile(megabytes));
  const url = (await commandOutput('bash', [SERVER, 'start'])).trim().split('\n').pop()!;
  const served = (await commandOutput('bash', [SERVER, 'dir'])).trim();
  const prefix = `bench-${Date.now()}`;
  const cacheUrl = `${url}/${prefix}`;
  const envOf = (state: string, shared: boolean): NodeJS.ProcessEnv => ({
    ...context.env,
    KILN_STATE_DIR: join(dir, state),
    ...(shared ? { KILN_CACHE_URL: cacheUrl } : { KILN_CACHE_URL: '' }),
  });
  let stateCount = 0;
  const fresh = () => `state-${stateCount++}`;
  try {
    context.log(`shared-cache: seeding the server with a ${megabytes} MB output`);
    const seedState = fresh();
    await eventedRun({ args: [], cwd: project, env: envOf(seedState, true) });
    const blobs = await readdir(join(served, prefix, 'cas'));
    const blobSizes = await Promise.all(
      blobs.map(async (b) => ({
        b,
        size: Number((await commandOutput('stat', ['-c', '%s', join(served, prefix, 'cas', b)])).trim()),
      })),
    );
    const bigBlob = blobSizes.sort((x, y) => y.size - x.size)[0]!;

    const variants: Variant[] = [
      {
        name: 'local hit',
        async run() {
          const r = await eventedRun({ args: [], cwd: project, env: envOf(seedState, true) });
          return { localHit: r.wallMs };
        },
      },
      {
        name: 'remote hit',
        async run() {
          const r = await eventedRun({ args: [], cwd: project, env: envOf(fresh(), true) });
          if ([...r.status.values()].some((s) => s !== 'cached'))
            throw new Error('a job ran on a remote hit');
          return { remoteHit: r.wallMs };
        },
      },
      {
        name: 'curl',
        async run() {
          const out = join(dir, 'curl.blob');
          const started = performance.now();
          await commandOutput('curl', ['-sf', '-o', out, `${cacheUrl}/cas/${bigBlob.b}`]);
          const ms = performance.now() - started;
          await rm(out, { force: true });
          return { curl: ms };
        },
      },
      {
        name: 'cold with upload',
        async run() {
          await writeFile(join(coldProject, 'src', 'a.txt'), `a ${Math.random()}\n`);
          const r = await eventedRun({ args: [], cwd: coldProject, env: envOf(fresh(), true) });
          return { coldShared: r.wallMs };
        },
      },
      {
        name: 'cold without',
        async run() {
          await writeFile(join(coldProject, 'src', 'a.txt'), `a ${Math.random()}\n`);
          const r = await eventedRun({ args: [], cwd: coldProject, env: envOf(fresh(), false) });
          return { coldLocal: r.wallMs };
        },
      },
    ];
    const { samples, retries } = await runRounds(context, 'shared-cache', variants);
    const of = (key: string) => samplesOf(samples, key);
    const local = metric('local-hit rerun: wall', 'ms', of('localHit'));
    const remote = metric(
      `remote-hit rerun (empty state folder, ${megabytes} MB + a small output): wall`,
      'ms',
      of('remoteHit'),
    );
    const curl = metric(
      `curl of the ${Math.round(bigBlob.size / 1e6)} MB blob from the same server`,
      'ms',
      of('curl'),
    );
    const downloads = of('remoteHit').map((ms, i) => ms - of('localHit')[i]!);
    const download = metric(
      'the download in a remote hit: remote-hit rerun − local-hit rerun',
      'ms',
      downloads,
    );
    const coldShared = metric('cold run uploading to the shared cache: wall', 'ms', of('coldShared'));
    const coldLocal = metric('cold run without a shared cache: wall', 'ms', of('coldLocal'));
    return {
      id: 'shared-cache',
      title: 'Shared cache over HTTP',
      setup:
        `nginx WebDAV on a loopback port (scripts/cache-server.sh); a project of two jobs, one with a ` +
        `${megabytes} MB output of random bytes; ${context.repetitions} repetitions, interleaved.`,
      params: { megabytes, blobBytes: bigBlob.size },
      metrics: [local, remote, download, curl, coldShared, coldLocal],
      ratios: [
        ratio('remote-hit rerun / local-hit rerun', remote, local),
        ratio('download in a remote hit / curl of its blob', download, curl, atMost(1.5)),
        ratio('cold run with upload / without a shared cache', coldShared, coldLocal, atMost(1.1)),
      ],
      notes: [
        'The download in a remote hit is the remote-hit rerun less the local-hit rerun of the same repetition: fetching the blobs and checking their sha256, unpacking them into fresh volumes through the engine, checking their content digests, sealing; curl only writes the blob to disk.',
        ...retries,
      ],
    };
  } finally {
    await rm(join(served, prefix), { recursive: true, force: true }).catch(() => {});
    for (const name of ['app', 'cold']) {
      const projectName = await readProjectName(join(dir, name));
      if (projectName) await removeProjectVolumes(context.docker, projectName).catch(() => 0);
    }
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    await commandOutput('bash', [SERVER, 'stop']).catch(() => '');
  }
}

/** The project name kiln gives the bench's project (from its step file's folder), via kiln graph --format json. */
async function readProjectName(projectDir: string): Promise<string | undefined> {
  try {
    const out = await commandOutput(process.execPath, [
      join(REPO_ROOT, 'bin', 'kiln.js'),
      'graph',
      '--format',
      'json',
      '-f',
      join(projectDir, 'kiln.yaml'),
    ]);
    return (JSON.parse(out) as { project?: string }).project;
  } catch {
    return undefined;
  }
}
