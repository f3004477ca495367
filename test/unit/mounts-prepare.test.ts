import test, { type ExecutionContext } from 'ava';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CancelledError, MountError } from '../../src/errors.js';
import type { CompiledContainerMount } from '../../src/graph/types.js';
import type { SecretSource } from '../../src/definition/types.js';
import { MemoryVolumes } from '../helpers/fake-runtime.js';
import {
  bindMount,
  cacheMount,
  mountsProject,
  secretMount,
  sshMount,
  step,
  tempDir,
  tmpfsMount,
} from '../helpers/mounts-fixtures.js';

/** A project folder with `src/`, a state folder, and a prepare call of job `build` on in-memory volumes. */
async function setup(t: ExecutionContext, env: NodeJS.ProcessEnv = {}) {
  const volumes = new MemoryVolumes();
  const project = await mountsProject(t, {
    volumes,
    env,
    project: 'proj-1',
    runId: 'run-1',
    dockerSocketPaths: [],
  });
  await mkdir(join(project.dir, 'src'));
  const controller = new AbortController();
  const prepare = async (
    mounts: readonly CompiledContainerMount[],
    steps = [step(0)],
    secrets: Record<string, SecretSource> = {},
  ) => (await project.prepare('build', mounts, { steps, secrets, signal: controller.signal })).prepared;
  return { ...project, controller, volumes, prepare };
}

test('a refused bind acquires nothing, not even the locked cache before it', async (t) => {
  const { dir, state, stacks, volumes, prepare } = await setup(t);
  const error = await t.throwsAsync(
    prepare([
      cacheMount('ccache', { target: '/cache', sharing: 'locked' }),
      bindMount(join(dir, 'missing'), '/src', { readonly: true }),
    ]),
    { instanceOf: MountError },
  );
  t.is(error!.job, 'build');
  t.is(error!.mount, 'bind ./missing -> /src');
  t.is(stacks.at(-1)!.size, 0);
  t.deepEqual(volumes.calls, []);
  await t.throwsAsync(readdir(state), { code: 'ENOENT' });
});

test('binds, tmpfs and their events keep the compiler order; tmpfs goes to HostConfig.Tmpfs', async (t) => {
  const { dir, events, prepare } = await setup(t);
  const prepared = await prepare([
    bindMount(dir, '/src', { readonly: true }),
    tmpfsMount('/src/build', { sizeBytes: 1048576 }),
    bindMount(join(dir, 'src'), '/src/build/in'),
  ]);
  t.deepEqual(prepared.mounts, [
    { Type: 'bind', Source: dir, Target: '/src', ReadOnly: true },
    { Type: 'bind', Source: join(dir, 'src'), Target: '/src/build/in', ReadOnly: false },
  ]);
  t.deepEqual(prepared.tmpfs, { '/src/build': 'exec,size=1048576,mode=1777' });
  t.deepEqual(
    events.map((e) => (e.type === 'mount.prepare' ? [e.mount, e.target, e.source] : e.type)),
    [
      ['bind', '/src', dir],
      ['tmpfs', '/src/build', undefined],
      ['bind', '/src/build/in', join(dir, 'src')],
    ],
  );
});

test('KILN_WORKSPACE_HOST_PATH is the project folder as the engine sees it', async (t) => {
  const { prepare, dir } = await setup(t, { KILN_WORKSPACE_HOST_PATH: '/host/app' });
  const prepared = await prepare([bindMount(join(dir, 'src'), '/src')]);
  t.is(prepared.mounts[0]!.Source, '/host/app/src');
});

test('secrets are resolved per step; events name the secret, never its value', async (t) => {
  const { dir, events, prepare } = await setup(t, { NPM_TOKEN: 'npm-very-secret' });
  await writeFile(join(dir, 'key.pem'), 'KEY-LINE-1\nKEY-LINE-2\n');
  const prepared = await prepare(
    [],
    [
      step(0, [secretMount('npm-token', { env: 'NPM_TOKEN', uid: 1000, gid: 1000 })], 'install'),
      step(1, [], 'build'),
      step(
        2,
        [secretMount('npm-token'), secretMount('key', { target: '/root/.ssh/key', mode: 0o600 })],
        'publish',
      ),
    ],
    { 'npm-token': { env: 'NPM_TOKEN' }, key: { file: 'key.pem' } },
  );
  t.deepEqual(prepared.steps[0]!.secrets, [
    {
      id: 'npm-token',
      mount: 'secret npm-token -> /run/secrets/npm-token (step install)',
      target: '/run/secrets/npm-token',
      env: 'NPM_TOKEN',
      mode: 0o400,
      uid: 1000,
      gid: 1000,
      value: Buffer.from('npm-very-secret'),
    },
  ]);
  t.deepEqual(prepared.steps[1], { secrets: [], ssh: [] });
  t.deepEqual(
    prepared.steps[2]!.secrets.map((s) => [s.id, s.target, s.mode, s.value.toString()]),
    [
      ['npm-token', '/run/secrets/npm-token', 0o400, 'npm-very-secret'],
      ['key', '/root/.ssh/key', 0o600, 'KEY-LINE-1\nKEY-LINE-2\n'],
    ],
  );
  const secretEvents = events.filter((e) => e.type === 'mount.prepare' && e.mount === 'secret');
  t.deepEqual(
    secretEvents.map((e) => e.type === 'mount.prepare' && [e.step, e.source, e.target]),
    [
      ['install', 'npm-token', '/run/secrets/npm-token'],
      ['publish', 'npm-token', '/run/secrets/npm-token'],
      ['publish', 'key', '/root/.ssh/key'],
    ],
  );
  const text = JSON.stringify(events);
  t.false(text.includes('npm-very-secret'));
  t.false(text.includes('KEY-LINE'));
});

test('a missing required secret names the job, step, secret and source', async (t) => {
  const { prepare } = await setup(t);
  const error = await t.throwsAsync(
    prepare([], [step(0, [secretMount('npm-token')], 'publish')], { 'npm-token': { env: 'NPM_TOKEN' } }),
    { instanceOf: MountError },
  );
  t.is(
    error!.message,
    'job build, mount secret npm-token -> /run/secrets/npm-token (step publish): secret npm-token: ' +
      'environment variable NPM_TOKEN is not set; provide it or mark the mount required: false',
  );
});

test('a missing secret that is not required is left out of the step', async (t) => {
  const { prepare, events } = await setup(t);
  const prepared = await prepare([], [step(0, [secretMount('opt', { required: false })])], {
    opt: { file: 'nope' },
  });
  t.deepEqual(prepared.steps[0], { secrets: [], ssh: [] });
  t.is(events.length, 0);
});

test('an empty secret value is given to the step', async (t) => {
  const { prepare } = await setup(t, { EMPTY: '' });
  const prepared = await prepare([], [step(0, [secretMount('e')])], { e: { env: 'EMPTY' } });
  t.deepEqual(
    prepared.steps[0]!.secrets.map((s) => s.value),
    [Buffer.alloc(0)],
  );
});

test('a missing ssh agent is an error naming the variable, unless not required', async (t) => {
  const { prepare } = await setup(t);
  await t.throwsAsync(prepare([], [step(0, [sshMount()], 'clone')]), {
    instanceOf: MountError,
    message:
      /^job build, mount ssh default -> \/run\/kiln\/ssh-default\.sock \(step clone\): ssh agent default: environment variable SSH_AUTH_SOCK is not set/,
  });
  await t.throwsAsync(prepare([], [step(0, [sshMount('deploy-bot')])]), {
    message: /SSH_AUTH_SOCK_DEPLOY_BOT is not set/,
  });
  const prepared = await prepare([], [step(0, [sshMount('default', { required: false })])]);
  t.deepEqual(prepared.mounts, []);
  t.deepEqual(prepared.steps[0]!.ssh, []);
});

test('an ssh agent variable that names no socket is an error', async (t) => {
  const files = await tempDir(t);
  await writeFile(join(files, 'not-a-socket'), '');
  const { prepare } = await setup(t, { SSH_AUTH_SOCK: join(files, 'not-a-socket') });
  await t.throwsAsync(prepare([], [step(0, [sshMount()])]), {
    message: /SSH_AUTH_SOCK=.*not-a-socket is not a socket/,
  });
});

test('an ssh agent declared on several steps is bound once, after the container mounts', async (t) => {
  const sockDir = await tempDir(t);
  const socket = join(sockDir, 'agent.sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { dir, prepare, events } = await setup(t, { SSH_AUTH_SOCK: socket });
  const prepared = await prepare(
    [bindMount(dir, '/src', { readonly: true })],
    [step(0, [sshMount()], 'fetch'), step(1, []), step(2, [sshMount()], 'push')],
  );
  t.deepEqual(prepared.mounts, [
    { Type: 'bind', Source: dir, Target: '/src', ReadOnly: true },
    { Type: 'bind', Source: socket, Target: '/run/kiln/ssh-default.sock' },
  ]);
  t.deepEqual(
    prepared.steps.map((s) => s.ssh),
    [
      [{ id: 'default', target: '/run/kiln/ssh-default.sock' }],
      [],
      [{ id: 'default', target: '/run/kiln/ssh-default.sock' }],
    ],
  );
  t.deepEqual(
    events.flatMap((e) => (e.type === 'mount.prepare' && e.mount === 'ssh' ? [[e.step, e.source]] : [])),
    [
      ['fetch', 'default'],
      ['push', 'default'],
    ],
  );
});

test('a cancelled run prepares nothing', async (t) => {
  const { prepare, controller } = await setup(t);
  controller.abort(new CancelledError('interrupted'));
  await t.throwsAsync(prepare([]), { instanceOf: CancelledError });
});
