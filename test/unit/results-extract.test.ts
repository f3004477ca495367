import test from 'ava';
import { mkdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { ExportError } from '../../src/results/errors.js';
import { extractInto } from '../../src/runtime/output-volumes.js';
import { tempDir } from '../helpers/mounts-fixtures.js';

/** A Docker-style archive (every entry under `out/`), entries in the order given. */
function archive(entries: ReadonlyArray<Partial<tar.Header> & { name: string; body?: string }>): Readable {
  const pack = tar.pack();
  for (const { body, ...header } of entries)
    pack.entry({ ...header, name: `out/${header.name}` }, body ?? '');
  pack.finalize();
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

async function emptyRoot(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const root = join(await tempDir(t, 'kiln-extract-'), 'root');
  await mkdir(root);
  return root;
}

test('an archive is extracted with its modes, links and unlisted parent folders, read-only folders filled', async (t) => {
  const root = await emptyRoot(t);
  const warnings = await extractInto(
    archive([
      { name: '', type: 'directory', mode: 0o750 },
      { name: 'ro', type: 'directory', mode: 0o555 },
      { name: 'ro/a', body: 'alpha', mode: 0o640 },
      { name: 'deep/er/b', body: 'beta', mode: 0o755 },
      { name: 'link', type: 'symlink', linkname: 'ro/a' },
      { name: 'hard', type: 'link', linkname: 'out/ro/a' },
      { name: 'fifo', type: 'fifo' },
    ]),
    root,
    owner,
  );
  t.is(await readFile(join(root, 'ro/a'), 'utf8'), 'alpha');
  t.is((await stat(join(root, 'ro'))).mode & 0o777, 0o555);
  t.is((await stat(join(root, 'ro/a'))).mode & 0o777, 0o640);
  t.is((await stat(join(root, 'deep/er'))).mode & 0o777, 0o755);
  t.is((await stat(root)).mode & 0o777, 0o750);
  t.is(await readlink(join(root, 'link')), 'ro/a');
  t.is((await stat(join(root, 'hard'))).ino, (await stat(join(root, 'ro/a'))).ino);
  t.deepEqual(warnings, ['fifo (fifo) was not exported: only files, folders and links are']);
});

test('an entry through a symlink of the archive is refused, never written through it', async (t) => {
  const root = await emptyRoot(t);
  const outside = await tempDir(t, 'kiln-extract-outside-');
  const error = await t.throwsAsync(
    extractInto(
      archive([
        { name: 'escape', type: 'symlink', linkname: outside },
        { name: 'escape/planted', body: 'x' },
      ]),
      root,
      owner,
    ),
    { instanceOf: ExportError },
  );
  t.regex(error!.message, /lies under a non-folder/);
});

test('a hard link to a file the archive did not extract is refused', async (t) => {
  const root = await emptyRoot(t);
  await t.throwsAsync(
    extractInto(archive([{ name: 'hard', type: 'link', linkname: 'out/missing' }]), root, owner),
    { instanceOf: ExportError, message: /names no file/ },
  );
});

test('a later entry may replace a file but not a folder', async (t) => {
  const root = await emptyRoot(t);
  await extractInto(
    archive([
      { name: 'a', body: 'one' },
      { name: 'a', body: 'two' },
    ]),
    root,
    owner,
  );
  t.is(await readFile(join(root, 'a'), 'utf8'), 'two');
  const again = await emptyRoot(t);
  await t.throwsAsync(
    extractInto(
      archive([
        { name: 'd', type: 'directory' },
        { name: 'd', body: 'x' },
      ]),
      again,
      owner,
    ),
    { instanceOf: ExportError, message: /replaces a folder/ },
  );
});
