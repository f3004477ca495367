/**
 * Infrastructure faults through the real `kiln` binary: an engine that is not there, one kiln may not
 * use, one that goes away in the middle of a run, and an engine with an old runc. Each ends with the
 * exit code of the CLI contract and a message a person can act on, never a stack trace.
 */
import {
  spawnSync,
  type SpawnSyncOptionsWithStringEncoding,
  type SpawnSyncReturns,
} from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import test from 'ava';
import { runcWarning, type EngineInfo } from '../../src/runtime/engine.js';
import {
  BUSYBOX,
  containersOf,
  docker,
  eventsOf,
  kiln,
  kilnBin,
  repoRoot,
  makeProject,
  startKiln,
  sweepProjects,
  type KilnRun,
  type Project,
} from '../helpers/kiln-cli.js';
import { startSocketProxy } from '../helpers/socket-proxy.js';

async function engineInfo(): Promise<EngineInfo> {
  const v = (await docker.version()) as unknown as {
    Version: string;
    ApiVersion: string;
    Components?: Array<{ Name: string; Version: string }>;
  };
  const runc = v.Components?.find((c) => c.Name.toLowerCase() === 'runc');
  return { version: v.Version, apiVersion: v.ApiVersion, ...(runc ? { runcVersion: runc.Version } : {}) };
}

const info = await engineInfo();
const oldRunc = runcWarning(info) !== undefined;
const withOldRunc = oldRunc ? test : test.skip;
const skipReason = oldRunc ? '' : ` (skipped: this engine's runc is ${info.runcVersion ?? 'not reported'})`;

test.after.always(sweepProjects);

const ONE_JOB = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    steps: [{ run: echo built }]
`;

const STACK = /^\s+at .+:\d+:\d+\)?$/m;

function saysPlainly(t: { notRegex: (s: string, r: RegExp, m?: string) => void }, run: KilnRun): void {
  t.notRegex(run.stderr + run.stdout, STACK, 'no stack trace without --debug');
  t.notRegex(run.stderr, /internal error/);
}

const unreachable = test.macro({
  async exec(t, dockerHost: string, args: readonly string[], what: RegExp) {
    const project = await makeProject(ONE_JOB);
    const run = await kiln(project, args, { DOCKER_HOST: dockerHost });
    t.is(run.code, 3, run.stderr);
    // One paragraph: a single line on stderr, naming the endpoint tried and how to get an engine.
    const lines = run.stderr.trimEnd().split('\n');
    t.is(lines.length, 1, run.stderr);
    t.regex(lines[0]!, what);
    if (dockerHost.startsWith('unix://')) {
      // A socket on this host: the engine to start is this host's.
      t.true(lines[0]!.startsWith(`kiln: cannot reach a Docker engine at ${dockerHost}: `), lines[0]);
      t.regex(lines[0]!, /Start the engine \(sudo systemctl start docker, or run dockerd\)/);
      t.regex(lines[0]!, /point DOCKER_HOST at a running one/);
    } else {
      // An engine on another host: nothing to start here; the address and its TLS settings to check.
      t.true(lines[0]!.startsWith(`kiln: cannot reach the Docker engine at ${dockerHost}: `), lines[0]);
      t.notRegex(lines[0]!, /systemctl/);
      t.regex(lines[0]!, new RegExp(`docker -H ${dockerHost.replace(/[.]/g, '\\.')} info`));
      t.regex(lines[0]!, /point DOCKER_HOST at another engine/);
    }
    t.is(run.stdout, '');
    saysPlainly(t, run);
  },
  title: (_, dockerHost: string, args: readonly string[]) =>
    `kiln ${args.join(' ')} with DOCKER_HOST=${dockerHost.replace(/nowhere-\d+/, 'nowhere')} exits 3 naming it`,
});

const nowhere = `unix:///tmp/nowhere-${process.pid}.sock`;
test(unreachable, nowhere, ['run'], /there is no socket at \/tmp\/nowhere-\d+\.sock \(ENOENT\)/);
test(unreachable, nowhere, ['run', '--json'], /there is no socket at/);
test(unreachable, nowhere, ['prune'], /there is no socket at/);
test(unreachable, 'tcp://127.0.0.1:1', ['run'], /the connection was refused \(ECONNREFUSED\)/);
test(unreachable, 'tcp://127.0.0.1:1', ['run', '--progress', 'plain'], /ECONNREFUSED/);

/** Runs `node BIN args` as nobody (uid and gid 65534, no supplementary groups). */
function asNobodyRun(
  bin: string,
  args: readonly string[],
  options: Omit<SpawnSyncOptionsWithStringEncoding, 'encoding'> = {},
): SpawnSyncReturns<string> {
  return spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bin, ...args],
    { encoding: 'utf8', ...options },
  );
}

/**
 * A copy of the built kiln (bin, dist/src, schema, package.json and the production dependencies) in a
 * folder every user can read: a checkout under a private folder (a 0700 mktemp folder, /root) is out of
 * nobody's reach. Returns the copy's bin/kiln.js.
 */
function kilnCopyForEveryone(): string {
  const copy = mkdtempSync(join(tmpdir(), 'kiln-for-all-'));
  chmodSync(copy, 0o755);
  for (const part of ['bin', 'dist/src', 'schema', 'package.json']) {
    cpSync(join(repoRoot, part), join(copy, part), { recursive: true });
  }
  const listed = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  for (const path of listed.stdout.split('\n')) {
    const rel = relative(repoRoot, path.trim());
    if (rel.startsWith('node_modules')) cpSync(path.trim(), join(copy, rel), { recursive: true });
  }
  return join(copy, 'bin', 'kiln.js');
}

/** The kiln that nobody can run (the checkout's, else a copy), or why there is none. */
function kilnForNobody(): { bin: string } | { why: string } {
  if (process.getuid?.() !== 0)
    return { why: 'the tests do not run as root, so they cannot switch to nobody' };
  const probe = asNobodyRun(kilnBin, ['--version']);
  if (probe.error) return { why: `setpriv is not available (${probe.error.message})` };
  if (probe.status === 0) return { bin: kilnBin };
  const copy = kilnCopyForEveryone();
  const again = asNobodyRun(copy, ['--version']);
  if (again.status === 0) return { bin: copy };
  return { why: `nobody cannot run ${copy}: ${again.stderr.trim().split('\n')[0]}` };
}

/** A temp project that nobody can read, with a state folder nobody can write. */
async function projectForNobody(): Promise<{ project: Project; home: string }> {
  const project = await makeProject(ONE_JOB);
  await chmod(project.dir, 0o755);
  await chmod(project.file, 0o644);
  const home = join(project.dir, 'home');
  await mkdir(home);
  await chmod(home, 0o1777);
  return { project, home };
}

const forNobody = kilnForNobody();
const cannotBeNobody = 'why' in forNobody ? forNobody.why : undefined;
const asNobody = cannotBeNobody === undefined ? test : test.skip;
test.after.always(() => {
  if ('bin' in forNobody && forNobody.bin !== kilnBin) {
    rmSync(join(forNobody.bin, '..', '..'), { recursive: true, force: true });
  }
});

asNobody(
  `a user outside the docker group is told about permission and the docker group, exit 3${cannotBeNobody ? ` (skipped: ${cannotBeNobody})` : ''}`,
  async (t) => {
    const { project, home } = await projectForNobody();
    const result = asNobodyRun((forNobody as { bin: string }).bin, ['run'], {
      cwd: project.dir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: home,
        KILN_STATE_DIR: join(home, 'state'),
        NO_COLOR: '1',
      },
    });
    t.is(result.status, 3, result.stderr);
    t.is(result.stdout, '');
    t.regex(
      result.stderr,
      /^kiln: permission denied on the Docker socket unix:\/\/\/var\/run\/docker\.sock \(EACCES\)/,
    );
    t.regex(result.stderr, /'docker' group \(sudo usermod -aG docker \$USER, then log in again\)/);
    t.is(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
    t.notRegex(result.stderr, STACK);
  },
);

const SLOW = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  slow:
    steps: [{ name: wait, run: 'echo started; sleep 30' }]
`;

const engineGoesAway = test.macro({
  async exec(t, args: readonly string[]) {
    const project = await makeProject(SLOW);
    const proxy = await startSocketProxy();
    t.teardown(() => proxy.cut());
    const { child, done } = startKiln(project, ['run', ...args], { DOCKER_HOST: proxy.dockerHost });
    let seen = '';
    const started = new Promise<void>((resolve) =>
      child.stdout!.on('data', (d: Buffer) => {
        seen += d.toString();
        // The step's own output (not the command line shown when it starts), in JSON or plain lines.
        if (/"data":"started\\n"|\] started\n/.test(seen)) resolve();
      }),
    );
    const outcome = await Promise.race([started.then(() => 'started'), done.then(() => 'exited')]);
    t.is(outcome, 'started', seen);
    const [container] = await containersOf(project);
    t.truthy(container, 'the step runs in a container of the project');

    await proxy.cut();
    const cutAt = Date.now();
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const run = await done;
    clearTimeout(timer);
    const tookMs = Date.now() - cutAt;

    t.is(run.code, 3, `${run.stdout}\n${run.stderr}`);
    t.true(tookMs < 10_000, `kiln took ${tookMs} ms to notice`);
    const wentAway = new RegExp(
      `the Docker engine at ${proxy.dockerHost.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} went away during the run`,
    );
    if (args.includes('--json')) {
      t.like(run.events.at(-1), { type: 'run.end', status: 'failed', exitCode: 3 });
      const errors = eventsOf(run, 'error');
      t.true(errors.length >= 1, run.stdout);
      t.like(errors[0], { job: 'slow', code: 'E_ENGINE_UNAVAILABLE' });
      t.regex(errors[0]!.message as string, wentAway);
      t.like(eventsOf(run, 'job.end')[0], { job: 'slow', status: 'failed' });
    } else {
      t.regex(run.stdout, wentAway);
      t.regex(run.stdout, /FAIL run failed/);
    }
    saysPlainly(t, run);

    // The container was left on the engine (kiln could not reach it to remove it); kiln prune, through
    // the real socket, removes it now that its run is over.
    t.deepEqual(
      (await containersOf(project)).map((c) => c.Id),
      [container!.Id],
    );
    const prune = await kiln(project, ['prune']);
    t.is(prune.code, 0, prune.stderr);
    t.regex(prune.stdout, new RegExp(`removed container ${container!.Names[0]!.replace(/^\//, '')}`));
    t.deepEqual(await containersOf(project), []);
  },
  title: (_, args: readonly string[]) =>
    `the engine going away mid-run ends kiln run ${args.join(' ')} with exit 3 and kiln prune removes what it left`,
});

test.serial(engineGoesAway, ['--json']);
test.serial(engineGoesAway, ['--progress', 'plain']);

withOldRunc(`an old runc is warned about exactly once in a plain run${skipReason}`, async (t) => {
  const project = await makeProject(ONE_JOB);
  const run = await kiln(project, ['run', '--progress', 'plain']);
  t.is(run.code, 0, run.stderr);
  const all = `${run.stdout}${run.stderr}`;
  t.is(all.match(/CVE-2024-21626/g)?.length, 1, all);
  t.regex(
    all,
    new RegExp(
      `warning: the engine's runc is ${info.runcVersion!.replace(/[.+]/g, '\\$&')}, older than 1\\.1\\.12`,
    ),
  );
});

withOldRunc(
  `an old runc is one warning event in a JSON run, right after run.start${skipReason}`,
  async (t) => {
    const project = await makeProject(ONE_JOB);
    const run = await kiln(project, ['run', '--json']);
    t.is(run.code, 0, run.stderr);
    const warnings = eventsOf(run, 'warning').filter((e) => /runc/.test(e.message as string));
    t.is(warnings.length, 1);
    t.regex(warnings[0]!.message as string, /older than 1\.1\.12: it is open to CVE-2024-21626/);
    t.deepEqual(
      run.events.slice(0, 2).map((e) => e.type),
      ['run.start', 'warning'],
    );
    t.notRegex(run.stderr, /runc/);
  },
);
