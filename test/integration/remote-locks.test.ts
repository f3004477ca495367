/**
 * Locks on an engine many hosts share (engine C, scripts/remote-engine.sh): a locked cache and a reused
 * container are guarded by lock containers on the engine, which kilns of other hosts (played with
 * KILN_HOST_ID and a state folder each, as two machines have) see, where lock files of one host's state
 * folder would not.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BUSYBOX,
  eventsOf,
  kiln,
  makeProject,
  startKilnUntil,
  sweepProjects,
  waitFor,
  type KilnRun,
  type Project,
} from '../helpers/kiln-cli.js';
import { lockContainerName } from '../../src/runtime/engine-locks.js';
import {
  TEST_LABEL,
  asHost,
  remoteEngineHooks,
  startRemoteEngine,
  type RemoteEngine,
} from '../helpers/remote-engine.js';

remoteEngineHooks(test);
test.after.always(sweepProjects);

const lockedCache = (sleep: number) => `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    cache: false
    mounts: [{ type: cache, id: c, target: /c, sharing: locked }]
    steps:
      - run: echo MARK-R1; echo "$KILN_HOST_ID" >> /c/holders; sleep ${sleep}
`;

/** A state folder of its own, as another machine has; removed after the test. */
async function stateFolder(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-host-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts `kiln run --json` as host `host` and waits until its stdout shows `marker` (default: its step
 * runs). A cancel (SIGINT) ends it within a second.
 */
async function startAs(
  c: RemoteEngine,
  project: Project,
  host: string,
  state: string,
  marker = 'MARK-R1',
  args: readonly string[] = [],
) {
  return startKilnUntil(project, ['run', '--json', ...args], marker, {
    ...asHost(c, host, state),
    KILN_CANCEL_GRACE_PERIOD: '1',
  });
}

/**
 * Host A runs the project's kiln.yaml until its step says MARK-R1 (it then holds what the test is about);
 * host B runs quick.yaml of the same project until its stdout shows `waiting`; A is cancelled. Returns B's
 * run, which then goes on and succeeds.
 */
async function waitBehindAnotherHost(
  t: ExecutionContext,
  c: RemoteEngine,
  project: Project,
  waiting: string,
): Promise<KilnRun> {
  const [stateA, stateB] = [await stateFolder(t), await stateFolder(t)];
  const a = await startAs(c, project, 'host-a', stateA);
  const b = await startAs(c, project, 'host-b', stateB, waiting, ['-f', 'quick.yaml']);
  a.child.kill('SIGINT');
  t.is((await a.done).code, 130);
  const ranB = await b.done;
  t.is(ranB.code, 0, ranB.stderr);
  return ranB;
}

test.serial(
  'a locked cache on a remote engine is held against a run of another host, which waits for it',
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(lockedCache(120), { 'quick.yaml': lockedCache(0) });
    // B waits for A's lock (the same project, so the same cache) until A is cancelled.
    const ranB = await waitBehindAnotherHost(t, c, project, '"type":"mount.wait"');
    const waits = eventsOf(ranB, 'mount.wait');
    t.regex(String(waits[0]!.holder), /job build of run .* on host-a\)/);
    t.regex(String(waits[0]!.lock), /^the container kiln-lock-/);
  },
);

test.serial(
  'a lock that a SIGKILLed run of another host held on a remote engine is taken over at once',
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(lockedCache(120), { 'quick.yaml': lockedCache(0) });
    const [stateA, stateB] = [await stateFolder(t), await stateFolder(t)];
    const a = await startAs(c, project, 'host-a', stateA);
    const lockOf = (host: string) =>
      c.docker.listContainers({
        all: true,
        filters: { label: ['dev.kiln.scope=lock', `dev.kiln.host=${host}`] },
      });
    t.is((await lockOf('host-a')).length, 1);
    a.child.kill('SIGKILL');
    await a.done;
    await waitFor(
      async () =>
        (
          await c.docker.listContainers({
            filters: { label: ['dev.kiln.scope=keeper', 'dev.kiln.host=host-a'] },
          })
        ).length === 0,
      15_000,
    );
    t.is((await lockOf('host-a')).length, 1, 'the dead run left its lock');
    // The same project (the step file's folder names it), so the same cache.
    const b = await kiln(project, ['run', '--json', '-f', 'quick.yaml'], asHost(c, 'host-b', stateB));
    t.is(b.code, 0, b.stderr);
    t.deepEqual(eventsOf(b, 'mount.wait'), [], 'a stale lock is not waited for');
    t.is((await lockOf('host-a')).length, 0);
    t.is((await lockOf('host-b')).length, 0, 'released at the end of the run');
  },
);

const reusedJob = (run: string) => `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  dev:
    reuse: true
    steps:
      - run: ${run}
`;

test.serial(
  'a reused container on a remote engine is held against a run of another host, which waits for it',
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(reusedJob('echo MARK-R1; sleep 120'), {
      'quick.yaml': reusedJob('echo quick'),
    });
    const ranB = await waitBehindAnotherHost(t, c, project, 'is in use by job dev');
    const warnings = eventsOf(ranB, 'warning').map((e) => String(e.message));
    t.true(
      warnings.some((m) => /reused container .* is in use by job dev of run .* on host-a\)/.test(m)),
      warnings.join('\n'),
    );
    t.true(warnings.some((m) => /remove the container kiln-lock-/.test(m)));
  },
);

test.serial(
  'a private cache on a remote engine gives a run of another host the next slot while one is held',
  async (t) => {
    const c = await startRemoteEngine();
    const privateCache = (sleep: number) => lockedCache(sleep).replace('sharing: locked', 'sharing: private');
    const project = await makeProject(privateCache(120), { 'quick.yaml': privateCache(0) });
    const [stateA, stateB] = [await stateFolder(t), await stateFolder(t)];
    const a = await startAs(c, project, 'host-a', stateA);
    const b = await kiln(project, ['run', '--json', '-f', 'quick.yaml'], asHost(c, 'host-b', stateB));
    t.is(b.code, 0, b.stderr);
    a.child.kill('SIGINT');
    const ranA = await a.done;
    t.is(ranA.code, 130);
    const volumeOf = (run: typeof b) =>
      eventsOf(run, 'mount.prepare').find((e) => e.mount === 'cache')?.source as string | undefined;
    const [volumeA, volumeB] = [volumeOf(ranA), volumeOf(b)];
    t.truthy(volumeA);
    t.truthy(volumeB);
    t.not(volumeB, volumeA, 'B did not share A’s slot');
  },
);

test.serial(
  'kiln prune keeps a cache whose lock a live run of another host holds on a remote engine',
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(lockedCache(0), {
      'long.yaml': `version: 1\njobs:\n  other:\n    image: ${BUSYBOX}\n    steps:\n      - run: echo MARK-R1; sleep 120\n`,
    });
    const [stateA, stateB] = [await stateFolder(t), await stateFolder(t)];
    const env = asHost(c, 'host-a', stateA);
    const made = await kiln(project, ['run', '--json'], env);
    t.is(made.code, 0, made.stderr);
    const volume = eventsOf(made, 'mount.prepare').find((e) => e.mount === 'cache')!.source as string;
    // A live run of host A (its keeper runs), and a lock on the cache in its name that no container
    // mounting the cache goes with yet: the moment between taking a lock and mounting the volume.
    const a = await startAs(c, project, 'host-a', stateA, 'MARK-R1', ['-f', 'long.yaml']);
    const [keeper] = await c.docker.listContainers({
      filters: { label: ['dev.kiln.scope=keeper', 'dev.kiln.host=host-a'] },
    });
    const lock = await c.docker.createContainer({
      name: lockContainerName(volume),
      Image: BUSYBOX,
      Entrypoint: ['/bin/sh'],
      Labels: {
        [TEST_LABEL]: 'remote-locks',
        'dev.kiln.managed': 'true',
        'dev.kiln.scope': 'lock',
        'dev.kiln.host': 'host-a',
        'dev.kiln.pid': '1',
        'dev.kiln.run': 'r-held',
        'dev.kiln.job': 'holder',
        'dev.kiln.keeper': keeper!.Names[0]!.slice(1),
      },
    });
    t.teardown(() => lock.remove({ force: true }).catch(() => {}));
    const pruned = await kiln(
      project,
      ['prune', '--all', '--dry-run', '--project'],
      asHost(c, 'host-b', stateB),
    );
    t.is(pruned.code, 0, pruned.stderr);
    t.true(
      pruned.stdout.includes(`kept cache ${volume}: in use by job holder of run r-held (pid 1 on host-a)`),
      pruned.stdout,
    );
    a.child.kill('SIGINT');
    t.is((await a.done).code, 130);
  },
);
