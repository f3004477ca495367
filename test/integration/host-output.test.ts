/**
 * What a job leaves in the user's folders belongs to the user, against the real engine: a read-write
 * bind's missing source is made as the user, what the job writes there is handed back after it (unless
 * the bind says keep-owner), and a mount nested in the bind leaves no root-owned mount point. kiln runs
 * as root with SUDO_UID/SUDO_GID set, as `sudo kiln` would.
 */
import { chmod, lstat, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { BUSYBOX, eventsOf, kiln, makeProject, startKilnUntil, sweepProjects } from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

const SUDO = { SUDO_UID: '1000', SUDO_GID: '1001' };

/** `[uid, gid]` of a host path (not through a last symlink). */
async function ownerOf(path: string): Promise<[number, number]> {
  const s = await lstat(path);
  return [s.uid, s.gid];
}

test.before((t) => {
  if (process.getuid?.() !== 0) t.log('not root: the owners below are this user, and nothing is handed back');
});

const asRoot = process.getuid?.() === 0 ? test : test.skip;

asRoot("a read-write bind's missing source is made as the user who ran sudo", async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: out/deep, target: /out }]
    steps:
      - run: echo built > /out/result.txt
`);
  const run = await kiln(project, ['run', '--json'], SUDO);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(await ownerOf(join(project.dir, 'out')), [1000, 1001]);
  t.deepEqual(await ownerOf(join(project.dir, 'out/deep')), [1000, 1001]);
  t.is(await readFile(join(project.dir, 'out/deep/result.txt'), 'utf8'), 'built\n');
});

test('a job the cache takes runs with a missing read-write bind source, which is made empty', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    cache: true
    mounts: [{ type: bind, source: out, target: /out }]
    steps:
      - run: ls -A /out; echo made > /out/made.txt
`);
  const run = await kiln(project, ['run', '--json']);
  t.is(run.code, 0, run.stderr);
  t.is(await readFile(join(project.dir, 'out/made.txt'), 'utf8'), 'made\n');
});

asRoot("a read-only bind's missing source is still refused, and nothing is made", async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: missing, target: /in, readonly: true }]
    steps:
      - run: ls /in
`);
  const run = await kiln(project, ['run', '--json'], SUDO);
  t.not(run.code, 0);
  t.regex(run.stderr + JSON.stringify(eventsOf(run, 'error')), /bind source \.\/missing does not exist/);
  await t.throwsAsync(stat(join(project.dir, 'missing')), { code: 'ENOENT' });
});

asRoot(
  'what a job writes into a read-write bind is handed back to the user, without following symlinks; keep-owner leaves it root',
  async (t) => {
    const project = await makeProject(
      `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts:
      - { type: bind, source: out, target: /out }
      - { type: bind, source: kept, target: /kept, keep-owner: true }
    steps:
      - run: |
          mkdir -p /out/sub && echo a > /out/sub/a.txt && echo k > /kept/k.txt
          ln -s /kept/k.txt /out/link
`,
      { 'out/.keep': '', 'kept/.keep': '' },
    );
    const run = await kiln(project, ['run', '--json'], SUDO);
    t.is(run.code, 0, run.stderr);
    for (const path of ['out', 'out/sub', 'out/sub/a.txt', 'out/link', 'out/.keep']) {
      t.deepEqual(await ownerOf(join(project.dir, path)), [1000, 1001], path);
    }
    // The symlink was changed, not what it points to (the other bind, which keeps its owner).
    t.deepEqual(await ownerOf(join(project.dir, 'kept/k.txt')), [0, 0]);
    t.deepEqual(await ownerOf(join(project.dir, 'kept')), [0, 0]);
    const release = eventsOf(run, 'release').find((e) => e.resource === 'ownership');
    t.is(release?.id, '/out -> 1000:1001');
    t.is(release?.error, undefined);
  },
);

asRoot('what a failed job wrote is handed back too', async (t) => {
  const project = await makeProject(
    `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: out, target: /out }]
    steps:
      - run: echo partial > /out/log.txt; exit 3
`,
    { 'out/.keep': '' },
  );
  const run = await kiln(project, ['run', '--json'], SUDO);
  t.is(run.code, 1, run.stderr);
  t.deepEqual(await ownerOf(join(project.dir, 'out/log.txt')), [1000, 1001]);
});

asRoot('what a cancelled job wrote is handed back too', async (t) => {
  const project = await makeProject(
    `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: out, target: /out }]
    steps:
      - run: echo partial > /out/log.txt; echo $((6*7))-written; sleep 60
`,
    { 'out/.keep': '' },
  );
  const { child, done } = await startKilnUntil(project, ['run', '--json'], '42-written', SUDO);
  child.kill('SIGINT');
  const run = await done;
  t.is(run.code, 130, run.stderr);
  t.deepEqual(await ownerOf(join(project.dir, 'out/log.txt')), [1000, 1001]);
});

asRoot('what a job wrote is handed back in a reused container too, which lives on', async (t) => {
  const project = await makeProject(
    `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    reuse: true
    mounts: [{ type: bind, source: out, target: /out }]
    steps:
      - run: date > /out/stamp.txt
`,
    { 'out/.keep': '' },
  );
  for (const attempt of [1, 2]) {
    const run = await kiln(project, ['run', '--json'], SUDO);
    t.is(run.code, 0, run.stderr);
    t.is(eventsOf(run, attempt === 1 ? 'container.create' : 'container.reuse').length, 1);
    t.deepEqual(await ownerOf(join(project.dir, 'out/stamp.txt')), [1000, 1001], `run ${attempt}`);
  }
});

asRoot(
  'a cache inside a read-write bind leaves its mount point owned by the user, and its content alone',
  async (t) => {
    const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts:
      - { type: bind, source: ., target: /src }
      - { type: cache, id: deps, target: /src/.deps/cache }
      - { type: tmpfs, target: /src/scratch }
    steps:
      - run: echo c > /src/.deps/cache/c.txt && echo b > /src/built.txt
  check:
    needs: [build]
    mounts: [{ type: cache, id: deps, target: /deps }]
    steps:
      - run: stat -c '%u:%g' /deps/c.txt
`);
    const run = await kiln(project, ['run', '--json'], SUDO);
    t.is(run.code, 0, run.stderr);
    for (const path of ['.deps', '.deps/cache', 'scratch', 'built.txt']) {
      t.deepEqual(await ownerOf(join(project.dir, path)), [1000, 1001], path);
    }
    const output = eventsOf(run, 'step.output')
      .filter((e) => e.job === 'check')
      .map((e) => e.data)
      .join('');
    t.is(output.trim(), '0:0');
  },
);

asRoot('a hand-back that cannot run is a warning, and the job still passes', async (t) => {
  const project = await makeProject(
    `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: out, target: /out }]
    steps:
      - run: echo x > /out/x.txt && rm /bin/chown
`,
    { 'out/.keep': '' },
  );
  const run = await kiln(project, ['run', '--json'], SUDO);
  t.is(run.code, 0, run.stderr);
  const warning = eventsOf(run, 'warning').find((e) => /handed back/.test(e.message));
  t.truthy(warning, JSON.stringify(eventsOf(run, 'warning')));
  t.regex(warning!.message, /could not be handed back to 1000:1001 .*keep-owner: true/);
  t.deepEqual(await ownerOf(join(project.dir, 'out/x.txt')), [0, 0]);
});

asRoot(
  'nothing is handed back when the job runs as the user, or when kiln runs as root without sudo',
  async (t) => {
    const yaml = (user: string) => `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    ${user}
    mounts: [{ type: bind, source: out, target: /out }]
    steps:
      - run: touch /out/x.txt
`;
    const asUser = await makeProject(yaml("user: '1000:1001'"), {});
    await mkdir(join(asUser.dir, 'out'));
    await chmod(join(asUser.dir, 'out'), 0o777);
    const run = await kiln(asUser, ['run', '--json'], SUDO);
    t.is(run.code, 0, run.stderr);
    t.false(eventsOf(run, 'release').some((e) => e.resource === 'ownership'));

    const root = await makeProject(yaml(''), { 'out/.keep': '' });
    const plain = await kiln(root, ['run', '--json'], { SUDO_UID: '', SUDO_GID: '' });
    t.is(plain.code, 0, plain.stderr);
    t.false(eventsOf(plain, 'release').some((e) => e.resource === 'ownership'));
    t.deepEqual(await ownerOf(join(root.dir, 'out/x.txt')), [0, 0]);
  },
);
