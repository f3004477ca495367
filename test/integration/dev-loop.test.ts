/**
 * The developer loop against the real engine, through the CLI: `kiln run JOB --only` runs the named jobs
 * alone with their needs' outputs from the job cache, `kiln run --failed` re-runs what failed last time,
 * `kiln run --watch` runs again when a bind source changes, and `kiln prune --project` leaves other
 * projects alone.
 */
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  statusOf,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

function ran(run: KilnRun): string[] {
  return eventsOf(run, 'job.start').map((e) => e.job as string);
}

async function cacheVolumes(project: string): Promise<string[]> {
  const { Volumes } = await docker.listVolumes({
    filters: { label: ['dev.kiln.managed=true', 'dev.kiln.scope=cache', `dev.kiln.project=${project}`] },
  });
  return (Volumes ?? []).map((v) => v.Name);
}

/** A job with a cache and an output; `name` keeps the keys of two projects apart. */
const cached = (name: string) => `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: cache, id: deps, target: /deps }]
    outputs: [/out]
    steps:
      - run: echo dep > /deps/d; echo ${name} > /out/b
`;

test('prune --project removes its own project caches and results and keeps another project', async (t) => {
  const a = await makeProject(cached('a'));
  const b = await makeProject(cached('b'));
  // One state folder for both, as on a developer's machine: one result store.
  const env = { KILN_STATE_DIR: a.stateDir };
  for (const p of [a, b]) {
    const first = await kiln(p, ['run', '--json'], env);
    t.is(first.code, 0, first.stderr);
  }
  const projectOf = (run: KilnRun) => eventsOf(run, 'run.start')[0]!.project as string;
  const planA = await kiln(a, ['run', '--json'], env);
  const planB = await kiln(b, ['run', '--json'], env);
  t.is(statusOf(planA, 'build'), 'cached');
  t.is(statusOf(planB, 'build'), 'cached');
  const [projectA, projectB] = [projectOf(planA), projectOf(planB)];
  t.is((await cacheVolumes(projectA)).length, 1);
  t.is((await cacheVolumes(projectB)).length, 1);

  const pruned = await kiln(a, ['prune', '--all', '--project'], env);
  t.is(pruned.code, 0, pruned.stderr);
  t.regex(pruned.stdout, new RegExp(`project ${projectA} only`));
  t.deepEqual(await cacheVolumes(projectA), []);
  t.is((await cacheVolumes(projectB)).length, 1, "the other project's cache stays");
  t.notRegex(pruned.stdout, new RegExp(projectB));

  const againB = await kiln(b, ['run', '--json'], env);
  t.is(statusOf(againB, 'build'), 'cached', "the other project's result stays");
  const againA = await kiln(a, ['run', '--json'], env);
  t.is(statusOf(againA, 'build'), 'passed', "the project's own result is gone");
});

test('prune --project without a step file is refused', async (t) => {
  const a = await makeProject(cached('a'));
  const pruned = await kiln(a, ['prune', '--project', '-f', 'missing.yaml']);
  t.is(pruned.code, 2);
  t.regex(pruned.stderr, /no step file missing\.yaml/);
});

/** `test` mounts an output of `build` and needs `lint`, which has none. */
const GRAPH = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  lint:
    steps: [{ run: echo linted }]
  build:
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    outputs: [/out]
    steps:
      - run: cat /src/*.txt | tr a-z A-Z > /out/all.txt
  test:
    needs: [lint]
    mounts: [{ type: bind, from: build, source: /out, target: /in }]
    steps:
      - run: cat /in/all.txt
`;

test('run --only runs just the named job, mounting the output of its need from the job cache', async (t) => {
  const project = await makeProject(GRAPH, { 'src/a.txt': 'alpha\n' });
  const built = await kiln(project, ['run', 'build', '--json']);
  t.is(built.code, 0, built.stderr);

  const only = await kiln(project, ['run', 'test', '--only', '--json']);
  t.is(only.code, 0, only.stderr);
  t.deepEqual(ran(only), ['test'], 'neither build nor lint runs');
  t.deepEqual(eventsOf(only, 'run.start')[0]!.jobs, ['test']);
  t.is(outputOf(only, 'test', 'step-1'), 'ALPHA\n', "build's cached output is mounted");
  // Its key is the one a full run gives it: the full run that follows finds it cached.
  const full = await kiln(project, ['run', '--json']);
  t.is(full.code, 0, full.stderr);
  t.is(statusOf(full, 'test'), 'cached');
  t.is(statusOf(full, 'build'), 'cached');
});

test('run --only is refused, naming the need, when a need it mounts has no result yet', async (t) => {
  const project = await makeProject(GRAPH, { 'src/a.txt': 'alpha\n' });
  const only = await kiln(project, ['run', 'test', '--only', '--json']);
  t.is(only.code, 2, only.stderr);
  t.regex(only.stderr, /job build has no result in the job cache \(no earlier result\)/);
  t.regex(only.stderr, /run it first: kiln run build/);
  t.deepEqual(eventsOf(only, 'job.start'), [], 'nothing ran');
  t.deepEqual(await containersOf(project), []);

  // A changed source is said as the reason.
  t.is((await kiln(project, ['run', 'build'])).code, 0);
  await writeFile(join(project.dir, 'src/a.txt'), 'beta\n');
  const stale = await kiln(project, ['run', 'test', '--only']);
  t.is(stale.code, 2, stale.stderr);
  t.regex(stale.stderr, /job build has no result in the job cache \(.*src\/a\.txt.*\)/);
});

test('run --only without job names is refused', async (t) => {
  const project = await makeProject(GRAPH, { 'src/a.txt': 'alpha\n' });
  const only = await kiln(project, ['run', '--only']);
  t.is(only.code, 2);
  t.regex(only.stderr, /name them \(kiln run JOB\.\.\. --only\)/);
});

/** `bad` fails until src/ok exists; `prep` is what it needs; `other` stands alone. */
const FLAKY = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  prep:
    outputs: [/out]
    steps: [{ run: echo prepared > /out/p }]
  bad:
    mounts:
      - { type: bind, from: prep, source: /out, target: /prep }
      - { type: bind, source: ./src, target: /src, readonly: true }
    steps: [{ run: 'cat /prep/p; test -f /src/ok' }]
  other:
    cache: false
    steps: [{ run: echo other }]
`;

test('run --failed re-runs only the job that failed last time, with its needs from the cache', async (t) => {
  const project = await makeProject(FLAKY, { 'src/keep': '' });
  const none = await kiln(project, ['run', '--failed', '--json']);
  t.is(none.code, 0, none.stderr);
  t.regex(none.stderr, /--failed: no earlier run of this project/);
  t.deepEqual(eventsOf(none, 'run.start'), []);

  const first = await kiln(project, ['run', '--keep-going', '--json']);
  t.is(first.code, 1, first.stderr);
  t.is(statusOf(first, 'bad'), 'failed');
  t.is(statusOf(first, 'other'), 'passed');

  await writeFile(join(project.dir, 'src/ok'), 'fixed\n');
  const again = await kiln(project, ['run', '--failed', '--json']);
  t.is(again.code, 0, again.stderr);
  t.deepEqual(eventsOf(again, 'run.start')[0]!.jobs, ['prep', 'bad'], 'other does not run again');
  t.is(statusOf(again, 'prep'), 'cached');
  t.is(statusOf(again, 'bad'), 'passed');
  t.is(outputOf(again, 'bad', 'step-1'), 'prepared\n');

  const nothing = await kiln(project, ['run', '--failed', '--json']);
  t.is(nothing.code, 0, nothing.stderr);
  t.regex(nothing.stderr, /--failed: nothing failed in the last run/);
  t.deepEqual(eventsOf(nothing, 'run.start'), []);
});

test('run --failed with job names is refused', async (t) => {
  const project = await makeProject(FLAKY);
  const run = await kiln(project, ['run', 'bad', '--failed']);
  t.is(run.code, 2);
  t.regex(run.stderr, /--failed runs the jobs that failed in the last run: name no jobs with it/);
});

test('run --watch runs again after a bind source changes, and Ctrl-C ends it with 130, leaving nothing', async (t) => {
  const project = await makeProject(GRAPH, { 'src/a.txt': 'alpha\n' });
  const { child, done } = startKiln(project, ['run', 'test', '--watch', '--json']);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const runEnds = () => stdout.split('\n').filter((l) => l.includes('"type":"run.end"')).length;
  await waitFor(
    () => runEnds() === 1 && stderr.includes('watching ./src'),
    60_000,
    () => stderr,
  );

  await writeFile(join(project.dir, 'src/a.txt'), 'beta\n');
  await waitFor(
    () => runEnds() === 2,
    60_000,
    () => stderr,
  );
  await waitFor(
    () => (stderr.match(/watching \.\/src/g) ?? []).length === 2,
    20_000,
    () => stderr,
  );
  child.kill('SIGINT');
  const run = await done;
  t.is(run.code, 130, run.stderr);
  t.regex(run.stderr, /\.\/src\/a\.txt changed: running again/);
  const starts = eventsOf(run, 'run.start');
  t.is(starts.length, 2, 'one run, then one more after the change');
  t.deepEqual(starts[1]!.jobs, ['lint', 'build', 'test']);
  const second = { ...run, events: run.events.slice(run.events.indexOf(starts[1]!)) };
  t.is(statusOf(second, 'lint'), 'cached', 'what did not change is not run again');
  t.is(statusOf(second, 'build'), 'passed');
  t.is(outputOf(second, 'test', 'step-1'), 'BETA\n');
  t.deepEqual(await containersOf(project), [], 'no container is left');
});

test('run --watch gives each run again an id of its own, in its events and in ${{ run.id }}', async (t) => {
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  id:
    cache: false
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    steps: [{ run: 'echo \${{ run.id }}' }]
`,
    { 'src/a.txt': '1\n' },
  );
  const { child, done } = startKiln(project, ['run', '--watch', '--json']);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const watching = () => (stderr.match(/watching \.\/src/g) ?? []).length;
  for (const [runs, content] of [
    [1, '2\n'],
    [2, '3\n'],
  ] as const) {
    await waitFor(
      () => watching() === runs,
      60_000,
      () => stderr,
    );
    await writeFile(join(project.dir, 'src/a.txt'), content);
  }
  await waitFor(
    () => watching() === 3,
    60_000,
    () => stderr,
  );
  child.kill('SIGINT');
  const run = await done;
  t.is(run.code, 130, run.stderr);
  const starts = eventsOf(run, 'run.start');
  const ids = starts.map((e) => e.runId as string);
  t.is(ids.length, 3, 'one run, then one after each change');
  t.is(new Set(ids).size, 3, `each run has its own id: ${ids.join(', ')}`);
  starts.forEach((start, i) => {
    // A run's events: from its run.start to the next one.
    const from = run.events.indexOf(start);
    const to = i + 1 < starts.length ? run.events.indexOf(starts[i + 1]!) : run.events.length;
    const events = run.events.slice(from, to);
    t.is(eventsOf({ ...run, events }, 'run.end').length, 1, `run ${ids[i]} ended`);
    t.is(outputOf({ ...run, events }, 'id', 'step-1'), `${ids[i]}\n`, "${{ run.id }} is the run's own id");
  });
  t.deepEqual(await containersOf(project), [], 'no container is left');
});

test('run --watch: Ctrl-C during a run again cancels it gracefully, releases everything and exits 130', async (t) => {
  // The step sleeps once the file says so: the run after the change is still going when Ctrl-C comes.
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  slow:
    cache: false
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    steps: [{ run: 'cat /src/a.txt; if grep -q slow /src/a.txt; then sleep 60; fi' }]
`,
    { 'src/a.txt': 'quick\n' },
  );
  const { child, done } = startKiln(project, ['run', '--watch', '--json', '--grace-period', '2']);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitFor(
    () => stderr.includes('watching'),
    60_000,
    () => stderr,
  );
  await writeFile(join(project.dir, 'src/a.txt'), 'slow\n');
  await waitFor(
    () => stdout.includes('slow\\n'),
    60_000,
    () => stdout,
  );
  child.kill('SIGINT');
  const run = await done;
  t.is(run.code, 130, run.stderr);
  const ends = eventsOf(run, 'run.end');
  t.deepEqual(
    ends.map((e) => e.status),
    ['passed', 'cancelled'],
  );
  t.is(eventsOf(run, 'run.start').length, 2, 'no run after the interrupt');
  t.deepEqual(await containersOf(project), [], 'no container is left');
});
