/**
 * Cache volumes without an engine: made, found, refused, locked, given private slots, listed and
 * pruned, on in-memory volumes (the Docker paths have their tests in test/integration/mounts-*).
 */
import test, { type ExecutionContext } from 'ava';
import { MountError } from '../../src/errors.js';
import type { CompiledCacheMount } from '../../src/graph/types.js';
import { cacheVolumeName } from '../../src/mounts/cache-volume-name.js';
import { cacheVolumeLabels, listCaches, removeCaches } from '../../src/mounts/cache-volumes.js';
import { MemoryVolumes } from '../helpers/fake-runtime.js';
import { cacheMount, mountsProject } from '../helpers/mounts-fixtures.js';

const cache = (id: string, sharing: CompiledCacheMount['sharing'] = 'shared') => cacheMount(id, { sharing });

async function setup(t: ExecutionContext) {
  const volumes = new MemoryVolumes();
  const project = await mountsProject(t, { volumes, project: 'p-1', runId: 'run-1' });
  return { ...project, volumes };
}

test('a cache volume is made once, labelled as the project’s cache, and found by the next job', async (t) => {
  const { volumes, prepare } = await setup(t);
  const volume = cacheVolumeName('p-1', 'deps');
  await prepare('one', [cache('deps')]);
  await prepare('two', [cache('deps')]);
  t.deepEqual(volumes.names, [volume]);
  t.deepEqual(
    volumes.calls.filter((c) => c.startsWith('create')),
    [`create ${volume}`],
  );
  t.deepEqual((await volumes.inspect(volume))?.labels, cacheVolumeLabels('p-1', 'deps'));
});

test('a volume of the cache’s name that is not that cache is refused, not shared', async (t) => {
  const { volumes, prepare } = await setup(t);
  const volume = cacheVolumeName('p-1', 'deps');
  volumes.add(volume, { owner: 'someone else' });
  const error = await t.throwsAsync(prepare('build', [cache('deps')]), { instanceOf: MountError });
  t.is(
    error!.message,
    `job build, mount cache deps -> /deps: volume ${volume} exists but is not cache deps of project p-1; ` +
      `remove it (docker volume rm ${volume}) or use another cache id`,
  );
});

test('a private cache in use gives the next job its own slot, and slot 0 again once released', async (t) => {
  const { prepare } = await setup(t);
  const first = await prepare('one', [cache('npm', 'private')]);
  const second = await prepare('two', [cache('npm', 'private')]);
  t.is(first.prepared.mounts[0]!.Source, cacheVolumeName('p-1', 'npm'));
  t.is(second.prepared.mounts[0]!.Source, cacheVolumeName('p-1', 'npm', 1));
  await first.stack.release();
  const third = await prepare('three', [cache('npm', 'private')]);
  t.is(third.prepared.mounts[0]!.Source, cacheVolumeName('p-1', 'npm'));
});

test('a locked cache makes the next job wait, saying who holds it, until the holder lets go', async (t) => {
  const { prepare, eventWhere } = await setup(t);
  const holder = await prepare('holder', [cache('ccache', 'locked')]);
  const waiter = prepare('waiter', [cache('ccache', 'locked')]);
  const wait = await eventWhere((e) => e.type === 'mount.wait');
  t.like(wait, { job: 'waiter', cache: 'ccache', holder: `job holder of run run-1 (pid ${process.pid})` });
  await holder.stack.release();
  const { prepared } = await waiter;
  t.is(prepared.mounts[0]!.Source, cacheVolumeName('p-1', 'ccache'));
});

test('caches are listed with size, last use and users; only those nobody uses are removed', async (t) => {
  const { volumes, prepare, env } = await setup(t);
  const [idle, locked, mounted] = ['idle', 'locked', 'mounted'].map((id) => cacheVolumeName('p-1', id));
  await (await prepare('fill', [cache('idle')])).stack.release();
  await prepare('holder', [cache('locked', 'locked')]);
  await (await prepare('runner', [cache('mounted')])).stack.release();
  volumes.sizes.set(idle!, 65_536);
  volumes.mounted.set(mounted!, 1);

  const caches = await listCaches(volumes, { env });
  t.deepEqual(
    caches.map((c) => [c.id, c.inUse, c.usedBy]),
    [
      ['idle', false, undefined],
      ['locked', true, `job holder of run run-1 (pid ${process.pid})`],
      ['mounted', true, '1 container(s)'],
    ],
  );
  t.is(caches[0]!.sizeBytes, 65_536);
  t.true(Date.now() - Date.parse(caches[0]!.lastUsed!) < 60_000);

  const dry = await removeCaches(volumes, caches, { env, dryRun: true });
  t.deepEqual(
    dry.removed.map((c) => c.id),
    ['idle'],
  );
  t.true(volumes.has(idle!));
  const done = await removeCaches(volumes, caches, { env });
  t.deepEqual(
    done.removed.map((c) => c.id),
    ['idle'],
  );
  t.deepEqual(volumes.names, [locked, mounted]);
});

test('a cache a container mounted after it was listed is kept', async (t) => {
  const { volumes, prepare, env } = await setup(t);
  await (await prepare('fill', [cache('late')])).stack.release();
  const listed = await listCaches(volumes, { env });
  volumes.mounted.set(cacheVolumeName('p-1', 'late'), 1);
  const result = await removeCaches(volumes, listed, { env });
  t.deepEqual(result.removed, []);
  t.deepEqual(
    result.kept.map((k) => k.reason),
    ['in use by a container'],
  );
});
