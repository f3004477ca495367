import test from 'ava';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createFileAtomic,
  removeIfOlder,
  removeStaleTemps,
  tempSibling,
  writeFileAtomic,
} from '../../src/results/atomic-file.js';
import { tempDir } from '../helpers/mounts-fixtures.js';

test('writeFileAtomic replaces the file, creates its folder and leaves no temporary sibling', async (t) => {
  const dir = await tempDir(t, 'kiln-atomic-');
  const path = join(dir, 'sub', 'file');
  await writeFileAtomic(path, 'one', { fsync: false });
  await writeFileAtomic(path, 'two');
  t.is(await readFile(path, 'utf8'), 'two');
  t.deepEqual(await readdir(join(dir, 'sub')), ['file']);
});

test('createFileAtomic creates a missing file, leaves an existing one alone, and leaves no temporary sibling', async (t) => {
  const dir = await tempDir(t, 'kiln-atomic-');
  const path = join(dir, 'file');
  t.true(await createFileAtomic(path, 'first'));
  t.false(await createFileAtomic(path, 'second'));
  t.is(await readFile(path, 'utf8'), 'first');
  t.deepEqual(await readdir(dir), ['file']);
});

test('removeStaleTemps removes only temporary siblings older than the age it is given', async (t) => {
  const dir = await tempDir(t, 'kiln-atomic-');
  const old = tempSibling(join(dir, 'a'));
  const young = tempSibling(join(dir, 'b'));
  await Promise.all([writeFile(old, ''), writeFile(young, ''), writeFile(join(dir, 'c'), '')]);
  const hourAgo = new Date(Date.now() - 3_600_000);
  await Promise.all([utimes(old, hourAgo, hourAgo), utimes(join(dir, 'c'), hourAgo, hourAgo)]);
  t.is(await removeStaleTemps(dir, 60_000), 1);
  t.deepEqual((await readdir(dir)).sort(), [young.slice(dir.length + 1), 'c'].sort());
  t.false(await removeIfOlder(join(dir, 'gone'), 0), 'a missing file is not an error');
});
