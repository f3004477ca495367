/**
 * The host side of binds on a remote engine (mounts/ship-binds.ts): a digested tree packed as exactly
 * its listing, a file changed since its digest refused, and a copy applied back against what was sent.
 */
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import tar from 'tar-stream';
import { CancelledError } from '../../src/errors.js';
import { copyBackTree, packListing, SourceChangedError } from '../../src/mounts/ship-binds.js';
import { loadExcludeRules, treeDigest } from '../../src/results/index.js';

const owner = { uid: process.getuid!(), gid: process.getgid!() };

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'kiln-ship-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(root, name, '..'), { recursive: true });
    await writeFile(join(root, name), content);
  }
  return root;
}

async function listing(root: string, exclude: readonly string[] = []) {
  const rules = await loadExcludeRules({ root, projectDir: root, exclude });
  return treeDigest({ root, rules });
}

/** The entries of a tar stream: name -> type and content. */
async function entries(
  stream: Readable,
): Promise<Map<string, { type: string; content: string; mode: number }>> {
  const found = new Map<string, { type: string; content: string; mode: number }>();
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const extract = tar.extract();
  extract.end(Buffer.concat(chunks));
  for await (const entry of extract) {
    let content = '';
    for await (const chunk of entry) content += (chunk as Buffer).toString();
    found.set(entry.header.name.replace(/\/$/, ''), {
      type: entry.header.type,
      content: entry.header.linkname ?? content,
      mode: entry.header.mode & 0o7777,
    });
  }
  return found;
}

/** A tar stream as Docker's archive of a folder gives it: every entry under one root folder. */
function archive(
  files: Array<{
    name: string;
    content?: string;
    type?: 'directory' | 'symlink';
    mode?: number;
    linkname?: string;
  }>,
): Readable {
  const pack = tar.pack();
  pack.entry({ name: 'copy/', type: 'directory', mode: 0o755 });
  for (const f of files) {
    const header = {
      name: `copy/${f.name}`,
      mode: f.mode ?? 0o644,
      ...(f.type ? { type: f.type } : {}),
      ...(f.linkname ? { linkname: f.linkname } : {}),
    };
    if (f.type) pack.entry(header);
    else pack.entry(header, f.content ?? '');
  }
  pack.finalize();
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

test('a tree is packed as exactly its listing: what exclude leaves out is not sent, modes and links kept', async (t) => {
  const root = await tree({ 'a.txt': 'a', 'sub/b.sh': 'b', 'secret.env': 'x' });
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await chmod(join(root, 'sub', 'b.sh'), 0o755);
  await symlink('a.txt', join(root, 'link'));
  const packed = await entries(packListing(root, await listing(root, ['secret.env']), owner));
  t.deepEqual([...packed.keys()].sort(), ['a.txt', 'link', 'sub', 'sub/b.sh']);
  t.is(packed.get('sub/b.sh')!.mode, 0o755);
  t.is(packed.get('link')!.type, 'symlink');
  t.is(packed.get('link')!.content, 'a.txt');
  t.is(packed.get('a.txt')!.content, 'a');
});

test('a file that changed since its digest stops the upload', async (t) => {
  const root = await tree({ 'a.txt': 'before' });
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const digested = await listing(root);
  await writeFile(join(root, 'a.txt'), 'after!');
  const error = await t.throwsAsync(entries(packListing(root, digested, owner)));
  t.true(error instanceof SourceChangedError || /changed while it was being sent/.test(error!.message));
});

test('a copy comes back: changes and new files written, deletions applied, untouched files and what was never sent left alone', async (t) => {
  const root = await tree({
    'keep.txt': 'keep\n',
    'same.txt': 'same\n',
    'sub/gone.txt': 'gone\n',
    'local.txt': 'local\n',
  });
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await symlink('same.txt', join(root, 'old-link'));
  const old = new Date('2020-01-01T00:00:00Z');
  await utimes(join(root, 'same.txt'), old, old);
  const shipped = await listing(root, ['local.txt']);
  const done = await copyBackTree(
    archive([
      { name: 'keep.txt', content: 'keep\nmore\n' },
      { name: 'same.txt', content: 'same\n' },
      { name: 'sub', type: 'directory' },
      { name: 'made', type: 'directory', mode: 0o750 },
      { name: 'made/new.sh', content: 'new\n', mode: 0o755 },
      { name: 'old-link', type: 'symlink', linkname: 'keep.txt' },
    ]),
    root,
    shipped,
    owner,
  );
  t.is(await readFile(join(root, 'keep.txt'), 'utf8'), 'keep\nmore\n');
  t.is(await readFile(join(root, 'made', 'new.sh'), 'utf8'), 'new\n');
  t.is((await stat(join(root, 'made', 'new.sh'))).mode & 0o777, 0o755);
  t.is((await stat(join(root, 'made'))).mode & 0o777, 0o750);
  t.is(await readlink(join(root, 'old-link')), 'keep.txt');
  t.false(
    await stat(join(root, 'sub', 'gone.txt')).then(
      () => true,
      () => false,
    ),
    'deleted in the job',
  );
  t.is(await readFile(join(root, 'local.txt'), 'utf8'), 'local\n', 'never sent, never touched');
  t.is(
    (await stat(join(root, 'same.txt'))).mtime.getTime(),
    old.getTime(),
    'an unchanged file is not rewritten',
  );
  t.is(done.deleted, 1);
  t.deepEqual(done.warnings, []);
});

test('packing stops with a cancel once the run is cancelled', async (t) => {
  const root = await tree({ 'a.txt': 'a', 'b.txt': 'b' });
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const controller = new AbortController();
  controller.abort(new CancelledError('interrupted'));
  const error = await t.throwsAsync(
    entries(packListing(root, await listing(root), owner, undefined, controller.signal)),
  );
  t.true(error instanceof CancelledError, String(error));
});
