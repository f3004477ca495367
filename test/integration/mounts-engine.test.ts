/**
 * prepareMounts against the real engine: the mounts it returns, given to containers made here, behave
 * as a job's steps need (read-only binds, executable tmpfs, caches that persist, locks, private slots).
 */
import test, { type ExecutionContext } from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CompiledContainerMount } from '../../src/graph/types.js';
import { cacheVolumeName } from '../../src/mounts/cache-volume-name.js';
import { cacheUsagePath } from '../../src/mounts/cache-usage.js';
import {
  bindMount,
  cacheMount,
  engine,
  execIn,
  mountsProject,
  removeProjectVolumes,
  secretMount,
  startContainer,
  step,
  tmpfsMount,
} from '../helpers/mounts-fixtures.js';

const kiln = engine();
const { docker } = kiln;

/** A project of this test on the real engine; its volumes are removed at the end. */
async function setup(t: ExecutionContext, env: NodeJS.ProcessEnv = {}) {
  const project = await mountsProject(t, { volumes: kiln.volumes, env });
  t.teardown(() => removeProjectVolumes(docker, project.project));
  return project;
}

test('a read-only bind can be read but not written', async (t) => {
  const { dir, prepare } = await setup(t);
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'src', 'hello.txt'), 'hello from the host\n');
  const { prepared } = await prepare('build', [bindMount(join(dir, 'src'), '/src', { readonly: true })]);
  const container = await startContainer(t, docker, prepared);
  t.is((await execIn(container, ['cat', '/src/hello.txt'])).stdout, 'hello from the host\n');
  const write = await execIn(container, ['sh', '-c', 'echo x > /src/new.txt']);
  t.not(write.exitCode, 0);
  t.regex(write.stderr, /Read-only file system/);
});

test('a tmpfs can run a program written into it, has its size, and holds binds mounted inside it', async (t) => {
  const { dir, prepare } = await setup(t);
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'src', 'input'), 'in\n');
  const { prepared } = await prepare('build', [
    tmpfsMount('/build', { sizeBytes: 8 * 1024 * 1024 }),
    bindMount(join(dir, 'src'), '/build/src', { readonly: true }),
  ]);
  const container = await startContainer(t, docker, prepared);
  const run = await execIn(container, [
    'sh',
    '-c',
    'printf "#!/bin/sh\\necho built and ran\\n" > /build/tool && chmod +x /build/tool && /build/tool',
  ]);
  t.is(run.stdout, 'built and ran\n', run.stderr);
  t.is(run.exitCode, 0);
  const df = await execIn(container, ['df', '-k', '/build']);
  t.regex(df.stdout, /tmpfs\s+8192\s/);
  t.is((await execIn(container, ['stat', '-c', '%a', '/build'])).stdout.trim(), '1777');
  t.is((await execIn(container, ['cat', '/build/src/input'])).stdout, 'in\n');
});

test('a cache volume keeps its files from one job container to the next, and records its use', async (t) => {
  const { project, state, prepare, events } = await setup(t);
  const cache: CompiledContainerMount = cacheMount('deps', { target: '/cache' });
  const volume = cacheVolumeName(project, 'deps');

  const first = await prepare('build', [cache]);
  t.deepEqual(first.prepared.mounts, [
    { Type: 'volume', Source: volume, Target: '/cache', ReadOnly: false, VolumeOptions: { NoCopy: false } },
  ]);
  const one = await startContainer(t, docker, first.prepared);
  t.is((await execIn(one, ['sh', '-c', 'echo kept > /cache/file'])).exitCode, 0);
  await one.remove({ force: true });
  await first.stack.release();

  const second = await prepare('build', [cache]);
  const two = await startContainer(t, docker, second.prepared);
  t.is((await execIn(two, ['cat', '/cache/file'])).stdout, 'kept\n');

  const info = await docker.getVolume(volume).inspect();
  t.like(info.Labels, {
    'dev.kiln.managed': 'true',
    'dev.kiln.scope': 'cache',
    'dev.kiln.cache': 'deps',
    'dev.kiln.project': project,
  });
  t.is(info.Labels['dev.kiln.run'], undefined);
  const usage = JSON.parse(await readFile(cacheUsagePath(state, volume), 'utf8'));
  t.like(usage, { project, id: 'deps' });
  t.true(Date.now() - Date.parse(usage.lastUsed) < 60_000);
  t.true(events.some((e) => e.type === 'mount.prepare' && e.mount === 'cache' && e.source === volume));
});

test('a read-only cache cannot be written', async (t) => {
  const { prepare } = await setup(t);
  const { prepared } = await prepare('build', [cacheMount('ro', { target: '/cache', readonly: true })]);
  const container = await startContainer(t, docker, prepared);
  t.not((await execIn(container, ['touch', '/cache/x'])).exitCode, 0);
});

test('two jobs on one locked cache never use it at the same time, and the waiter says who holds it', async (t) => {
  const { prepare, events } = await setup(t);
  const cache: CompiledContainerMount = cacheMount('ccache', { target: '/cache', sharing: 'locked' });
  const intervals: Record<string, [number, number]> = {};
  const runJob = async (name: string) => {
    const { prepared, stack } = await prepare(name, [cache]);
    const start = Date.now();
    const container = await startContainer(t, docker, prepared);
    await execIn(container, [
      'sh',
      '-c',
      `echo ${name}-start >> /cache/log; sleep 0.5; echo ${name}-end >> /cache/log`,
    ]);
    await container.remove({ force: true });
    intervals[name] = [start, Date.now()];
    await stack.release();
  };
  await Promise.all([runJob('alpha'), runJob('beta')]);

  const [a, b] = [intervals.alpha!, intervals.beta!];
  t.true(a[1] <= b[0] || b[1] <= a[0], `alpha ${a} and beta ${b} overlap`);
  const reader = await prepare('reader', [{ ...cache, sharing: 'shared' }]);
  const container = await startContainer(t, docker, reader.prepared);
  const log = (await execIn(container, ['cat', '/cache/log'])).stdout.trim().split('\n');
  t.true(
    JSON.stringify(log) === JSON.stringify(['alpha-start', 'alpha-end', 'beta-start', 'beta-end']) ||
      JSON.stringify(log) === JSON.stringify(['beta-start', 'beta-end', 'alpha-start', 'alpha-end']),
    log.join(','),
  );
  const waits = events.filter((e) => e.type === 'mount.wait');
  t.true(waits.length >= 1);
  const wait = waits[0]!;
  if (wait.type !== 'mount.wait') return;
  const holder = wait.job === 'alpha' ? 'beta' : 'alpha';
  t.is(wait.cache, 'ccache');
  t.is(wait.holder, `job ${holder} of run run-it (pid ${process.pid})`);
});

test('a private cache gives a concurrent user its own volume, and frees its slot on release', async (t) => {
  const { project, prepare } = await setup(t);
  const cache: CompiledContainerMount = cacheMount('npm', { target: '/cache', sharing: 'private' });
  const first = await prepare('one', [cache]);
  const second = await prepare('two', [cache]);
  t.is(first.prepared.mounts[0]!.Source, cacheVolumeName(project, 'npm'));
  t.is(second.prepared.mounts[0]!.Source, cacheVolumeName(project, 'npm', 1));
  const info = await docker.getVolume(cacheVolumeName(project, 'npm', 1)).inspect();
  t.like(info.Labels, { 'dev.kiln.scope': 'cache', 'dev.kiln.cache': 'npm' });
  await first.stack.release();
  const third = await prepare('three', [cache]);
  t.is(third.prepared.mounts[0]!.Source, cacheVolumeName(project, 'npm'));
});

test('a secret from the environment is handed over for its step, and its event carries only the id', async (t) => {
  const { prepare, events } = await setup(t, { DEPLOY_TOKEN: 'tok-4f9a-very-secret' });
  const { prepared } = await prepare('deploy', [], {
    steps: [step(0, [secretMount('deploy-token', { env: 'TOKEN' })])],
    secrets: { 'deploy-token': { env: 'DEPLOY_TOKEN' } },
  });
  t.is(prepared.steps[0]!.secrets[0]!.value.toString(), 'tok-4f9a-very-secret');
  const event = events.find((e) => e.type === 'mount.prepare' && e.mount === 'secret');
  t.like(event, {
    job: 'deploy',
    step: 'step-1',
    source: 'deploy-token',
    target: '/run/secrets/deploy-token',
  });
  t.false(JSON.stringify(events).includes('tok-4f9a'));
});
