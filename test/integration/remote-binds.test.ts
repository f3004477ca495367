/**
 * Bind sources on a remote engine that cannot see this host's files (engine C, scripts/remote-engine.sh:
 * its own mount namespace hides /tmp, where the test projects live): they travel as volumes keyed by
 * their content digest, uploaded only when the engine lacks that content; read-write binds come back;
 * exports come back by the archive API, as the user's files.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import {
  BUSYBOX,
  eventsOf,
  kiln,
  makeProject,
  repoRoot,
  sweepProjects,
  type KilnRun,
} from '../helpers/kiln-cli.js';
import { remoteEngineHooks, startRemoteEngine } from '../helpers/remote-engine.js';
import { createEngine } from '../../src/runtime/engine.js';
import { pruneSourceVolumes, sourceMount } from '../../src/runtime/source-volumes.js';
import { acquireContainer } from '../../src/executor/acquire-container.js';
import { ReleaseStack } from '../../src/release.js';
import {
  engine as hostEngine,
  job as fixtureJob,
  recorder,
  uniqueProject,
} from '../helpers/mounts-fixtures.js';

remoteEngineHooks(test);
test.after.always(sweepProjects);

const GCC = 'kiln-fixture/debian-gcc:bookworm';
/** Who the user is, as kiln running under sudo sees it: what comes back must be theirs. */
const USER = { SUDO_UID: '4321', SUDO_GID: '4322' };

/** The bytes each bind's mount.prepare says were uploaded, by job. */
function uploads(run: KilnRun): Array<{ job: string; target: string; bytes: number }> {
  return eventsOf(run, 'mount.prepare')
    .filter((e) => e.mount === 'bind' && e.uploadedBytes !== undefined)
    .map((e) => ({ job: e.job as string, target: e.target as string, bytes: e.uploadedBytes as number }));
}

const total = (run: KilnRun) => uploads(run).reduce((sum, u) => sum + u.bytes, 0);

test.serial(
  "the README's example passes on a remote engine that cannot see the project, its export lands as the user's, an unchanged run uploads nothing, a one-file change uploads that tree once",
  async (t) => {
    const c = await startRemoteEngine({ images: [BUSYBOX, GCC] });
    const project = await makeProject('version: 1\njobs: {}\n');
    await cp(join(repoRoot, 'fixtures', 'example'), project.dir, { recursive: true });
    const env = { ...c.env, ...USER, EXAMPLE_PUBLISH_TOKEN: `remote-${process.pid}` };
    const run = () => kiln(project, ['run', '--json'], env);

    const first = await run();
    t.is(first.code, 0, first.stdout.slice(-3000) + first.stderr);
    t.true(total(first) > 0, 'the sources were uploaded');
    // build and both warnings jobs mount the same tree: it travels once.
    t.is(uploads(first).filter((u) => u.bytes > 0).length, 1, JSON.stringify(uploads(first)));
    const greet = await stat(join(project.dir, 'dist', 'greet'));
    t.is(greet.mode & 0o111, 0o111, 'the exported tool is executable');
    t.deepEqual([greet.uid, greet.gid], [4321, 4322], "the export is the user's");

    const second = await run();
    t.is(second.code, 0, second.stderr);
    t.is(total(second), 0, 'nothing travels on an unchanged run');
    const ended = Object.fromEntries(eventsOf(second, 'job.end').map((e) => [e.job, e.status]));
    t.is(ended.build, 'cached');

    // Without the job cache the jobs run again: the engine holds the tree already.
    const uncached = await kiln(project, ['run', '--json', '--no-cache', 'build'], env);
    t.is(uncached.code, 0, uncached.stderr);
    t.is(uploads(uncached).length, 1);
    t.is(total(uncached), 0, 'a tree the engine holds is not sent again');

    const source = join(project.dir, 'src', 'greet.c');
    await writeFile(source, `/* a comment */\n${await readFile(source, 'utf8')}`);
    const third = await run();
    t.is(third.code, 0, third.stderr);
    t.is(uploads(third).filter((u) => u.bytes > 0).length, 1, 'the changed tree travels once');
  },
);

test.serial(
  "a read-write bind's writes, new files and deletions come back to the host as the user's; what the job left alone is untouched",
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(
      `version: 1
jobs:
  write:
    image: ${BUSYBOX}
    mounts:
      - { type: bind, source: ./work, target: /work, exclude: [local.txt] }
      - { type: bind, source: ./conf/app.conf, target: /etc/app.conf }
      - { type: bind, source: ./conf/ro.txt, target: /opt/x/ro.txt, readonly: true }
    steps:
      - run: |
          cat /opt/x/ro.txt /etc/app.conf /work/keep.txt
          test ! -e /work/local.txt
          echo more >> /work/keep.txt
          rm /work/sub/gone.txt
          mkdir -p /work/made && echo new > /work/made/new.txt
          echo v=2 > /etc/app.conf
`,
      {
        'work/keep.txt': 'keep\n',
        'work/same.txt': 'same\n',
        'work/sub/gone.txt': 'gone\n',
        'work/local.txt': 'never shipped\n',
        'conf/app.conf': 'v=1\n',
        'conf/ro.txt': 'read only\n',
      },
    );
    const sameBefore = await stat(join(project.dir, 'work', 'same.txt'));
    const result = await kiln(project, ['run', '--json'], { ...c.env, ...USER });
    t.is(result.code, 0, result.stdout.slice(-3000) + result.stderr);
    const out = eventsOf(result, 'step.output')
      .map((e) => e.data as string)
      .join('');
    t.regex(out, /read only\nv=1\nkeep\n/, 'the job saw the files');
    const work = (name: string) => join(project.dir, 'work', name);
    t.is(await readFile(work('keep.txt'), 'utf8'), 'keep\nmore\n');
    t.is(await readFile(work('made/new.txt'), 'utf8'), 'new\n');
    t.false(
      await stat(work('sub/gone.txt')).then(
        () => true,
        () => false,
      ),
      'a deletion comes back',
    );
    t.is(await readFile(work('local.txt'), 'utf8'), 'never shipped\n', 'what was not shipped stays');
    t.is(await readFile(join(project.dir, 'conf', 'app.conf'), 'utf8'), 'v=2\n', 'a file bind comes back');
    for (const path of [
      work('keep.txt'),
      work('made'),
      work('made/new.txt'),
      join(project.dir, 'conf', 'app.conf'),
    ]) {
      const s = await stat(path);
      t.deepEqual([s.uid, s.gid], [4321, 4322], `${path} is the user's`);
    }
    const sameAfter = await stat(work('same.txt'));
    t.is(sameAfter.mtimeMs, sameBefore.mtimeMs, 'an unchanged file is not rewritten');
  },
);

test.serial(
  'a bind of the Docker socket is refused on a remote engine, naming the job and the mount',
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(`version: 1
jobs:
  dind:
    image: ${BUSYBOX}
    mounts:
      - { type: bind, source: /var/run/docker.sock, target: /var/run/docker.sock, allow-docker-socket: true, allow-outside-project: true }
    steps:
      - run: 'true'
`);
    const result = await kiln(project, ['run'], c.env);
    t.is(result.code, 2, result.stdout + result.stderr);
    t.regex(result.stderr + result.stdout, /dind/);
    t.regex(result.stderr + result.stdout, /bind \/var\/run\/docker\.sock -> \/var\/run\/docker\.sock/);
    t.regex(result.stderr + result.stdout, /remote engine/);
  },
);

/** An image with socat (the Debian fixture and the packages of socat), made once on the host's engine. */
const SOCAT = 'kiln-test/socat:bookworm';
async function socatImage(): Promise<string> {
  const run = promisify(execFile);
  if (
    await run('docker', ['image', 'inspect', SOCAT]).then(
      () => true,
      () => false,
    )
  )
    return SOCAT;
  const dir = await mkdtemp(join(tmpdir(), 'kiln-socat-'));
  try {
    const download = () => run('apt-get', ['download', 'socat', 'libwrap0', 'libssl3'], { cwd: dir });
    // A fresh machine may not have read Debian's package lists yet.
    await download().catch(async () => {
      await run('apt-get', ['update', '-qq']);
      await download();
    });
    await writeFile(
      join(dir, 'Dockerfile'),
      `FROM ${GCC}\nCOPY *.deb /tmp/debs/\nRUN dpkg -i /tmp/debs/*.deb && rm -rf /tmp/debs\n`,
    );
    await run('docker', ['build', '-q', '-t', SOCAT, dir]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return SOCAT;
}

/** A stand-in for the host's ssh agent: answers each connection's first line with `pong:<line>`. */
async function fakeAgent(dir: string): Promise<{ path: string; close(): Promise<void> }> {
  const path = join(dir, 'agent.sock');
  const server = createServer((socket) =>
    socket.once('data', (data) => socket.end(`pong:${data.toString().trim()}\n`)),
  );
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const sshJob = (image: string) => `version: 1
jobs:
  agent:
    image: ${image}
    steps:
      - run: |
          for i in 1 2 3; do echo $i | socat - UNIX-CONNECT:$SSH_AUTH_SOCK; done
          for i in 4 5 6; do (echo $i | socat - UNIX-CONNECT:$SSH_AUTH_SOCK) & done; wait
        mounts:
          - { type: ssh }
`;

test.serial(
  "the host's ssh agent is relayed into the container over exec streams, connections one after another and at once",
  async (t) => {
    const image = await socatImage();
    const c = await startRemoteEngine({ images: [image] });
    const project = await makeProject(sshJob(image));
    const agent = await fakeAgent(project.dir);
    t.teardown(() => agent.close());
    const result = await kiln(project, ['run', '--json'], { ...c.env, SSH_AUTH_SOCK: agent.path });
    t.is(result.code, 0, result.stdout.slice(-3000) + result.stderr);
    const out = eventsOf(result, 'step.output')
      .map((e) => e.data as string)
      .join('');
    const lines = out.trim().split('\n');
    t.deepEqual(lines.slice(0, 3), ['pong:1', 'pong:2', 'pong:3'], 'one after another');
    t.deepEqual(lines.slice(3).sort(), ['pong:4', 'pong:5', 'pong:6'], 'and at the same time');
  },
);

test.serial(
  'an ssh agent on a remote engine whose image has no socat is refused before the first step, naming the job, the mount and what to install',
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(sshJob(BUSYBOX));
    const agent = await fakeAgent(project.dir);
    t.teardown(() => agent.close());
    const result = await kiln(project, ['run', '--json'], { ...c.env, SSH_AUTH_SOCK: agent.path });
    t.is(result.code, 2, result.stderr);
    t.is(eventsOf(result, 'step.start').length, 0, 'no step ran');
    const error = eventsOf(result, 'error')[0]!;
    t.regex(error.message as string, /job agent, mount ssh default -> \/run\/kiln\/ssh-default\.sock/);
    t.regex(error.message as string, /install socat/);
  },
);

test.serial(
  'kiln prune removes source volumes made longer ago than two weeks (mark first), and the next run uploads the tree again',
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(
      `version: 1
jobs:
  read:
    image: ${BUSYBOX}
    mounts:
      - { type: bind, source: ./data, target: /data, readonly: true }
    steps:
      - run: cat /data/a.txt
`,
      { 'data/a.txt': `a ${process.pid}\n` },
    );
    const first = await kiln(project, ['run', '--json', '--no-cache'], c.env);
    t.is(first.code, 0, first.stderr);
    t.true(total(first) > 0);
    const name = eventsOf(first, 'run.start')[0]!.project as string;
    const saved = { ...process.env };
    Object.assign(process.env, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: c.env.DOCKER_CERT_PATH });
    t.teardown(() => {
      process.env.DOCKER_TLS_VERIFY = saved.DOCKER_TLS_VERIFY;
      process.env.DOCKER_CERT_PATH = saved.DOCKER_CERT_PATH;
    });
    const engine = createEngine({ dockerHost: c.dockerHost, remote: true });
    const twoWeeks = 14 * 24 * 60 * 60 * 1000;
    const young = await pruneSourceVolumes(engine, { olderThanMs: twoWeeks, project: name });
    t.deepEqual(young.removed, [], 'a source volume made now is kept');
    const later = Date.now() + twoWeeks + 60_000;
    const dry = await pruneSourceVolumes(engine, {
      olderThanMs: twoWeeks,
      project: name,
      now: later,
      dryRun: true,
    });
    t.is(dry.removed.length, 1);
    t.truthy(await c.docker.getVolume(dry.removed[0]!.name).inspect(), 'a dry run removes nothing');
    const pruned = await pruneSourceVolumes(engine, { olderThanMs: twoWeeks, project: name, now: later });
    t.is(pruned.removed.length, 1);
    const again = await kiln(project, ['run', '--json', '--no-cache'], c.env);
    t.is(again.code, 0, again.stderr);
    t.true(total(again) > 0, 'the pruned tree travels again');
  },
);

test.serial(
  'a source volume removed between its lookup and the container (a concurrent prune) fails the job, and the empty volume the engine made goes',
  async (t) => {
    const host = hostEngine();
    const project = uniqueProject('rsrc');
    const volume = `kiln-source-gone-${process.pid}-${Date.now()}`;
    const imageId = (await host.images.idOf(BUSYBOX))!;
    const stack = new ReleaseStack();
    const { emit } = recorder();
    const error = await t.throwsAsync(
      acquireContainer(
        {
          job: fixtureJob('read', []),
          imageId,
          mounts: { container: [], sshBinds: [], steps: [] },
          tmpfs: {},
          secretDirs: [],
          workdirs: ['/'],
        },
        { mounts: [sourceMount(volume, '/src', true)], tmpfs: {}, steps: [] },
        {
          engine: host,
          project,
          runId: `run-${process.pid}`,
          emit,
          stack,
          signal: new AbortController().signal,
          stateDirectory: join(tmpdir(), `kiln-state-${process.pid}`),
          owner: { uid: 0, gid: 0 },
          remote: true,
        },
      ),
    );
    await stack.release();
    t.regex(error!.message, /job read, mount bind -> \/src: .*was removed as the job started/);
    t.is(await host.volumes.inspect(volume), undefined, 'the empty volume is gone');
    const left = await host.containers.list([`dev.kiln.project=${project}`]);
    t.deepEqual(left, [], 'so is the container');
  },
);
