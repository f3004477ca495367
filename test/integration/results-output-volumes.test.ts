/**
 * Output volumes against the real engine: fresh labelled volumes, digests read through Docker's archive
 * that equal the digest of the same files on the host, and exports that land atomically with the
 * user's ownership.
 */
import test, { type ExecutionContext } from 'ava';
import Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { lstat, readdir, readFile, readlink, symlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ExitCode } from '../../src/errors.js';
import { Label } from '../../src/labels.js';
import { ExportError } from '../../src/results/errors.js';
import { treeDigest } from '../../src/results/tree-digest.js';
import { createEngine } from '../../src/runtime/engine.js';
import {
  createOutputVolume,
  createReaderContainer,
  digestContainerPath,
  exportContainerPath,
  exportOwner,
  missingVolumes,
  outputMount,
  outputVolumeLabels,
  removeOutputVolume,
  sweepUnsealedOutputVolumes,
} from '../../src/runtime/output-volumes.js';
import {
  execIn,
  FIXTURE_IMAGE,
  removeProjectVolumes,
  startContainer,
  tempDir,
  uniqueProject,
} from '../helpers/mounts-fixtures.js';
import { writeTree } from '../helpers/results-fixtures.js';

const engine = createEngine();
/** The test's own client, to look at and make engine objects behind kiln's back. */
const docker = new Docker();
const STORE = 'store-of-the-tests';
const KEY = `sha256:${'ab'.repeat(32)}`;

/** What the job's steps leave in /out, and the same files written on the host. */
const PRODUCE = [
  'mkdir -p /out/bin /out/empty /out/src/deep',
  "printf 'alpha\\n' > /out/src/a.txt",
  "printf '#!/bin/sh\\necho hi\\n' > /out/bin/run",
  "printf 'deep' > /out/src/deep/d.txt",
  'ln -s ../src/a.txt /out/bin/link',
  'ln /out/src/a.txt /out/src/hard.txt',
  'chmod 755 /out/bin /out/src /out/src/deep /out/bin/run',
  'chmod 644 /out/src/a.txt',
  'chmod 600 /out/src/deep/d.txt',
  'chmod 700 /out/empty',
].join(' && ');

async function hostCopy(t: ExecutionContext): Promise<string> {
  const root = join(await tempDir(t, 'kiln-results-'), 'out');
  await writeTree(root, {
    'bin/': { mode: 0o755 },
    'bin/run': { text: '#!/bin/sh\necho hi\n', mode: 0o755 },
    'bin/link': { link: '../src/a.txt' },
    'empty/': { mode: 0o700 },
    'src/': { mode: 0o755 },
    'src/a.txt': { text: 'alpha\n', mode: 0o644 },
    'src/hard.txt': { text: 'alpha\n', mode: 0o644 },
    'src/deep/': { mode: 0o755 },
    'src/deep/d.txt': { text: 'deep', mode: 0o600 },
  });
  return root;
}

/** A project, an output volume of it, and a running container that produced the output in it. */
async function produced(t: ExecutionContext) {
  const project = uniqueProject('rtest');
  t.teardown(() => removeProjectVolumes(docker, project));
  const volume = await createOutputVolume(engine, {
    project,
    job: 'build',
    runId: 'run-it',
    key: KEY,
    path: '/out',
    store: STORE,
  });
  const container = await startContainer(t, docker, { mounts: [outputMount(volume, '/out', false)] });
  const made = await execIn(container, ['sh', '-c', PRODUCE]);
  t.is(made.exitCode, 0, made.stderr);
  const projectDir = await tempDir(t, 'kiln-project-');
  return { project, volume, container, projectDir };
}

test('an output volume is labelled for its project, job, key and path, and starts empty', async (t) => {
  const project = uniqueProject('rtest');
  t.teardown(() => removeProjectVolumes(docker, project));
  const volume = await createOutputVolume(engine, {
    project,
    job: 'build',
    runId: 'run-it',
    key: KEY,
    path: '/usr',
    store: STORE,
  });
  const labels = (await docker.getVolume(volume).inspect()).Labels ?? {};
  t.like(labels, {
    [Label.managed]: 'true',
    [Label.scope]: 'result',
    [Label.project]: project,
    [Label.job]: 'build',
    [Label.run]: 'run-it',
    [Label.pid]: String(process.pid),
    [Label.result]: KEY,
    [Label.output]: '/usr',
  });
  // Mounted where the image has files, it is still empty: an output starts empty.
  const container = await startContainer(t, docker, { mounts: [outputMount(volume, '/usr', false)] });
  t.is((await execIn(container, ['ls', '-A', '/usr'])).stdout, '');
});

test("an output's digest read through the container equals the digest of the same files on the host", async (t) => {
  const { container } = await produced(t);
  const fromEngine = await digestContainerPath(engine, container.id, '/out');
  const fromHost = await treeDigest({ root: await hostCopy(t) });
  t.is(fromEngine.digest, fromHost.digest);
  t.deepEqual(fromEngine.entries, fromHost.entries);
});

test('a container that is never started reads an output volume for a digest or an export', async (t) => {
  const { project, volume, container, projectDir } = await produced(t);
  const expected = (await digestContainerPath(engine, container.id, '/out')).digest;
  await container.remove({ force: true });
  const reader = await createReaderContainer(engine, {
    image: FIXTURE_IMAGE,
    runId: 'run-it',
    project,
    job: 'build',
    mounts: [{ volume, target: '/out' }],
  });
  t.teardown(() => reader.remove());
  t.false((await docker.getContainer(reader.id).inspect()).State.Running);
  t.is((await digestContainerPath(engine, reader.id, '/out')).digest, expected);
  const destination = join(projectDir, 'dist');
  await exportContainerPath(engine, reader.id, '/out', {
    destination,
    projectDir,
    job: 'build',
    output: '/out',
  });
  t.is((await treeDigest({ root: destination })).digest, expected);
  await reader.remove();
  await t.throwsAsync(docker.getContainer(reader.id).inspect());
});

test('an export keeps modes and links and is owned by the given user', async (t) => {
  const { container, projectDir } = await produced(t);
  const destination = join(projectDir, 'nested', 'dist');
  const owner = { uid: 4321, gid: 5432 };
  const result = await exportContainerPath(engine, container.id, '/out', {
    destination,
    projectDir,
    owner,
    job: 'build',
    output: '/out',
  });
  t.deepEqual(result.warnings, []);
  t.is(
    (await treeDigest({ root: destination })).digest,
    (await treeDigest({ root: await hostCopy(t) })).digest,
  );
  t.is(await readlink(join(destination, 'bin/link')), '../src/a.txt');
  t.is((await lstat(join(destination, 'bin/run'))).mode & 0o7777, 0o755);
  t.is((await lstat(join(destination, 'src/deep/d.txt'))).mode & 0o7777, 0o600);
  const paths = [
    join(projectDir, 'nested'),
    destination,
    join(destination, 'bin'),
    join(destination, 'bin/run'),
    join(destination, 'bin/link'),
    join(destination, 'empty'),
    join(destination, 'src/deep/d.txt'),
    join(destination, 'src/hard.txt'),
  ];
  for (const path of paths) {
    const s = await lstat(path);
    t.deepEqual([s.uid, s.gid], [owner.uid, owner.gid], path);
  }
});

test('under sudo, exports belong to the user who ran sudo', (t) => {
  if (process.getuid?.() !== 0) return t.pass('only root can run as sudo does');
  t.deepEqual(exportOwner({ SUDO_UID: '1000', SUDO_GID: '1001' }), { uid: 1000, gid: 1001 });
  t.deepEqual(exportOwner({}), { uid: 0, gid: process.getgid!() });
});

test('an export replaces the old one whole and leaves nothing beside it', async (t) => {
  const { container, projectDir } = await produced(t);
  const destination = join(projectDir, 'dist');
  await writeTree(destination, { 'stale.txt': 'from an older export', 'src/a.txt': 'old' });
  await exportContainerPath(engine, container.id, '/out', {
    destination,
    projectDir,
    job: 'build',
    output: '/out',
  });
  await t.throwsAsync(lstat(join(destination, 'stale.txt')), { code: 'ENOENT' });
  t.is(await readFile(join(destination, 'src/a.txt'), 'utf8'), 'alpha\n');
  t.deepEqual(await readdir(projectDir), ['dist']);
});

test('a failed export leaves the old export as it was', async (t) => {
  const { container, projectDir } = await produced(t);
  const destination = join(projectDir, 'dist');
  await writeTree(destination, { 'old.txt': 'keep me' });
  const error = await t.throwsAsync(
    exportContainerPath(engine, container.id, '/no/such/output', {
      destination,
      projectDir,
      job: 'build',
      output: '/x',
    }),
    { instanceOf: ExportError },
  );
  t.is(error?.exitCode, ExitCode.infrastructure);
  t.is(await readFile(join(destination, 'old.txt'), 'utf8'), 'keep me');
  t.deepEqual(await readdir(projectDir), ['dist']);
});

test('an export outside the project is refused unless allowed, and never over the project itself', async (t) => {
  const { container, projectDir } = await produced(t);
  const outside = await tempDir(t, 'kiln-outside-');
  const options = { projectDir, job: 'build', output: '/out' };
  const refused = await t.throwsAsync(
    exportContainerPath(engine, container.id, '/out', { ...options, destination: join(outside, 'dist') }),
    { instanceOf: ExportError, message: /outside the project folder .*allow-outside-project: true/ },
  );
  t.is(refused?.exitCode, ExitCode.usage);
  // Through a symlink inside the project that leads out of it.
  await symlink(outside, join(projectDir, 'escape'));
  await t.throwsAsync(
    exportContainerPath(engine, container.id, '/out', {
      ...options,
      destination: join(projectDir, 'escape', 'dist'),
    }),
    { instanceOf: ExportError, message: /outside the project folder/ },
  );
  for (const destination of [projectDir, join(projectDir, '..')]) {
    await t.throwsAsync(
      exportContainerPath(engine, container.id, '/out', {
        ...options,
        destination,
        allowOutsideProject: true,
      }),
      { instanceOf: ExportError, message: /is the project folder .* or holds it/ },
    );
  }
  await exportContainerPath(engine, container.id, '/out', {
    ...options,
    destination: join(outside, 'dist'),
    allowOutsideProject: true,
  });
  t.is(await readFile(join(outside, 'dist/src/a.txt'), 'utf8'), 'alpha\n');
});

test('a missing output volume is reported missing; removing one twice is fine', async (t) => {
  const { volume, container } = await produced(t);
  t.deepEqual(await missingVolumes(engine, [volume, 'kiln-result-never-made']), ['kiln-result-never-made']);
  t.false(await removeOutputVolume(engine, volume), 'in use by a container');
  await container.remove({ force: true });
  t.true(await removeOutputVolume(engine, volume));
  t.true(await removeOutputVolume(engine, volume));
  t.deepEqual(await missingVolumes(engine, [volume]), [volume]);
});

test("the sweep removes unsealed output volumes of dead runs, never a sealed one or a live run's", async (t) => {
  const project = uniqueProject('rtest');
  t.teardown(() => removeProjectVolumes(docker, project));
  const dead = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['-e', '']);
    child.on('exit', () => resolve(child.pid!));
  });
  const spec = { project, job: 'build', runId: 'run-dead', key: KEY, path: '/out', store: STORE };
  const deadLabels = { ...outputVolumeLabels(spec), [Label.pid]: String(dead), [Label.host]: hostname() };
  const names = {
    unsealed: `kiln-result-${project}-unsealed`,
    sealed: `kiln-result-${project}-sealed`,
    otherStore: `kiln-result-${project}-other-store`,
  };
  for (const name of [names.unsealed, names.sealed]) {
    await docker.createVolume({ Name: name, Labels: deadLabels });
  }
  await docker.createVolume({
    Name: names.otherStore,
    Labels: { ...deadLabels, [Label.store]: 'another-store' },
  });
  const live = await createOutputVolume(engine, { ...spec, runId: 'run-live' });
  const removed = await sweepUnsealedOutputVolumes(engine, STORE, (name) => name === names.sealed);
  t.deepEqual(removed, [names.unsealed], "another store's volumes are not this sweep's");
  t.deepEqual(await missingVolumes(engine, [names.unsealed, names.sealed, names.otherStore, live]), [
    names.unsealed,
  ]);
});

test('an export of a file tree with a read-only folder fills it before closing it', async (t) => {
  const { container, projectDir } = await produced(t);
  t.is(
    (await execIn(container, ['sh', '-c', 'mkdir -p /out/ro && echo x > /out/ro/f && chmod 555 /out/ro']))
      .exitCode,
    0,
  );
  const destination = join(projectDir, 'dist');
  await exportContainerPath(engine, container.id, '/out', {
    destination,
    projectDir,
    job: 'build',
    output: '/out',
  });
  t.is(await readFile(join(destination, 'ro/f'), 'utf8'), 'x\n');
  t.is((await lstat(join(destination, 'ro'))).mode & 0o7777, 0o555);
});
