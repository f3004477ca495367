/** What kiln makes and hands back in the user's folders: who gets it, which binds, and the command. */
import test from 'ava';
import { lstat, mkdir, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  handBackCommand,
  handedBack,
  makeMountPoint,
  makeNestedMountPoints,
  makeOwnedFolder,
} from '../../src/mounts/host-owner.js';
import { job, step, tempDir } from '../helpers/mounts-fixtures.js';

const USER = { uid: 1000, gid: 1001 };
const rw = { target: '/out', readonly: false, keepOwner: false };
const asRoot = process.getuid?.() === 0 ? test : test.skip;

test('read-write binds are handed back unless read-only or keep-owner, with the mounts nested in them', (t) => {
  const binds = [
    rw,
    { target: '/in', readonly: true, keepOwner: false },
    { ...rw, target: '/k', keepOwner: true },
  ];
  t.deepEqual(handedBack(job('a', []), binds, ['/out', '/out/cache', '/outside', '/in', '/k'], USER), [
    { target: '/out', nested: ['/out/cache'] },
  ]);
});

test('nothing is handed back to root, nor when every step runs as the user', (t) => {
  t.deepEqual(handedBack(job('a', []), [rw], ['/out'], { uid: 0, gid: 0 }), []);
  t.deepEqual(handedBack({ ...job('a', []), user: '1000:1001' }, [rw], ['/out'], USER), []);
  t.deepEqual(handedBack({ ...job('a', []), user: '1000' }, [rw], ['/out'], USER), []);
  // A name's uid is not known here, nor a step that runs as someone else.
  t.is(handedBack({ ...job('a', []), user: 'builder' }, [rw], ['/out'], USER).length, 1);
  const other = { ...step(1), user: '0' };
  t.is(handedBack({ ...job('a', [], [step(0), other]), user: '1000' }, [rw], ['/out'], USER).length, 1);
});

test('the hand-back never follows symlinks, and leaves nested mounts alone', (t) => {
  t.deepEqual(handBackCommand([{ target: '/out', nested: [] }], USER), [
    'chown',
    '-hR',
    '1000:1001',
    '--',
    '/out',
  ]);
  t.deepEqual(handBackCommand([{ target: '/src', nested: ['/src/.cache', '/src/a*[b]'] }], USER), [
    'find',
    '/src',
    '(',
    '-path',
    '/src/.cache',
    '-o',
    '-path',
    '/src/a\\*\\[b\\]',
    ')',
    '-prune',
    '-o',
    '-exec',
    'chown',
    '-h',
    '1000:1001',
    '{}',
    '+',
  ]);
});

asRoot('a missing folder is made with its parents, each owned by the user', async (t) => {
  const dir = await tempDir(t);
  t.is(await makeOwnedFolder(join(dir, 'a/b/c'), USER), join(dir, 'a'));
  for (const path of ['a', 'a/b', 'a/b/c']) {
    const s = await lstat(join(dir, path));
    t.deepEqual([s.isDirectory(), s.uid, s.gid], [true, 1000, 1001], path);
  }
  t.is((await lstat(dir)).uid, 0, 'what existed is left as it was');
  t.is(await makeOwnedFolder(join(dir, 'a/b/c'), USER), undefined);
});

asRoot(
  'mount points nested in a bind are made as the user: folders, or a file for a bound file',
  async (t) => {
    const dir = await tempDir(t);
    await makeNestedMountPoints(
      [{ target: '/src', realPath: dir }],
      [
        { target: '/src' },
        { target: '/src/.cache/ccache' },
        { target: '/src/conf/app.ini', bindSource: '/etc/hostname' },
        { target: '/elsewhere/x' },
        { target: '/src/unseen', bindSource: join(dir, 'no-such-source') },
      ],
      USER,
    );
    const owned = async (path: string) => {
      const s = await lstat(join(dir, path));
      return [s.isDirectory() ? 'dir' : 'file', s.uid, s.gid];
    };
    t.deepEqual(await owned('.cache'), ['dir', 1000, 1001]);
    t.deepEqual(await owned('.cache/ccache'), ['dir', 1000, 1001]);
    t.deepEqual(await owned('conf'), ['dir', 1000, 1001]);
    t.deepEqual(await owned('conf/app.ini'), ['file', 1000, 1001]);
    t.deepEqual((await readdir(dir)).sort(), ['.cache', 'conf']);
  },
);

test('a mount point is never made through a symlink', async (t) => {
  const dir = await tempDir(t);
  const outside = await tempDir(t);
  await mkdir(join(dir, 'src'));
  await symlink(outside, join(dir, 'src', 'link'));
  await makeMountPoint(join(dir, 'src'), '/src', '/src/link/cache', false, USER);
  t.deepEqual(await readdir(outside), []);
});
