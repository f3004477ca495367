/**
 * Source volumes on a remote engine (runtime/source-volumes.ts), against in-memory volumes and a
 * container runtime that only records what is put into it: a complete volume is found by its digest and
 * nothing is sent; a mark is made only after the upload, and a mark without its content is not trusted.
 */
import { Readable } from 'node:stream';
import test from 'ava';
import type { ContainerRuntime } from '../../src/runtime/containers.js';
import type { Engine } from '../../src/runtime/engine.js';
import {
  findSourceVolume,
  pruneSourceVolumes,
  shipSource,
  sourceMarkName,
} from '../../src/runtime/source-volumes.js';
import { MemoryVolumes } from '../helpers/fake-runtime.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** An engine with in-memory volumes whose containers take archives (or fail to, when told). */
function engine(
  options: { failPut?: boolean; onPut?: () => Promise<void>; createSaysCreated?: boolean } = {},
) {
  const volumes = new MemoryVolumes();
  if (options.createSaysCreated) {
    const create = volumes.create.bind(volumes);
    volumes.create = async (name, labels) => (await create(name, labels), 'created');
  }
  const put: string[] = [];
  const containers = {
    create: async () => `c${put.length}`,
    remove: async () => 'removed' as const,
    async putArchive(_id: string, path: string, tar: Readable) {
      let bytes = 0;
      for await (const chunk of tar) bytes += (chunk as Buffer).length;
      await options.onPut?.();
      if (options.failPut) throw new Error('the engine went away');
      put.push(`${path} ${bytes}`);
    },
  } as unknown as ContainerRuntime;
  return {
    engine: { volumes, containers, endpoint: 'test', remote: true } as unknown as Engine,
    volumes,
    put,
  };
}

const ship = (e: Engine, bytes = 1000) =>
  shipSource(e, {
    digest: DIGEST,
    tar: () => Readable.from([Buffer.alloc(bytes)]),
    image: 'sha256:image',
    runId: 'run-1',
    project: 'p',
    job: 'j',
  });

test('a tree the engine lacks is uploaded, then marked complete; the next time nothing is sent', async (t) => {
  const { engine: e, volumes, put } = engine();
  const first = await ship(e);
  t.is(first.uploadedBytes, 1000);
  t.deepEqual(put, ['/kiln-source 1000']);
  const mark = await volumes.inspect(sourceMarkName(DIGEST));
  t.is(mark?.labels['dev.kiln.content'], first.volume);
  const creates = volumes.calls.filter((c) => c.startsWith('create '));
  t.deepEqual(creates, [`create ${first.volume}`, `create ${sourceMarkName(DIGEST)}`], 'the mark comes last');
  const second = await ship(e);
  t.deepEqual(second, { volume: first.volume, uploadedBytes: 0 });
  t.is(put.length, 1);
});

test('an upload that fails leaves no mark and no content volume', async (t) => {
  const { engine: e, volumes } = engine({ failPut: true });
  await t.throwsAsync(ship(e), { message: /went away/ });
  t.deepEqual(volumes.names, []);
});

test('a mark whose content volume is gone is not trusted: it is removed and the tree sent again', async (t) => {
  const { engine: e, volumes, put } = engine();
  const first = await ship(e);
  await volumes.remove(first.volume);
  t.is(await findSourceVolume(e, DIGEST), undefined);
  t.false(volumes.has(sourceMarkName(DIGEST)));
  const again = await ship(e);
  t.is(again.uploadedBytes, 1000);
  t.is(put.length, 2);
});

test('when another kiln marks the same content first, its volume is used and ours removed', async (t) => {
  const { engine: e, volumes } = engine({
    // As Docker does: a second create of a name answers as if it made it.
    createSaysCreated: true,
    onPut: async () => {
      volumes.add('theirs', { 'dev.kiln.digest': DIGEST });
      volumes.add(sourceMarkName(DIGEST), { 'dev.kiln.digest': DIGEST, 'dev.kiln.content': 'theirs' });
    },
  });
  const shipped = await ship(e);
  t.is(shipped.volume, 'theirs');
  t.deepEqual(volumes.names, [sourceMarkName(DIGEST), 'theirs']);
});

test('prune removes old marks before their content, keeps those in use, and leaves young ones', async (t) => {
  const { engine: e, volumes } = engine();
  const labels = (extra: Record<string, string>) => ({
    'dev.kiln.managed': 'true',
    'dev.kiln.scope': 'source',
    'dev.kiln.project': 'p',
    ...extra,
  });
  const old = '2020-01-01T00:00:00Z';
  volumes.add('c-old', labels({ 'dev.kiln.digest': 'sha256:1' }), old);
  volumes.add('m-old', labels({ 'dev.kiln.digest': 'sha256:1', 'dev.kiln.content': 'c-old' }), old);
  volumes.add('c-used', labels({ 'dev.kiln.digest': 'sha256:2' }), old);
  volumes.add('m-used', labels({ 'dev.kiln.digest': 'sha256:2', 'dev.kiln.content': 'c-used' }), old);
  volumes.mounted.set('c-used', 1);
  volumes.add('c-new', labels({ 'dev.kiln.digest': 'sha256:3' }), new Date().toISOString());
  volumes.add(
    'm-new',
    labels({ 'dev.kiln.digest': 'sha256:3', 'dev.kiln.content': 'c-new' }),
    new Date().toISOString(),
  );
  const pruned = await pruneSourceVolumes(e, { olderThanMs: 14 * 24 * 3600 * 1000 });
  t.deepEqual(
    pruned.removed.map((v) => v.name),
    ['m-old'],
  );
  t.deepEqual(
    pruned.kept.map((v) => v.name),
    ['m-used'],
  );
  t.deepEqual(volumes.names, ['c-new', 'c-used', 'm-new', 'm-used']);
  const removals = volumes.calls.filter((c) => c.startsWith('remove '));
  t.deepEqual(removals, ['remove m-old', 'remove c-old'], 'the mark goes first');
});
