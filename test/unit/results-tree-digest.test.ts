import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  chown,
  copyFile,
  mkdir,
  readFile,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { CancelledError } from '../../src/errors.js';
import { excludeRules, loadExcludeRules } from '../../src/results/ignore-rules.js';
import { treeDigest } from '../../src/results/tree-digest.js';
import { compareTreePaths, decodeListing, encodeListing, listingOf } from '../../src/results/tree-format.js';
import { tempDir } from '../helpers/mounts-fixtures.js';
import { ageIndex, nsFromNow, writeTree } from '../helpers/results-fixtures.js';

const SAMPLE = {
  'src/': '',
  'src/a.txt': 'alpha\n',
  'src/b/c.txt': 'gamma\n',
  'src/run.sh': { text: '#!/bin/sh\n', mode: 0o755 },
  'src/link': { link: 'a.txt' },
  'empty/': '',
};

async function sample(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t, 'kiln-results-');
  await writeTree(root, SAMPLE);
  return root;
}

test('the listing holds every entry in tree order with type, mode and content', async (t) => {
  const root = await sample(t);
  const { entries } = await treeDigest({ root });
  t.deepEqual(
    entries.map((e) => [e.path, e.type, e.mode.toString(8), e.content?.slice(0, 8)]),
    [
      ['empty', 'dir', '755', undefined],
      ['src', 'dir', '755', undefined],
      ['src/a.txt', 'file', '644', createHash('sha256').update('alpha\n').digest('hex').slice(0, 8)],
      ['src/b', 'dir', '755', undefined],
      ['src/b/c.txt', 'file', '644', createHash('sha256').update('gamma\n').digest('hex').slice(0, 8)],
      ['src/link', 'symlink', '0', 'a.txt'],
      ['src/run.sh', 'file', '755', createHash('sha256').update('#!/bin/sh\n').digest('hex').slice(0, 8)],
    ],
  );
});

test('mtimes and owners are not content: touching or chowning a file keeps the digest', async (t) => {
  const root = await sample(t);
  const before = await treeDigest({ root });
  await utimes(join(root, 'src/a.txt'), new Date(0), new Date(0));
  if (process.getuid?.() === 0) await chown(join(root, 'src/b/c.txt'), 4321, 4321);
  t.is((await treeDigest({ root })).digest, before.digest);
});

test('file content, permission bits and symlink targets are content', async (t) => {
  const root = await sample(t);
  const digests = new Set([(await treeDigest({ root })).digest]);
  await writeFile(join(root, 'src/a.txt'), 'ALPHA\n');
  digests.add((await treeDigest({ root })).digest);
  await chmod(join(root, 'src/b/c.txt'), 0o755);
  digests.add((await treeDigest({ root })).digest);
  await rm(join(root, 'src/link'));
  await symlink('b/c.txt', join(root, 'src/link'));
  digests.add((await treeDigest({ root })).digest);
  await chmod(join(root, 'empty'), 0o700);
  digests.add((await treeDigest({ root })).digest);
  t.is(digests.size, 5);
});

test('symlinks are not followed: what a link points to outside the tree is not content', async (t) => {
  const root = await tempDir(t, 'kiln-results-');
  const outside = await tempDir(t, 'kiln-outside-');
  await writeFile(join(outside, 'secret.txt'), 'one');
  await symlink(join(outside, 'secret.txt'), join(root, 'link'));
  const before = await treeDigest({ root });
  await writeFile(join(outside, 'secret.txt'), 'two, longer');
  t.is((await treeDigest({ root })).digest, before.digest);
});

test('the order files were created in (and a folder lists them in) does not change the digest', async (t) => {
  const one = await tempDir(t, 'kiln-results-');
  const two = await tempDir(t, 'kiln-results-');
  const names = Array.from({ length: 40 }, (_, i) => `f-${i}.txt`);
  for (const name of names) await writeFile(join(one, name), name);
  for (const name of [...names].reverse()) await writeFile(join(two, name), name);
  await chmod(one, 0o700); // the root folder's own mode is not content
  t.is((await treeDigest({ root: one })).digest, (await treeDigest({ root: two })).digest);
});

test('siblings sort by name with a folder right before its children (a, a/x, a-b)', async (t) => {
  const root = await tempDir(t, 'kiln-results-');
  await writeTree(root, { 'a-b': 'x', 'a/x': 'y', a0: 'z' });
  const paths = (await treeDigest({ root })).entries.map((e) => e.path);
  t.deepEqual(paths, ['a', 'a/x', 'a-b', 'a0']);
  t.deepEqual([...paths].sort(compareTreePaths), paths);
});

test('a file as root is one entry with an empty path', async (t) => {
  const root = await sample(t);
  const result = await treeDigest({ root: join(root, 'src/run.sh') });
  t.deepEqual(
    result.entries.map((e) => [e.path, e.type, e.mode]),
    [['', 'file', 0o755]],
  );
  t.is(result.size, '#!/bin/sh\n'.length);
});

test('a big file is read in chunks and digested like its bytes', async (t) => {
  const root = await tempDir(t, 'kiln-results-');
  const data = randomBytes(3 * 1024 * 1024 + 17);
  await writeFile(join(root, 'big.bin'), data);
  const { entries, size } = await treeDigest({ root });
  t.is(entries[0]!.content, createHash('sha256').update(data).digest('hex'));
  t.is(size, data.length);
});

test('exclude patterns are relative to the source; an excluded folder is not walked', async (t) => {
  const root = await sample(t);
  await writeTree(root, { 'build/out.o': 'obj', 'src/x.o': 'obj', 'src/keep.o': 'kept' });
  const rules = excludeRules(['build/', '*.o', '!keep.o', '/empty'], [], '');
  const result = await treeDigest({ root, rules });
  const paths = result.entries.map((e) => e.path);
  t.false(paths.includes('build'));
  t.false(paths.includes('build/out.o'));
  t.false(paths.includes('src/x.o'));
  t.false(paths.includes('empty'));
  t.true(paths.includes('src/keep.o'));
  t.is(result.counts.excluded, 3);
  // What is excluded does not change the digest.
  await writeFile(join(root, 'build/out.o'), 'another object');
  t.is((await treeDigest({ root, rules })).digest, result.digest);
});

test('.kilnignore at the project root applies, relative to the project, to a source inside it', async (t) => {
  const project = await sample(t);
  await writeTree(project, { '.kilnignore': '# build output\nsrc/b/\n*.log\n', 'src/debug.log': 'noise' });
  const root = join(project, 'src');
  const rules = await loadExcludeRules({ root, projectDir: project, exclude: ['run.sh'] });
  const paths = (await treeDigest({ root, rules })).entries.map((e) => e.path);
  t.deepEqual(paths, ['a.txt', 'link']);
  const without = await loadExcludeRules({ root, projectDir: project, kilnignore: false });
  t.true(without.empty);
});

test('.kilnignore does not apply to a source outside the project', async (t) => {
  const project = await tempDir(t, 'kiln-results-');
  await writeFile(join(project, '.kilnignore'), '*.txt\n');
  const outside = await sample(t);
  const rules = await loadExcludeRules({ root: outside, projectDir: project });
  t.true(rules.empty);
});

test('an unchanged tree is not read again once its stat index is old enough', async (t) => {
  const root = await sample(t);
  const indexPath = join(await tempDir(t, 'kiln-state-'), 'index.idx');
  const first = await treeDigest({ root, indexPath, scanStartNs: nsFromNow(60) });
  t.true(first.indexSaved);
  t.is(first.counts.missing, 3);
  await ageIndex(indexPath, 60);
  const second = await treeDigest({ root, indexPath, scanStartNs: nsFromNow(61) });
  t.is(second.digest, first.digest);
  t.like(second.counts, { trusted: 3, racy: 0, missing: 0, bytesRead: 0 });
  t.false(second.indexSaved);
});

test('racy-clean: a file whose mtime is not older than the index is read again, not trusted', async (t) => {
  const root = await sample(t);
  const indexPath = join(await tempDir(t, 'kiln-state-'), 'index.idx');
  const first = await treeDigest({ root, indexPath });
  // No time has passed: every file's mtime is within the index's own timestamp granularity.
  const second = await treeDigest({ root, indexPath });
  t.is(second.digest, first.digest);
  t.like(second.counts, { trusted: 0, racy: 3 });
  t.true(second.counts.bytesRead > 0);
});

test('a change that keeps size and mtime is still seen (the ctime moved)', async (t) => {
  const root = await sample(t);
  const indexPath = join(await tempDir(t, 'kiln-state-'), 'index.idx');
  const file = join(root, 'src/a.txt');
  const past = new Date(Date.now() - 3_600_000);
  await utimes(file, past, past);
  const first = await treeDigest({ root, indexPath, scanStartNs: nsFromNow(60) });
  await ageIndex(indexPath, 60);
  await writeFile(file, 'ALPHA\n');
  await utimes(file, past, past);
  const second = await treeDigest({ root, indexPath, scanStartNs: nsFromNow(61) });
  t.not(second.digest, first.digest);
  t.is(
    second.entries.find((e) => e.path === 'src/a.txt')!.content,
    createHash('sha256').update('ALPHA\n').digest('hex'),
  );
});

test('a damaged, cut short or foreign stat index is discarded with a warning, and the digest is right', async (t) => {
  const root = await sample(t);
  const state = await tempDir(t, 'kiln-state-');
  const indexPath = join(state, 'index.idx');
  const truth = await treeDigest({ root });
  await treeDigest({ root, indexPath, scanStartNs: nsFromNow(60) });
  const good = await readFile(indexPath);

  const damaged = Buffer.from(good);
  damaged[damaged.length - 40]! ^= 0xff;
  await writeFile(indexPath, damaged);
  await ageIndex(indexPath, 60);
  const afterDamage = await treeDigest({ root, indexPath, scanStartNs: nsFromNow(61) });
  t.is(afterDamage.digest, truth.digest);
  t.regex(afterDamage.warnings.join('\n'), /stat index .* is discarded \(its checksum does not match/);
  t.is(afterDamage.counts.missing, 3);

  await writeFile(indexPath, good.subarray(0, good.length - 10));
  const afterCut = await treeDigest({ root, indexPath });
  t.is(afterCut.digest, truth.digest);
  t.is(afterCut.warnings.length, 1);

  await writeFile(indexPath, 'not an index at all, but long enough to look at its first bytes: '.repeat(3));
  t.regex((await treeDigest({ root, indexPath })).warnings[0]!, /not a stat index/);

  const other = await sample(t);
  await writeFile(indexPath, good);
  const foreign = join(state, 'other.idx');
  await copyFile(indexPath, foreign);
  const otherResult = await treeDigest({ root: other, indexPath: foreign });
  t.regex(otherResult.warnings[0]!, /it indexes .*, not /);
  t.is(otherResult.digest, truth.digest);
});

test('a forged index entry with the right stat but another digest is caught by the checksum', async (t) => {
  const root = await sample(t);
  const indexPath = join(await tempDir(t, 'kiln-state-'), 'index.idx');
  const truth = await treeDigest({ root, indexPath, scanStartNs: nsFromNow(60) });
  const data = await readFile(indexPath);
  // Flip a byte of the first entry's digest (just before the checksum of the last entry's digest area).
  const digestAt = data.length - 32 - 1;
  data[digestAt]! ^= 0x01;
  await writeFile(indexPath, data);
  await ageIndex(indexPath, 60);
  const result = await treeDigest({ root, indexPath, scanStartNs: nsFromNow(61) });
  t.is(result.digest, truth.digest);
  t.is(result.warnings.length, 1);
});

test('files added, changed and removed between scans are seen, and the index follows', async (t) => {
  const root = await sample(t);
  const indexPath = join(await tempDir(t, 'kiln-state-'), 'index.idx');
  await treeDigest({ root, indexPath, scanStartNs: nsFromNow(60) });
  await ageIndex(indexPath, 60);
  await writeFile(join(root, 'src/new.c'), 'int main;');
  await rm(join(root, 'src/b/c.txt'));
  await truncate(join(root, 'src/a.txt'), 2);
  const changed = await treeDigest({ root, indexPath, scanStartNs: nsFromNow(120) });
  t.true(changed.indexSaved);
  t.like(changed.counts, { trusted: 1, missing: 2 });
  const fresh = await treeDigest({ root });
  t.is(changed.digest, fresh.digest);
});

test('a cancelled digest stops with a CancelledError', async (t) => {
  const root = await tempDir(t, 'kiln-results-');
  await mkdir(join(root, 'many'));
  for (let i = 0; i < 2100; i++) await writeFile(join(root, 'many', `f${i}`), '');
  const controller = new AbortController();
  controller.abort(new CancelledError('interrupted'));
  await t.throwsAsync(treeDigest({ root, signal: controller.signal }), { instanceOf: CancelledError });
});

test('a listing written as text reads back, and a damaged one is refused', (t) => {
  const listing = listingOf([
    { path: 'b', type: 'file', mode: 0o644, size: 3, content: 'a'.repeat(64) },
    { path: 'a "quoted"\nname', type: 'symlink', mode: 0, size: 0, content: 'to/there' },
    { path: 'a', type: 'dir', mode: 0o755, size: 0 },
    { path: 'dev', type: 'char', mode: 0o666, size: 0, content: '1:3' },
  ]);
  const text = encodeListing(listing);
  t.deepEqual(decodeListing(text, listing.digest), listing);
  t.is(decodeListing(text.replace('0755', '0700'), listing.digest), undefined);
  t.is(decodeListing(text.slice(0, -5), listing.digest), undefined);
});
