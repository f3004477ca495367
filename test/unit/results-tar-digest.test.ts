import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { link, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { tarDigest, tarEntryPath, UnsafeTarPathError } from '../../src/results/tar-digest.js';
import { treeDigest } from '../../src/results/tree-digest.js';
import { tempDir } from '../helpers/mounts-fixtures.js';
import { writeTree } from '../helpers/results-fixtures.js';

/** `tar -c` of a folder as Docker's archive endpoint gives it: every entry under the folder's name. */
function tarOf(folder: string, args: readonly string[] = []): Readable {
  const child = spawn('tar', ['-C', dirname(folder), ...args, '-cf', '-', basename(folder)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return child.stdout;
}

/** A tar stream made with tar-stream's packer, entries in the order given. */
function packed(
  entries: ReadonlyArray<{
    header: tar.Header | (Partial<tar.Header> & { name: string });
    body?: Buffer | string;
  }>,
): Readable {
  const pack = tar.pack();
  for (const { header, body } of entries) pack.entry(header, body ?? '');
  pack.finalize();
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

test('the digest of a tar of a folder equals the digest of the folder', async (t) => {
  const root = join(await tempDir(t, 'kiln-results-'), 'out');
  await writeTree(root, {
    'src/a.txt': 'alpha\n',
    'src/b/c.txt': 'gamma\n',
    'bin/run': { text: '#!/bin/sh\necho hi\n', mode: 0o755 },
    'bin/setuid': { text: 'x', mode: 0o4755 },
    link: { link: 'src/a.txt' },
    dangling: { link: '/nowhere/at/all' },
    'empty/': { mode: 0o700 },
    'big.bin': randomBytes(2 * 1024 * 1024).toString('base64'),
  });
  const fromTree = await treeDigest({ root });
  const fromTar = await tarDigest(tarOf(root));
  t.is(fromTar.digest, fromTree.digest);
  t.deepEqual(fromTar.entries, fromTree.entries);
  t.is(fromTar.size, fromTree.size);
  t.deepEqual(fromTar.warnings, []);
});

test('hard links in the tar are the files they link to', async (t) => {
  const root = join(await tempDir(t, 'kiln-results-'), 'out');
  await writeTree(root, { 'one.txt': 'same bytes' });
  await link(join(root, 'one.txt'), join(root, 'two.txt'));
  t.is((await tarDigest(tarOf(root))).digest, (await treeDigest({ root })).digest);
});

test('the order of entries in the tar does not change the digest', async (t) => {
  const entries = [
    { header: { name: 'out/', type: 'directory' as const, mode: 0o755 } },
    { header: { name: 'out/b.txt', mode: 0o644 }, body: 'b' },
    { header: { name: 'out/a/', type: 'directory' as const, mode: 0o750 } },
    { header: { name: 'out/a/x', mode: 0o600 }, body: 'x' },
  ];
  const forward = await tarDigest(packed(entries));
  const backward = await tarDigest(packed([...entries].reverse()));
  t.is(forward.digest, backward.digest);
  t.deepEqual(
    forward.entries.map((e) => e.path),
    ['a', 'a/x', 'b.txt'],
  );
});

test('mtimes and owners in the tar are not content', async (t) => {
  const one = await tarDigest(
    packed([{ header: { name: 'out/f', mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) }, body: 'f' }]),
  );
  const two = await tarDigest(
    packed([
      {
        header: { name: 'out/f', mode: 0o644, uid: 1000, gid: 1000, uname: 'me', mtime: new Date() },
        body: 'f',
      },
    ]),
  );
  t.is(one.digest, two.digest);
});

test('the leading folder name is stripped, so the same content under another name has the same digest', async (t) => {
  const base = await tempDir(t, 'kiln-results-');
  await writeTree(join(base, 'out'), { 'f.txt': 'f' });
  await writeTree(join(base, 'dist'), { 'f.txt': 'f' });
  t.is(
    (await tarDigest(tarOf(join(base, 'out')))).digest,
    (await tarDigest(tarOf(join(base, 'dist')))).digest,
  );
});

test('a tar of a single file digests like that file', async (t) => {
  const root = await tempDir(t, 'kiln-results-');
  await writeFile(join(root, 'app.bin'), 'binary');
  t.is(
    (await tarDigest(tarOf(join(root, 'app.bin')))).digest,
    (await treeDigest({ root: join(root, 'app.bin') })).digest,
  );
});

test('a name that climbs out of the root is refused', async (t) => {
  t.throws(() => tarEntryPath('out/../../etc/passwd', true), { instanceOf: UnsafeTarPathError });
  t.is(tarEntryPath('./out/./a//b/', true), 'a/b');
  t.is(tarEntryPath('out/', true), '');
  await t.throwsAsync(tarDigest(packed([{ header: { name: 'out/../x' }, body: 'x' }])), {
    instanceOf: UnsafeTarPathError,
  });
});

test('a tar stream cut short is an error, not a digest', async (t) => {
  const full: Buffer[] = [];
  for await (const chunk of packed([
    { header: { name: 'out/f' }, body: randomBytes(10_000) },
  ]) as AsyncIterable<Buffer>) {
    full.push(chunk);
  }
  const bytes = Buffer.concat(full);
  await t.throwsAsync(tarDigest(Readable.from([bytes.subarray(0, 4000)])));
});

test('memory stays flat: a tar of 64 MiB is digested without holding its content', async (t) => {
  const size = 64 * 1024 * 1024;
  const chunk = randomBytes(1024 * 1024);
  const pack = tar.pack();
  const entry = pack.entry({ name: 'out/big', size, mode: 0o644 });
  (async () => {
    for (let i = 0; i < size / chunk.length; i++) {
      if (!entry.write(chunk)) await new Promise<void>((resolve) => entry.once('drain', () => resolve()));
    }
    (entry as unknown as { end(): void }).end();
    pack.finalize();
  })().catch(() => {});
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const result = await tarDigest(Readable.from(pack as unknown as AsyncIterable<Buffer>));
  clearInterval(timer);
  t.is(result.size, size);
  t.true(peak - before < 48 * 1024 * 1024, `rss grew by ${((peak - before) / 1024 / 1024).toFixed(1)} MiB`);
});
