/**
 * Mounts and secrets under attack, through `kiln run` against the real engine: binds that would hand
 * out the engine, secrets aimed at the image's own files or read by another user, secret output split
 * across streams or met in another job, and the masking of a many-line secret.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type Docker from 'dockerode';
import {
  BUSYBOX,
  containersOf,
  docker,
  eventsOf,
  kiln,
  makeProject,
  outputOf,
  sweepProjects,
  type Project,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

/** Removes the project's containers (reused ones survive runs) when the test ends. */
function removeContainersAfter(t: ExecutionContext, project: Project): void {
  t.teardown(async () => {
    for (const c of await containersOf(project)) {
      await docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => {});
    }
  });
}

/** Runs `sh -c script` as root in a container; its output and exit code. */
async function shell(container: Docker.Container, script: string): Promise<{ code: number; output: string }> {
  const exec = await container.exec({
    Cmd: ['/bin/sh', '-c', script],
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((resolve) => stream.on('end', resolve));
  const { ExitCode } = await exec.inspect();
  // Strip the 8-byte frame headers of the multiplexed stream.
  const raw = Buffer.concat(chunks);
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= raw.length;) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return { code: ExitCode ?? -1, output: Buffer.concat(parts).toString() };
}

/** Every file under `dir`, as text. */
async function allFiles(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const texts = await Promise.all(
    entries.filter((e) => e.isFile()).map((e) => readFile(join(e.parentPath, e.name), 'utf8')),
  );
  return texts.join('\n');
}

const SOCKET_REFUSED =
  /a folder that holds the Docker socket \S*docker\.sock.*full control of the Docker engine; set allow-docker-socket: true/;

test('binding / or /run, even from KILN_DEFAULT_MOUNTS, is refused for the socket it holds, unless allow-docker-socket', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  root:
    mounts: [{ type: bind, source: /, target: /host, readonly: true, allow-outside-project: true }]
    steps: [{ run: "true" }]
  run-folder:
    mounts: [{ type: bind, source: /run, target: /host-run, readonly: true, allow-outside-project: true }]
    steps: [{ run: "true" }]
`);
  const run = await kiln(project, ['run', '--json', '--keep-going']);
  t.is(run.code, 2, run.stderr);
  for (const job of ['root', 'run-folder']) {
    const error = eventsOf(run, 'error').find((e) => e.job === job);
    t.regex(error?.message ?? '', SOCKET_REFUSED, job);
  }
  t.is(eventsOf(run, 'container.create').length, 0);

  // The same through the default mounts.
  const plain = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  plain: { steps: [{ run: "true" }] }
`);
  const defaulted = await kiln(plain, ['run', '--json'], {
    KILN_DEFAULT_MOUNTS: 'type=bind,source=/,target=/host,readonly,allow-outside-project',
  });
  t.is(defaulted.code, 2, defaulted.stderr);
  t.regex(eventsOf(defaulted, 'error')[0]?.message ?? '', SOCKET_REFUSED);

  // With the opt-in the bind is made, and the step can indeed reach the engine through it.
  const allowed = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  root:
    mounts:
      - { type: bind, source: /, target: /host, readonly: true, allow-outside-project: true, allow-docker-socket: true }
    steps: [{ name: s, run: "test -S /host/run/docker.sock && echo engine-reachable" }]
`);
  const opted = await kiln(allowed, ['run', '--json']);
  t.is(opted.code, 0, opted.stderr);
  t.is(outputOf(opted, 'root', 's'), 'engine-reachable\n');
});

/** A unix socket at `path` that forwards to the local engine: an engine's socket somewhere unusual. */
async function forwardingSocket(t: ExecutionContext, path: string): Promise<void> {
  const server: Server = createServer((client) => {
    const upstream = createConnection('/var/run/docker.sock');
    client.on('error', () => upstream.destroy()).on('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy()).on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
}

test('the socket of the engine kiln talks to is guarded wherever it is: a folder above it is refused', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'kiln-engine-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'engine', 'run'), { recursive: true });
  const socket = join(root, 'engine', 'run', 'docker.sock');
  await forwardingSocket(t, socket);
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  above:
    mounts: [{ type: bind, source: ${root}, target: /mnt, readonly: true, allow-outside-project: true }]
    steps: [{ run: "true" }]
`);
  const run = await kiln(project, ['run', '--json'], { DOCKER_HOST: `unix://${socket}` });
  t.is(run.code, 2, run.stderr);
  const message = eventsOf(run, 'error')[0]?.message ?? '';
  t.true(message.includes(`a folder that holds the Docker socket ${socket}`), message);
  t.regex(message, /allow-docker-socket: true/);
});

test('a secret aimed at a file of the image is refused and the file stays, in a reused container too', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
secrets:
  token: { env: KILN_TEST_TOKEN }
jobs:
  passwd:
    reuse: true
    steps:
      - { name: use, run: "true", mounts: [{ type: secret, id: token, target: /etc/passwd }] }
  shell:
    reuse: true
    steps:
      - { name: use, run: "true", mounts: [{ type: secret, id: token, target: /bin/sh }] }
  folder:
    reuse: true
    steps:
      - { name: use, run: "true", mounts: [{ type: secret, id: token, target: /etc }] }
`);
  removeContainersAfter(t, project);
  const run = await kiln(project, ['run', '--json', '--keep-going'], { KILN_TEST_TOKEN: 'tok-image-files' });
  t.is(run.code, 2, run.stderr);
  for (const [job, target] of [
    ['passwd', '/etc/passwd'],
    ['shell', '/bin/sh'],
    ['folder', '/etc'],
  ] as const) {
    const error = eventsOf(run, 'error').find((e) => e.job === job);
    t.is(
      error?.message,
      `job ${job}, mount secret token -> ${target} (step use): ${target} already exists in the container ` +
        `(a file or folder of the image, or of one of the job's mounts), and a secret never replaces one; ` +
        `give the secret a target where nothing is`,
    );
  }
  // The reused containers live on with the image's files whole.
  const containers = await containersOf(project);
  t.is(containers.length, 3);
  for (const info of containers) {
    const check = await shell(
      docker.getContainer(info.Id),
      'test -f /etc/passwd && ! test -L /etc/passwd && head -c 5 /etc/passwd; echo " $(readlink /bin/sh)"',
    );
    // In this image /bin/sh is a link to busybox: a link of the image is refused like a file.
    t.deepEqual(check, { code: 0, output: 'root: /bin/busybox\n' }, info.Labels['dev.kiln.job']);
  }
  // And the next run of the same jobs finds them working.
  const again = await kiln(project, ['run', '--json', '--keep-going', 'shell'], {
    KILN_TEST_TOKEN: 'tok-image-files',
  });
  t.is(again.code, 2);
  t.deepEqual(
    eventsOf(again, 'container.reuse').map((e) => e.job),
    ['shell'],
  );
});

test('a step running as uid 1000 reads its secret at a custom target and at the default one', async (t) => {
  const value = 'tok-for-uid-1000';
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
secrets:
  token: { env: KILN_TEST_TOKEN }
  other: { env: KILN_TEST_TOKEN }
jobs:
  app:
    user: "1000"
    steps:
      - name: read
        mounts:
          - { type: secret, id: token, target: /opt/app/conf/token, uid: 1000 }
          - { type: secret, id: other, uid: 1000 }
        run: 'id -u; wc -c < /opt/app/conf/token; wc -c < /run/secrets/other; ls -ld /opt/app/conf | cut -c1-10'
`);
  const run = await kiln(project, ['run', '--json'], { KILN_TEST_TOKEN: value });
  t.is(run.code, 0, outputOf(run, 'app', 'read', 'stderr') + run.stderr);
  t.is(outputOf(run, 'app', 'read'), `1000\n${value.length}\n${value.length}\ndrwxr-xr-x\n`);
});

test('a secret is masked when split across stdout and stderr, and in a job that met it in a shared cache', async (t) => {
  const secret = 'tok-9f3a-cross-stream';
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
secrets:
  token: { env: KILN_TEST_TOKEN }
  missing: { env: KILN_TEST_NOT_SET_EVER }
jobs:
  split:
    steps:
      - name: s
        mounts: [{ type: secret, id: token }]
        # The engine copies stdout and stderr on their own: writes a moment apart arrive in their order.
        run: "printf tok-9f3a; sleep 0.3; printf -- '-cross-stream\\\\n' >&2"
  writer:
    mounts: [{ type: cache, id: shared, target: /cache }]
    steps:
      - { name: s, run: "cat /run/secrets/token > /cache/leak", mounts: [{ type: secret, id: token }] }
  reader:
    needs: [writer]
    mounts: [{ type: cache, id: shared, target: /cache }]
    steps:
      - { name: s, run: "cat /cache/leak; echo; cat /cache/leak >&2" }
`);
  const run = await kiln(project, ['run', '--json'], { KILN_TEST_TOKEN: secret });
  t.is(run.code, 0, run.stderr);
  t.is(outputOf(run, 'split', 's', 'stdout'), '***');
  t.is(outputOf(run, 'split', 's', 'stderr'), '***\n');
  t.is(outputOf(run, 'reader', 's', 'stdout'), '***\n');
  t.is(outputOf(run, 'reader', 's', 'stderr'), '***');
  // Not in the events, and not in the logs kiln keeps (a step's log has both streams in arrival order).
  t.false(run.stdout.includes(secret));
  t.false((await allFiles(project.stateDir)).includes(secret));
});
