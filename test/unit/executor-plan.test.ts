/**
 * planJob without an engine: what a job will take, worked out with nothing acquired (images answered
 * by an in-memory ImageRuntime).
 */
import test, { type ExecutionContext } from 'ava';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageNotFoundError, MountError } from '../../src/errors.js';
import { planJob } from '../../src/executor/plan-job.js';
import type { SecretSource } from '../../src/definition/types.js';
import type { CompiledContainerMount, CompiledJob, CompiledStep } from '../../src/graph/types.js';
import { RunSecrets } from '../../src/mounts/run-secrets.js';
import { cacheVolumeName } from '../../src/mounts/cache-volume-name.js';
import { MemoryImages } from '../helpers/fake-runtime.js';
import {
  bindMount,
  cacheMount,
  FIXTURE_IMAGE,
  graph,
  job,
  secretMount,
  step,
  tempDir,
  tmpfsMount,
} from '../helpers/mounts-fixtures.js';

const IMAGE_ID = `sha256:${'1'.repeat(64)}`;

async function setup(t: ExecutionContext, env: NodeJS.ProcessEnv = {}) {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'src'));
  const images = new MemoryImages({ [FIXTURE_IMAGE]: IMAGE_ID });
  const state = join(dir, '.state');
  const fullEnv = { KILN_STATE_DIR: state, ...env };
  const plan = (
    j: CompiledJob,
    options: { secrets?: Record<string, SecretSource>; reuse?: boolean } = {},
  ) => {
    const g = graph(dir, 'p-1', [j], options.secrets);
    return planJob(
      j,
      { graph: g, signal: new AbortController().signal },
      { images, env: fullEnv, secrets: new RunSecrets(g, fullEnv), reuse: options.reuse ?? false },
    );
  };
  return { dir, state, images, plan };
}

test('a plan holds the image ID, binds by host path, cache volumes and tmpfs options, and acquires nothing', async (t) => {
  const { dir, state, images, plan } = await setup(t, { KILN_WORKSPACE_HOST_PATH: '/host/app' });
  const p = await plan(
    job('build', [
      bindMount(join(dir, 'src'), '/src', { readonly: true }),
      cacheMount('ccache', { sharing: 'locked' }),
      tmpfsMount('/build', { sizeBytes: 1024 }),
    ]),
  );
  t.is(p.imageId, IMAGE_ID);
  t.deepEqual(
    p.mounts.container.map((m) =>
      m.kind === 'bind'
        ? [m.kind, m.hostPath]
        : m.kind === 'cache'
          ? [m.kind, m.volume]
          : m.kind === 'tmpfs'
            ? [m.kind, m.options]
            : [m.kind, m.volume],
    ),
    [
      ['bind', '/host/app/src'],
      ['cache', cacheVolumeName('p-1', 'ccache')],
      ['tmpfs', 'exec,size=1024,mode=1777'],
    ],
  );
  t.like(p.tmpfs, { '/run/kiln': 'rw,exec,nosuid,size=16m,mode=755', '/build': 'exec,size=1024,mode=1777' });
  t.deepEqual(p.workdirs, ['/']);
  t.is(p.reuse, undefined);
  t.deepEqual(images.calls, [`inspect ${FIXTURE_IMAGE}`]);
  await t.throwsAsync(readdir(state), { code: 'ENOENT' }, 'no lock, no registration, no state at all');
});

test('a secret with a default target gets a tmpfs folder; the plan names it, never its value', async (t) => {
  const { plan } = await setup(t, { TOKEN: 'tok-very-secret' });
  const withSecret: CompiledStep = {
    ...step(0),
    mounts: [secretMount('token')],
  };
  const p = await plan(job('publish', [], [withSecret]), { secrets: { token: { env: 'TOKEN' } } });
  t.deepEqual(p.secretDirs, ['/run/secrets']);
  t.is(p.tmpfs['/run/secrets'], 'rw,noexec,nosuid,size=4m,mode=755');
  t.like(p.mounts.steps[0]!.secrets[0], { id: 'token', target: '/run/secrets/token' });
  t.false(JSON.stringify(p).includes('tok-very-secret'));
});

test('a missing image is pulled while planning; one that cannot be had names the job', async (t) => {
  const { images, plan } = await setup(t);
  images.pullable.set('kiln-fixture/other:1', `sha256:${'2'.repeat(64)}`);
  const pulled = await plan({ ...job('a', []), image: 'kiln-fixture/other:1' });
  t.is(pulled.imageId, `sha256:${'2'.repeat(64)}`);
  const error = await t.throwsAsync(plan({ ...job('b', []), image: 'nowhere/none:1' }), {
    instanceOf: ImageNotFoundError,
  });
  t.is(error!.job, 'b');
});

test('a refused mount is said before a missing image', async (t) => {
  const { dir, images, plan } = await setup(t);
  await t.throwsAsync(
    plan({
      ...job('a', [bindMount(join(dir, 'missing'), '/m', { readonly: true })]),
      image: 'nowhere/none:1',
    }),
    {
      instanceOf: MountError,
    },
  );
  t.deepEqual(images.calls, []);
});

test('a reused container is named from project, job and worker slot, or by the job; --reuse forces it', async (t) => {
  const { plan } = await setup(t, { KILN_WORKER: '3' });
  t.deepEqual((await plan({ ...job('build', []), reuse: {} })).reuse, {
    name: 'kiln-p-1-build-w3',
    derived: true,
  });
  t.deepEqual((await plan({ ...job('build', []), reuse: { name: 'my-builder' } })).reuse, {
    name: 'my-builder',
    derived: false,
  });
  t.like((await plan(job('build', []), { reuse: true })).reuse, { name: 'kiln-p-1-build-w3' });
  t.is((await plan(job('build', []))).reuse, undefined);
});

test('a job with outputs is refused reuse, and --reuse leaves it a fresh container each run', async (t) => {
  const { plan } = await setup(t);
  const withOutputs: CompiledJob = {
    ...job('build', []),
    outputs: [{ path: '/out', allowOutsideProject: false }],
  };
  const refused = await t.throwsAsync(plan({ ...withOutputs, reuse: {} }), { instanceOf: MountError });
  t.regex(refused!.message, /job build, mount output \/out: a job with outputs cannot reuse its container/);
  t.is((await plan(withOutputs, { reuse: true })).reuse, undefined);
});

test('the workdirs of the job and of its steps are made once each', async (t) => {
  const { plan } = await setup(t);
  const steps = [
    { ...step(0), workdir: '/w' },
    { ...step(1), workdir: '/src' },
    { ...step(2), workdir: '/w' },
  ];
  const p = await plan({ ...job('build', [], steps), workdir: '/w' });
  t.deepEqual(p.workdirs, ['/w', '/src']);
});

test("a read-write bind's missing source is planned to be made, and planning makes nothing", async (t) => {
  const { dir, plan } = await setup(t);
  const p = await plan(job('a', [bindMount(join(dir, 'out/deep'), '/out')]));
  t.like(p.mounts.container[0], { kind: 'bind', create: true, realPath: join(dir, 'out/deep') });
  await t.throwsAsync(readdir(join(dir, 'out')), { code: 'ENOENT' });
});
