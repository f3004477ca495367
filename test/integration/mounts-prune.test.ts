/** listCaches and removeCaches (for `kiln prune`) against the real engine. */
import test, { type ExecutionContext } from 'ava';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { listCaches, removeCaches } from '../../src/mounts/index.js';
import { cacheVolumeName } from '../../src/mounts/cache-volume-name.js';
import { cacheUsagePath } from '../../src/mounts/cache-usage.js';
import type { CompiledCacheMount } from '../../src/graph/types.js';
import {
  cacheMount,
  engine,
  execIn,
  mountsProject,
  removeProjectVolumes,
  startContainer,
  tempDir,
} from '../helpers/mounts-fixtures.js';

const kiln = engine();
const { docker } = kiln;

const cache = (id: string, sharing: CompiledCacheMount['sharing']) => cacheMount(id, { sharing });

/** A project of its own, whose jobs run as run `runId` would; its volumes are removed at the end. */
async function pruneProject(t: ExecutionContext, runId: string) {
  const project = await mountsProject(t, { volumes: kiln.volumes, runId });
  t.teardown(() => removeProjectVolumes(docker, project.project));
  return project;
}

test('lists caches with size, last use and use, and removes only those not in use', async (t) => {
  const { project, env, prepare } = await pruneProject(t, 'run-prune');

  // idle: used once, 64 KiB written, released
  const idle = await prepare('fill', [cache('idle', 'shared')]);
  const filler = await startContainer(t, docker, idle.prepared);
  await execIn(filler, ['dd', 'if=/dev/zero', 'of=/idle/blob', 'bs=1024', 'count=64']);
  await filler.remove({ force: true });
  await idle.stack.release();
  // locked: its lock is held by a job of this process
  await prepare('holder', [cache('locked', 'locked')]);
  // mounted: a running container uses it after its job let go (as a reused container does)
  const mounted = await prepare('runner', [cache('mounted', 'shared')]);
  await startContainer(t, docker, mounted.prepared);
  await mounted.stack.release();

  const caches = (await listCaches(kiln.volumes, { env })).filter((c) => c.project === project);
  const byId = Object.fromEntries(caches.map((c) => [c.id, c]));
  t.deepEqual(Object.keys(byId).sort(), ['idle', 'locked', 'mounted']);
  t.like(byId.idle, { name: cacheVolumeName(project, 'idle'), inUse: false });
  t.true(byId.idle!.sizeBytes! >= 64 * 1024, `size ${byId.idle!.sizeBytes}`);
  t.true(Date.now() - Date.parse(byId.idle!.lastUsed!) < 60_000);
  t.like(byId.locked, { inUse: true, usedBy: `job holder of run run-prune (pid ${process.pid})` });
  t.like(byId.mounted, { inUse: true, usedBy: '1 container(s)' });

  const dry = await removeCaches(kiln.volumes, caches, { dryRun: true, env });
  t.deepEqual(
    dry.removed.map((c) => c.id),
    ['idle'],
  );
  await t.notThrowsAsync(docker.getVolume(cacheVolumeName(project, 'idle')).inspect());

  const done = await removeCaches(kiln.volumes, caches, { env });
  t.deepEqual(
    done.removed.map((c) => c.id),
    ['idle'],
  );
  t.deepEqual(done.kept.map((k) => [k.cache.id, k.reason]).sort(), [
    ['locked', `in use by job holder of run run-prune (pid ${process.pid})`],
    ['mounted', 'in use by 1 container(s)'],
  ]);
  await t.throwsAsync(docker.getVolume(cacheVolumeName(project, 'idle')).inspect(), {
    message: /no such volume/,
  });
  await t.throwsAsync(access(cacheUsagePath(env.KILN_STATE_DIR, cacheVolumeName(project, 'idle'))));
});

test('a cache that became busy after it was listed is kept', async (t) => {
  const { project, env, prepare } = await pruneProject(t, 'r');
  await (await prepare('late', [cache('c', 'shared')])).stack.release();
  const listed = (await listCaches(kiln.volumes, { env })).filter((c) => c.project === project);
  t.is(listed.length, 1);
  // now a locked user takes it
  await prepare('late', [cache('c', 'locked')]);
  const result = await removeCaches(kiln.volumes, listed, { env });
  t.deepEqual(result.removed, []);
  t.regex(result.kept[0]!.reason, /^in use by job late of run r/);
});

test('a shared cache whose job is about to mount it is kept by prune, and removed once the job let go', async (t) => {
  const { project, env, prepare } = await pruneProject(t, 'r-start');
  const { stack } = await prepare('starting', [cache('warm', 'shared')]);
  // The volume exists and no container mounts it yet: the moment a prune could take it away.
  const listed = (await listCaches(kiln.volumes, { env })).filter((c) => c.project === project);
  t.like(listed[0], { id: 'warm', inUse: true, usedBy: `job starting of run r-start (pid ${process.pid})` });
  const kept = await removeCaches(kiln.volumes, [{ ...listed[0]!, inUse: false }], { env });
  t.deepEqual(kept.removed, []);
  t.is(kept.kept[0]!.reason, `in use by job starting of run r-start (pid ${process.pid})`);
  await t.notThrowsAsync(docker.getVolume(cacheVolumeName(project, 'warm')).inspect());

  await stack.release();
  const after = (await listCaches(kiln.volumes, { env })).filter((c) => c.project === project);
  t.like(after[0], { inUse: false });
  const done = await removeCaches(kiln.volumes, after, { env });
  t.deepEqual(
    done.removed.map((c) => c.id),
    ['warm'],
  );
});

test('caches can be listed by several clients at once (the engine computes one disk usage at a time)', async (t) => {
  const dir = await tempDir(t);
  const env = { KILN_STATE_DIR: join(dir, '.state') };
  const lists = await Promise.all(Array.from({ length: 12 }, () => listCaches(kiln.volumes, { env })));
  t.is(new Set(lists.map((list) => list.length)).size, 1, 'every client sees the same caches');
});
