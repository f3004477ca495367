/**
 * The runtime under attack, against the real engine: reused containers shared by concurrent runs, a
 * kiln SIGKILLed while its step holds secrets and children that ignore TERM, a state folder kiln cannot
 * use, images without a shell, stale and foreign lock files, and reuse names that belong to others.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type Docker from 'dockerode';
import { bootId } from '../../src/labels.js';
import { createEngine } from '../../src/runtime/engine.js';
import { pruneContainers } from '../../src/executor/prune-containers.js';
import { runStepExec } from '../../src/runtime/run-exec.js';
import {
  BUSYBOX,
  containersOf,
  docker,
  eventsOf,
  kiln,
  makeProject,
  outputOf,
  startKiln,
  sweepProjects,
  waitFor,
  type KilnRun,
  type Project,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

const STACK = /^\s+at .+:\d+:\d+\)?$/m;
const engine = createEngine({ dockerHost: 'unix:///var/run/docker.sock' });

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

function removeByNameAfter(t: ExecutionContext, name: string): void {
  t.teardown(() =>
    docker
      .getContainer(name)
      .remove({ force: true, v: true })
      .catch(() => {}),
  );
}

/** Runs `sh -c script` as root in a container; its stdout, stderr and exit code. */
async function shell(
  container: Docker.Container,
  script: string,
): Promise<{ code: number; out: string; err: string }> {
  const exec = await container.exec({
    Cmd: ['sh', '-c', script],
    AttachStdout: true,
    AttachStderr: true,
    User: '0',
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    docker.modem.demuxStream(
      stream,
      { write: (b: Buffer) => out.push(b) } as unknown as NodeJS.WritableStream,
      { write: (b: Buffer) => err.push(b) } as unknown as NodeJS.WritableStream,
    );
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  let info = await exec.inspect();
  while (info.Running) info = await exec.inspect();
  return {
    code: info.ExitCode ?? -1,
    out: Buffer.concat(out).toString(),
    err: Buffer.concat(err).toString(),
  };
}

/** Command lines of the container's processes (it must still be there). */
async function processes(container: Docker.Container): Promise<string> {
  const top = await container.top({ ps_args: '-eo pid,args' });
  return JSON.stringify(top.Processes ?? []);
}

/** Starts kiln and resolves once its stdout or stderr shows `marker`, or it has ended. */
async function startUntil(project: Project, args: readonly string[], marker: RegExp, env = {}) {
  const started = startKiln(project, args, env);
  let seen = '';
  let ended = false;
  started.child.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
  started.child.stderr!.on('data', (d: Buffer) => (seen += d.toString()));
  void started.done.then(() => (ended = true));
  await waitFor(
    () => marker.test(seen) || ended,
    60_000,
    () => seen,
  );
  return { ...started, seen: () => seen, ended: () => ended };
}

/** A reused job whose step prints `ready` and then waits until /tmp/go exists in its container. */
const TAKE_TURNS = (extra = '') => `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  keep:
    reuse: true${extra}
    steps:
      - name: hold
        run: 'rm -f /tmp/go; echo ready; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo done'
`;

async function theContainer(project: Project): Promise<Docker.Container> {
  await waitFor(async () => (await containersOf(project)).some((c) => c.State === 'running'));
  const [c] = (await containersOf(project)).filter((x) => x.State === 'running');
  return docker.getContainer(c!.Id);
}

test('two runs of a reused job take turns: the second waits, saying who holds the container; no step dies of its neighbour', async (t) => {
  const project = await makeProject(TAKE_TURNS());
  removeContainersAfter(t, project);
  const first = await startUntil(project, ['run', '--json'], /ready\\n/);
  const container = await theContainer(project);
  const second = await startUntil(project, ['run', '--json'], /in use by/);
  t.false(second.ended(), `the second run waits:\n${second.seen()}`);
  await shell(container, 'touch /tmp/go');
  const a = await first.done;
  t.is(a.code, 0, a.stdout + a.stderr);
  t.like(eventsOf(a, 'step.end')[0], { status: 'passed', exitCode: 0 });
  // The second run goes once the first has let go; its step waits for its own signal.
  await waitFor(() => /ready\\n/.test(second.seen()), 30_000, second.seen);
  await shell(container, 'touch /tmp/go');
  const b = await second.done;
  t.is(b.code, 0, b.stdout + b.stderr);
  t.like(eventsOf(b, 'step.end')[0], { status: 'passed', exitCode: 0 });
  const warning = eventsOf(b, 'warning').find((w) => /in use by/.test(w.message));
  t.regex(
    warning?.message ?? '',
    new RegExp(
      `reused container \\S+ is in use by job keep of run ${eventsOf(a, 'run.start')[0]!.runId} \\(pid ${first.child.pid}\\) for \\d+ s; waiting for it \\(or set KILN_WORKER to another slot to use another container\\); if no kiln process holds it \\(a stale lock\\), remove \\S+/locks/containers/\\S+\\.lock`,
    ),
  );
  t.is(eventsOf(b, 'container.reuse').length, 1, 'the second run reuses the same container');
});

test('with KILN_WORKER set to another slot, a second run of a reused job takes another container at once', async (t) => {
  const project = await makeProject(TAKE_TURNS());
  removeContainersAfter(t, project);
  const first = await startUntil(project, ['run', '--json'], /ready\\n/);
  const second = await startUntil(project, ['run', '--json'], /ready\\n/, { KILN_WORKER: '1' });
  const running = (await containersOf(project)).filter((c) => c.State === 'running');
  t.deepEqual(running.map((c) => c.Names[0]!.replace(/^.*-/, '')).sort(), ['w0', 'w1']);
  for (const c of running) await shell(docker.getContainer(c.Id), 'touch /tmp/go');
  const [a, b] = await Promise.all([first.done, second.done]);
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 0, b.stderr);
  t.deepEqual(
    eventsOf(b, 'warning').filter((w) => /in use by/.test(w.message)),
    [],
  );
});

test('a run waiting for a reused container is cancelled at once by SIGINT; neither it nor a prune touches the holder', async (t) => {
  const project = await makeProject(TAKE_TURNS());
  removeContainersAfter(t, project);
  const first = await startUntil(project, ['run', '--json'], /ready\\n/);
  const container = await theContainer(project);
  const second = await startUntil(project, ['run', '--json'], /in use by/);
  const sent = Date.now();
  second.child.kill('SIGINT');
  const b = await second.done;
  t.is(b.code, 130, b.stdout + b.stderr);
  t.true(Date.now() - sent < 5000, `cancelled in ${Date.now() - sent} ms`);
  t.is(eventsOf(b, 'step.start').length, 0);
  // Neither does a prune take the container from under the run that holds it.
  const kept: string[] = [];
  const pruned = await pruneContainers(engine, {
    all: true,
    dryRun: true,
    stateDirectory: project.stateDir,
    onKept: (r, reason) => kept.push(`${r.name}: ${reason}`),
  });
  const name = (await container.inspect()).Name.replace(/^\//, '');
  t.false(
    pruned.some((r) => r.name === name),
    'a held reused container is not pruned',
  );
  t.true(
    kept.some((k) => k.startsWith(`${name}: in use by job keep`)),
    kept.join('\n'),
  );
  await shell(container, 'touch /tmp/go');
  const a = await first.done;
  t.is(a.code, 0, a.stderr);
  t.like(eventsOf(a, 'step.end')[0], { status: 'passed', exitCode: 0 });
});

const SECRET = `hardening-${randomBytes(6).toString('hex')}`;

test('secrets that a SIGKILLed kiln left in a reused container are wiped before the next run gets it', async (t) => {
  const project = await makeProject(
    `
version: 1
defaults: { image: ${BUSYBOX} }
secrets:
  tok: { env: KILN_TEST_TOKEN }
jobs:
  keep:
    reuse: true
    mounts: [{ type: bind, source: ., target: /p, readonly: true }]
    steps:
      - name: probe
        run: 'for f in /run/secrets/tok /opt/deep/tok; do [ -e "$f" ] || [ -L "$f" ] && echo "left: $f"; done; ls -A /run/kiln/secrets 2>/dev/null || true; ps -o args | grep "[s]leep 300" || true; echo probed'
      - name: hold
        run: '[ -e /p/hold ] || exit 0; echo ready; sleep 300'
        mounts:
          - { type: secret, id: tok }
          - { type: secret, id: tok, target: /opt/deep/tok, env: TOK }
`,
    { hold: '' },
  );
  removeContainersAfter(t, project);
  const env = { KILN_TEST_TOKEN: SECRET, KILN_CANCEL_GRACE_PERIOD: '120' };
  const first = await startUntil(project, ['run', '--json'], /ready\\n/, env);
  t.false(first.ended(), `the first run ended before its step held: ${first.seen().slice(-2000)}`);
  const container = await theContainer(project);
  const before = await shell(container, 'cat /run/secrets/tok; echo; cat /opt/deep/tok');
  t.is(before.out, `${SECRET}\n${SECRET}`, 'the step holds both secret files');
  first.child.kill('SIGKILL');
  await first.done;
  // The wrapper would wipe them only after the (long) grace period: the next run must not wait for it.
  await unlink(join(project.dir, 'hold'));
  const next = await kiln(project, ['run', '--json'], env);
  t.is(next.code, 0, next.stdout + next.stderr);
  t.is(eventsOf(next, 'container.reuse').length, 1);
  t.is(outputOf(next, 'keep', 'probe'), 'probed\n');
  const after = await shell(container, 'ls -A /run/secrets /run/kiln /opt/deep');
  t.notRegex(after.out, /tok|secret-paths/, after.out);
});

test('SIGKILL to kiln: after the grace period the children that ignore TERM are killed and the secret files removed', async (t) => {
  const marker = `stubborn-${randomBytes(4).toString('hex')}`;
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
secrets:
  tok: { env: KILN_TEST_TOKEN }
jobs:
  doomed:
    reuse: true # so that no other run's sweep removes the container this test looks into
    steps:
      - name: hold
        run: "sh -c 'trap \\"\\" TERM; while :; do sleep 1; done # ${marker}' & echo ready; sleep 120"
        mounts:
          - { type: secret, id: tok }
          - { type: secret, id: tok, target: /opt/tok }
`);
  removeContainersAfter(t, project);
  const run = await startUntil(project, ['run', '--json'], /ready\\n/, {
    KILN_TEST_TOKEN: SECRET,
    KILN_CANCEL_GRACE_PERIOD: '2',
  });
  const container = await theContainer(project);
  t.regex(await processes(container), new RegExp(marker));
  run.child.kill('SIGKILL');
  await run.done;
  const killed = Date.now();
  await waitFor(
    async () => !(await processes(container)).includes(marker),
    15_000,
    () => 'the loop that ignores TERM still runs',
  );
  t.log(`loop gone ${Date.now() - killed} ms after SIGKILL (grace 2 s)`);
  t.true(Date.now() - killed >= 1000, 'not before the grace period');
  const left = await shell(container, 'ls -A /run/secrets /run/kiln/secrets; ls /opt/tok');
  t.notRegex(left.out, /tok/, left.out + left.err);
});

test('a cancelled step whose own process ends on TERM still has its TERM-ignoring children killed after the grace period', async (t) => {
  const marker = `orphan-${randomBytes(4).toString('hex')}`;
  const container = await docker.createContainer({
    Image: BUSYBOX,
    Entrypoint: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'],
    Labels: { 'dev.kiln.test': 'hardening-runtime' },
  });
  t.teardown(() => container.remove({ force: true }).catch(() => {}));
  await container.start();
  const cancel = new AbortController();
  let out = '';
  const result = runStepExec(engine.exec, container.id, {
    argv: ['sh', '-c', `sh -c 'trap "" TERM; while :; do sleep 1; done # ${marker}' & echo ready; sleep 120`],
    signal: cancel.signal,
    graceMs: 1000,
    onOutput: (_stream, chunk) => (out += chunk.toString()),
  });
  await waitFor(() => out.includes('ready'));
  cancel.abort();
  const sent = Date.now();
  const { exitCode, cancelled } = await result;
  t.is(exitCode, 143, 'the step itself ended on TERM');
  // The child holds the step's stdout, so the exec may outlast the grace period and get kiln's KILL
  // line too: either way, the KILL must reach the child although the step's own process is gone.
  t.not(cancelled, 'no');
  await waitFor(
    async () => !(await processes(container)).includes(marker),
    10_000,
    () => 'the child that ignores TERM still runs',
  );
  t.log(`child gone ${Date.now() - sent} ms after TERM (grace 1 s)`);
});

test('a state folder kiln cannot create (KILN_STATE_DIR=/proc/nope) is refused at once, naming the variable', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  a: { image: ${BUSYBOX}, steps: [{ run: "true" }] }
`);
  const started = Date.now();
  const run = startKiln(project, ['run'], { KILN_STATE_DIR: '/proc/nope' });
  // Without the check it spins for minutes: the test gives up on it long before.
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
  const result = await run.done;
  clearTimeout(timer);
  t.is(result.code, 3, result.stderr);
  t.true(Date.now() - started < 25_000);
  t.regex(result.stderr, /state folder \/proc\/nope \(from KILN_STATE_DIR\) cannot be used/);
  t.notRegex(result.stderr, STACK);
});

test('a lock folder kiln cannot write is an infrastructure fault with a message, not an internal error', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  a:
    image: ${BUSYBOX}
    mounts: [{ type: cache, id: c, target: /c, sharing: locked }]
    steps: [{ run: "true" }]
`);
  await mkdir(project.stateDir, { recursive: true });
  await writeFile(join(project.stateDir, 'locks'), 'a file where a folder should be');
  const run = await kiln(project, ['run']);
  t.is(run.code, 3, run.stdout + run.stderr);
  t.regex(
    run.stdout + run.stderr,
    /locks\/\S+\.lock failed: a part of the path is not a folder.*KILN_STATE_DIR/s,
  );
  t.notRegex(run.stdout + run.stderr, /internal error/);
});

/** An image whose only file is /hello: no shell. Removed when the test ends. */
async function imageWithoutShell(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-noshell-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'hello'), 'no shell here\n');
  const tar = join(dir, '..', `${dir.split('/').pop()}.tar`);
  execFileSync('tar', ['-C', dir, '-cf', tar, 'hello']);
  t.teardown(() => rm(tar, { force: true }));
  const tag = `kiln-test/noshell:${randomBytes(4).toString('hex')}`;
  const stream = await docker.importImage(tar, { repo: tag.split(':')[0], tag: tag.split(':')[1] });
  await new Promise((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve(undefined))),
  );
  t.teardown(() =>
    docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => {}),
  );
  return tag;
}

test('an image without /bin/sh gets a clear message, and its reused container is not left behind', async (t) => {
  const image = await imageWithoutShell(t);
  const project = await makeProject(`
version: 1
jobs:
  bare:
    image: ${image}
    reuse: true
    steps: [{ run: "true" }]
`);
  removeContainersAfter(t, project);
  const run = await kiln(project, ['run']);
  t.is(run.code, 2, run.stdout + run.stderr);
  t.regex(
    run.stdout + run.stderr,
    new RegExp(
      `image ${image} \\(job bare\\) has no usable /bin/sh: kiln needs /bin/sh in the image to run steps`,
    ),
  );
  t.notRegex(run.stdout + run.stderr, /OCI runtime|container_linux|starting container process/);
  t.deepEqual(
    (await containersOf(project)).map((c) => c.State),
    [],
    'no container is left, Created or otherwise',
  );
});

/** The project's cache volume for `id`, as a run reports it. */
function cacheVolumeOf(run: KilnRun, id: string): string {
  return eventsOf(run, 'mount.prepare').find((e) => e.mount === 'cache' && e.target === `/${id}`)!.source;
}

test('a lock file whose pid now belongs to an unrelated process is taken over; an old one without a start time says which file to remove', async (t) => {
  const project = await makeProject(`
version: 1
jobs:
  a:
    image: ${BUSYBOX}
    # Each run must take the cache's lock: the job cache may not skip it.
    cache: false
    mounts: [{ type: cache, id: c, target: /c, sharing: locked }]
    steps: [{ run: "echo used" }]
`);
  const once = await kiln(project, ['run', '--json']);
  t.is(once.code, 0, once.stderr);
  const lock = join(project.stateDir, 'locks', `${cacheVolumeOf(once, 'c')}.lock`);
  const holder = {
    pid: process.pid, // alive, but not the kiln that took the lock: it started at another time
    host: hostname(),
    runId: 'long-gone',
    job: 'a',
    since: new Date(Date.now() - 60_587 * 3_600_000).toISOString(),
  };
  await writeFile(lock, JSON.stringify({ ...holder, pidStart: '1', boot: bootId() }));
  const recycled = startKiln(project, ['run', '--json']);
  const timer = setTimeout(() => recycled.child.kill('SIGKILL'), 30_000);
  const taken = await recycled.done;
  clearTimeout(timer);
  t.is(taken.code, 0, taken.stdout.slice(-2000) + taken.stderr);
  t.is(eventsOf(taken, 'mount.wait').length, 0);

  // An older kiln's lock (pid only) of a live pid is waited on, and the wait says how to clear it.
  await writeFile(lock, JSON.stringify(holder));
  const waiting = await startUntil(project, ['run', '--progress', 'plain'], /waiting for cache c/);
  t.regex(
    waiting.seen(),
    new RegExp(
      `held by job a of run long-gone \\(pid ${process.pid}\\) for 60587h.*remove ${lock.replace(/[.]/g, '\\.')}`,
    ),
  );
  await rm(lock);
  const done = await waiting.done;
  t.is(done.code, 0, done.stdout + done.stderr);
});

test("an explicit reuse name that is another project's container, or not kiln's, is refused naming its owner", async (t) => {
  const name = `kiln-test-reuse-${randomBytes(4).toString('hex')}`;
  removeByNameAfter(t, name);
  const yaml = (reuseName: string) => `
version: 1
jobs:
  build:
    image: ${BUSYBOX}
    reuse: { name: ${reuseName} }
    steps: [{ run: "echo here > /tmp/mine" }]
`;
  const owner = await makeProject(yaml(name));
  const made = await kiln(owner, ['run', '--json']);
  t.is(made.code, 0, made.stderr);
  const ownerProject = eventsOf(made, 'run.start')[0]!.project as string;
  const before = await docker.getContainer(name).inspect();

  const other = await makeProject(yaml(name));
  const refused = await kiln(other, ['run']);
  t.is(refused.code, 2, refused.stdout + refused.stderr);
  t.regex(
    refused.stdout + refused.stderr,
    new RegExp(`the reused container ${name} belongs to kiln project ${ownerProject} \\(job build\\)`),
  );
  const after = await docker.getContainer(name).inspect();
  t.is(after.Id, before.Id, 'the owner keeps its container');
  t.is(after.Config.Labels['dev.kiln.project'], ownerProject);

  const foreign = `kiln-test-foreign-${randomBytes(4).toString('hex')}`;
  removeByNameAfter(t, foreign);
  await docker.createContainer({ name: foreign, Image: BUSYBOX, Cmd: ['true'] });
  await writeFile(other.file, yaml(foreign));
  const notKiln = await kiln(other, ['run']);
  t.is(notKiln.code, 2, notKiln.stdout + notKiln.stderr);
  t.regex(
    notKiln.stdout + notKiln.stderr,
    new RegExp(`a container named ${foreign} exists and kiln did not make it`),
  );
});

test('a reused container whose /bin/sh a step removed is made afresh, with a warning, instead of failing every later run', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  keep:
    reuse: true
    mounts: [{ type: bind, source: ., target: /p, readonly: true }]
    steps:
      - name: break
        run: 'echo alive; [ -e /p/hold ] || exit 0; rm /bin/sh; echo ready; sleep 300'
`);
  removeContainersAfter(t, project);
  await writeFile(join(project.dir, 'hold'), '');
  // A kiln killed after its step broke the container leaves it running without a shell...
  const broken = await startUntil(project, ['run', '--json'], /ready\\n/, {
    KILN_CANCEL_GRACE_PERIOD: '1',
  });
  broken.child.kill('SIGKILL');
  await broken.done;
  await unlink(join(project.dir, 'hold'));
  const next = await kiln(project, ['run', '--json']);
  t.is(next.code, 0, next.stdout + next.stderr);
  t.is(eventsOf(next, 'container.recreate').length, 1);
  t.regex(
    eventsOf(next, 'warning')
      .map((w) => w.message)
      .join('\n'),
    /reused container \S+ is recreated: its \/bin\/sh is gone/,
  );
  t.is(outputOf(next, 'keep', 'break'), 'alive\n');
  t.notRegex(next.stdout, /OCI runtime/);

  // ...and a run whose own step breaks it leaves no such container for the next.
  await writeFile(join(project.dir, 'hold'), '');
  await writeFile(project.file, (await readFile(project.file, 'utf8')).replace('sleep 300', 'true'));
  const breaks = await kiln(project, ['run', '--json']);
  t.is(breaks.code, 0, breaks.stdout + breaks.stderr);
  await unlink(join(project.dir, 'hold'));
  const after = await kiln(project, ['run', '--json']);
  t.is(after.code, 0, after.stdout + after.stderr);
  t.is(eventsOf(after, 'container.create').length, 1, 'the broken container went with its run');
  t.is(outputOf(after, 'keep', 'break'), 'alive\n');
});
