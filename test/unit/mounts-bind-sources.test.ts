import test from 'ava';
import { link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { MountError } from '../../src/errors.js';
import {
  checkBindSource,
  DEFAULT_DOCKER_SOCKET_PATHS,
  dockerSocketPaths,
  DockerSockets,
  engineHostPath,
  parseMountInfo,
  reachedThroughMounts,
} from '../../src/mounts/bind-sources.js';
import { tempDir } from '../helpers/mounts-fixtures.js';

const strict = { allowOutsideProject: false, allowDockerSocket: false };

async function project(t: Parameters<typeof tempDir>[0]) {
  const root = await tempDir(t);
  const dir = join(root, 'project');
  await mkdir(join(dir, 'src'), { recursive: true });
  await mkdir(join(root, 'outside'));
  await writeFile(join(root, 'outside', 'secret.txt'), 'x');
  const context = {
    job: 'build',
    mount: 'bind ./src -> /src',
    projectDir: dir,
    dockerSocketPaths: DEFAULT_DOCKER_SOCKET_PATHS,
  };
  return { root, dir, context };
}

test('accepts a source inside the project folder', async (t) => {
  const { dir, context } = await project(t);
  const checked = await checkBindSource(join(dir, 'src'), strict, context);
  t.is(checked.realPath, join(dir, 'src'));
  t.is(checked.projectRealPath, dir);
});

test('accepts the project folder itself', async (t) => {
  const { dir, context } = await project(t);
  t.is((await checkBindSource(dir, strict, context)).realPath, dir);
});

test('accepts a symlink that stays inside the project folder, as its real path', async (t) => {
  const { dir, context } = await project(t);
  await symlink(join(dir, 'src'), join(dir, 'alias'));
  t.is((await checkBindSource(join(dir, 'alias'), strict, context)).realPath, join(dir, 'src'));
});

test('refuses a missing source and shows where it resolved', async (t) => {
  const { dir, context } = await project(t);
  const error = await t.throwsAsync(checkBindSource(join(dir, 'x'), strict, context), {
    instanceOf: MountError,
  });
  t.is(
    error?.message,
    `job build, mount bind ./src -> /src: bind source ./x does not exist (resolved ${join(dir, 'x')}); create it or fix the mount's source`,
  );
  t.is(error?.code, 'E_MOUNT');
});

test("a read-write bind's missing source is accepted where it would be made, still inside the project", async (t) => {
  const { root, dir, context } = await project(t);
  const allowed = { ...strict, missingAllowed: true };
  const checked = await checkBindSource(join(dir, 'out', 'deep'), allowed, context);
  t.deepEqual(checked, { realPath: join(dir, 'out', 'deep'), projectRealPath: dir, missing: true });
  await symlink(join(root, 'outside'), join(dir, 'escape'));
  await t.throwsAsync(checkBindSource(join(dir, 'escape', 'new'), allowed, context), {
    instanceOf: MountError,
    message: /resolves to .*outside.*allow-outside-project: true/,
  });
});

const refusedOutside = test.macro({
  async exec(t, makeSource: (root: string, dir: string) => Promise<string>) {
    const { root, dir, context } = await project(t);
    const source = await makeSource(root, dir);
    const error = await t.throwsAsync(checkBindSource(source, strict, context), { instanceOf: MountError });
    t.true(error!.message.startsWith('job build, mount bind ./src -> /src: '), error!.message);
    t.true(error!.message.includes(`resolves to ${join(root, 'outside')}`), error!.message);
    t.true(error!.message.includes('allow-outside-project: true'), error!.message);
    const allowed = await checkBindSource(source, { ...strict, allowOutsideProject: true }, context);
    t.is(allowed.realPath, join(root, 'outside'));
  },
  title: (provided = '') => `refuses ${provided} outside the project folder unless allow-outside-project`,
});

test('a ../ path', refusedOutside, async (_root, dir) => join(dir, '..', 'outside'));
test('a symlink pointing', refusedOutside, async (root, dir) => {
  await symlink(join(root, 'outside'), join(dir, 'link'));
  return join(dir, 'link');
});
test('an absolute path', refusedOutside, async (root) => join(root, 'outside'));

test('refuses a sibling folder whose name starts like the project folder', async (t) => {
  const { root, context } = await project(t);
  await mkdir(join(root, 'project-other'));
  await t.throwsAsync(checkBindSource(join(root, 'project-other'), strict, context), {
    message: /allow-outside-project/,
  });
});

const outsideAllowed = { allowOutsideProject: true, allowDockerSocket: false };

for (const socket of DEFAULT_DOCKER_SOCKET_PATHS) {
  test(`refuses the Docker socket ${socket} unless allow-docker-socket`, async (t) => {
    const { context } = await project(t);
    const error = await t.throwsAsync(checkBindSource(socket, outsideAllowed, context), {
      instanceOf: MountError,
    });
    t.regex(
      error!.message,
      /the Docker socket .*full control of the Docker engine; set allow-docker-socket: true/,
    );
    const allowed = await checkBindSource(
      socket,
      { allowOutsideProject: true, allowDockerSocket: true },
      context,
    );
    t.truthy(allowed.realPath);
  });
}

test('refuses the folder holding the Docker socket', async (t) => {
  const { context } = await project(t);
  await t.throwsAsync(checkBindSource('/var/run', outsideAllowed, context), {
    message: /a folder that holds the Docker socket.*allow-docker-socket: true/,
  });
});

test('refuses / and /run: a folder that holds the Docker socket, however high above it', async (t) => {
  const { context } = await project(t);
  for (const source of ['/', '/run']) {
    const error = await t.throwsAsync(checkBindSource(source, outsideAllowed, context), {
      instanceOf: MountError,
    });
    t.regex(
      error!.message,
      /bind source \/(run)? resolves to \/(run)?, a folder that holds the Docker socket \/var\/run\/docker\.sock \(\/run\/docker\.sock\), which gives the job full control of the Docker engine; set allow-docker-socket: true/,
    );
    t.truthy(await checkBindSource(source, { allowOutsideProject: true, allowDockerSocket: true }, context));
  }
});

/** A unix socket that plays an engine's, in a folder a few levels down. */
async function engineSocket(t: Parameters<typeof tempDir>[0], path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
}

test("refuses any folder above the engine's socket, and a symlink to one", async (t) => {
  const { root, dir, context } = await project(t);
  const socketPath = join(root, 'engine', 'run', 'docker.sock');
  await engineSocket(t, socketPath);
  const withSocket = { ...context, dockerSocketPaths: [socketPath] };
  await symlink(join(root, 'engine'), join(dir, 'engine-link'));
  for (const source of [join(root, 'engine'), root, join(dir, 'engine-link')]) {
    const error = await t.throwsAsync(checkBindSource(source, outsideAllowed, withSocket));
    t.true(
      error!.message.includes(
        `a folder that holds the Docker socket ${socketPath}, which gives the job full`,
      ),
      error!.message,
    );
  }
  // A sibling folder holds no socket.
  await mkdir(join(root, 'engine', 'lib'));
  t.truthy(await checkBindSource(join(root, 'engine', 'lib'), outsideAllowed, withSocket));
});

test("a run's binds share one finding of each socket: the same refusals, the socket looked up once", async (t) => {
  const { root, dir, context } = await project(t);
  const socketPath = join(root, 'engine', 'run', 'docker.sock');
  await engineSocket(t, socketPath);
  await symlink(join(root, 'engine', 'run'), join(root, 'run-link'));
  const linked = join(root, 'run-link', 'docker.sock');
  const sockets = new DockerSockets();
  const shared = { ...context, dockerSocketPaths: [linked], sockets };
  const first = sockets.find(linked);
  for (const source of [join(root, 'engine'), root]) {
    const error = await t.throwsAsync(checkBindSource(source, outsideAllowed, shared));
    t.true(error!.message.includes(`the Docker socket ${linked} (${socketPath})`), error!.message);
  }
  t.truthy(await checkBindSource(join(dir, 'src'), strict, shared));
  t.is(sockets.find(linked), first);
  t.like(await first, { path: linked, realPath: socketPath });
  t.is(await sockets.find(join(root, 'gone.sock')), undefined);
});

test('a socket path that does not exist is no engine to refuse', async (t) => {
  const { root, context } = await project(t);
  const withSocket = { ...context, dockerSocketPaths: [join(root, 'outside', 'gone.sock')] };
  t.truthy(await checkBindSource(join(root, 'outside'), outsideAllowed, withSocket));
});

test('refuses a folder on the file system of a socket that has another name (a hard link) there', async (t) => {
  const { root, context } = await project(t);
  const socketPath = join(root, 'engine', 'docker.sock');
  await engineSocket(t, socketPath);
  await mkdir(join(root, 'elsewhere'));
  await link(socketPath, join(root, 'elsewhere', 'other-name.sock'));
  const error = await t.throwsAsync(
    checkBindSource(join(root, 'elsewhere'), outsideAllowed, { ...context, dockerSocketPaths: [socketPath] }),
  );
  t.regex(error!.message, /has 2 names \(hard links\) there.*allow-docker-socket: true/);
});

test('mountinfo paths are unescaped', (t) => {
  const entries = parseMountInfo(
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n' +
      '90 27 0:24 /my\\040dir /mnt/with\\040space rw - tmpfs tmpfs rw\n' +
      'garbage line\n',
  );
  t.deepEqual(entries, [
    { device: '254:0', root: '/', mountPoint: '/' },
    { device: '0:24', root: '/my dir', mountPoint: '/mnt/with space' },
  ]);
});

test('the socket is reached through a bind mount of its folder, or of itself, inside the source', (t) => {
  const mounts = parseMountInfo(
    [
      '27 1 254:0 / / rw - ext4 /dev/vda rw',
      '30 27 0:24 / /run rw - tmpfs tmpfs rw',
      '31 27 0:24 /user/1000 /home/me/agent rw - tmpfs tmpfs rw',
      '32 27 0:24 / /home/me/hostrun rw - tmpfs tmpfs rw',
      '33 27 0:24 /docker.sock /srv/engine.sock rw - tmpfs tmpfs rw',
    ].join('\n'),
  );
  const socket = '/run/docker.sock';
  t.is(reachedThroughMounts('/home/me', socket, mounts), '/home/me/hostrun/docker.sock');
  t.is(reachedThroughMounts('/home/me/hostrun', socket, mounts), '/home/me/hostrun/docker.sock');
  t.is(reachedThroughMounts('/srv', socket, mounts), '/srv/engine.sock');
  t.is(reachedThroughMounts('/home/me/agent', socket, mounts), undefined);
  t.is(reachedThroughMounts('/home/me/hostrun/sub', socket, mounts), undefined);
  t.is(reachedThroughMounts('/var/lib', socket, mounts), undefined);
  // A socket on the root file system is reached from a bind of one of its parent folders.
  const rootSocket = parseMountInfo(
    '27 1 254:0 / / rw - ext4 /dev/vda rw\n42 27 254:0 /var /mnt/var rw - ext4 /dev/vda rw',
  );
  t.is(reachedThroughMounts('/mnt', '/var/run/docker.sock', rootSocket), '/mnt/var/run/docker.sock');
});

test('refuses a symlink in the project that points at the Docker socket', async (t) => {
  const { dir, context } = await project(t);
  await symlink('/var/run/docker.sock', join(dir, 'engine.sock'));
  await t.throwsAsync(checkBindSource(join(dir, 'engine.sock'), outsideAllowed, context), {
    message: /resolves to \/(var\/)?run\/docker\.sock, the Docker socket/,
  });
});

test('refuses a hard link to a Docker socket (the same inode under another name)', async (t) => {
  const { root, dir, context } = await project(t);
  const socketPath = join(root, 'engine.sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await link(socketPath, join(dir, 'same.sock'));
  const error = await t.throwsAsync(
    checkBindSource(join(dir, 'same.sock'), strict, { ...context, dockerSocketPaths: [socketPath] }),
  );
  t.regex(error!.message, /the same file as the Docker socket/);
});

test('the unix path of DOCKER_HOST is a Docker socket too', (t) => {
  t.deepEqual(dockerSocketPaths({ DOCKER_HOST: 'unix:///home/me/.docker/run/docker.sock' }), [
    ...DEFAULT_DOCKER_SOCKET_PATHS,
    '/home/me/.docker/run/docker.sock',
  ]);
  t.deepEqual(dockerSocketPaths({ DOCKER_HOST: 'tcp://10.0.0.1:2375' }), [...DEFAULT_DOCKER_SOCKET_PATHS]);
});

test('KILN_WORKSPACE_HOST_PATH rewrites sources inside the project folder only', (t) => {
  const env = { KILN_WORKSPACE_HOST_PATH: '/home/me/app' };
  t.is(engineHostPath('/workspace/src', '/workspace', env), '/home/me/app/src');
  t.is(engineHostPath('/workspace', '/workspace', env), '/home/me/app');
  t.is(engineHostPath('/etc/hosts', '/workspace', env), '/etc/hosts');
  t.is(engineHostPath('/workspace/src', '/workspace', {}), '/workspace/src');
});
