/**
 * The job cache against the real engine, through the CLI as a user runs it: unchanged jobs are skipped
 * without a container, a content change misses and says which file, outputs pass from job to job as
 * sealed volumes, exports land as the user's files, and the switches (`--no-cache`, `cache: false`, the
 * secret default, `--expect-cached`, `kiln plan`) do what they say.
 */
import test from 'ava';
import { lstat, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUSYBOX,
  jobCacheOf,
  resultVolumesOf,
  startKilnUntil,
  containersOf,
  docker,
  eventsOf,
  kiln,
  makeProject,
  outputOf,
  sweepProjects,
  type KilnRun,
  type Project,
  statusOf,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

/** Containers created in a run (container.create events). */
function created(run: KilnRun): string[] {
  return eventsOf(run, 'container.create').map((e) => e.job as string);
}

async function run(project: Project, ...args: string[]): Promise<KilnRun> {
  const result = await kiln(project, ['run', '--json', ...args]);
  return result;
}

const TWO_JOBS = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    outputs: [/out]
    steps:
      - run: cat /src/*.txt | tr a-z A-Z > /out/all.txt; echo built
  test:
    mounts: [{ type: bind, from: build, source: /out, target: /in }]
    steps:
      - run: cat /in/all.txt
`;

test('an unchanged rerun creates no container; a content change misses naming the file, and earlier content hits again', async (t) => {
  const project = await makeProject(TWO_JOBS, { 'src/a.txt': 'alpha\n', 'src/b.txt': 'beta\n' });
  const first = await run(project);
  t.is(first.code, 0, first.stderr);
  t.deepEqual(created(first).sort(), ['build', 'test']);
  t.is(jobCacheOf(first).get('build')?.result, 'miss');
  t.deepEqual(jobCacheOf(first).get('build')?.reasons, ['no earlier result']);
  t.is(outputOf(first, 'test', 'step-1'), 'ALPHA\nBETA\n');

  const second = await run(project);
  t.is(second.code, 0, second.stderr);
  t.deepEqual(created(second), [], 'no container for cached jobs');
  t.is(statusOf(second, 'build'), 'cached');
  t.is(statusOf(second, 'test'), 'cached');
  t.deepEqual(eventsOf(second, 'step.start'), []);
  t.is(jobCacheOf(second).get('build')?.source, 'local');

  // An mtime-only change is no change.
  const later = new Date(Date.now() + 60_000);
  await utimes(join(project.dir, 'src/a.txt'), later, later);
  const touched = await run(project);
  t.deepEqual(created(touched), [], 'a touched file does not make the job run');

  await writeFile(join(project.dir, 'src/a.txt'), 'alpha two\n');
  const changed = await run(project);
  t.is(changed.code, 0, changed.stderr);
  t.deepEqual(jobCacheOf(changed).get('build')?.reasons, ['src/a.txt changed']);
  t.is(jobCacheOf(changed).get('test')?.result, 'miss');
  t.deepEqual(jobCacheOf(changed).get('test')?.reasons, ['the output /out of job build changed']);
  t.is(outputOf(changed, 'test', 'step-1'), 'ALPHA TWO\nBETA\n');

  await writeFile(join(project.dir, 'src/a.txt'), 'alpha\n');
  const back = await run(project);
  t.deepEqual(created(back), [], 'going back to earlier sources hits the earlier results');
  t.is(statusOf(back, 'build'), 'cached');
});

test('a job that re-runs with the same output does not re-run the jobs after it (early cutoff)', async (t) => {
  const project = await makeProject(TWO_JOBS, { 'src/a.txt': 'alpha\n' });
  t.is((await run(project)).code, 0);
  // A new file whose content the build ignores (it reads *.txt only).
  await writeFile(join(project.dir, 'src/notes.md'), 'not read\n');
  const again = await run(project);
  t.is(again.code, 0, again.stderr);
  t.is(jobCacheOf(again).get('build')?.result, 'miss');
  const reasons = jobCacheOf(again).get('build')?.reasons as string[];
  t.deepEqual(reasons, ['src/notes.md added']);
  t.is(statusOf(again, 'build'), 'passed');
  t.is(jobCacheOf(again).get('test')?.result, 'hit', 'the same output digest: test is not run');
  t.deepEqual(created(again), ['build']);
});

test('a failing job leaves no output volume and no result behind', async (t) => {
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    outputs: [/out]
    steps:
      - run: echo half > /out/file; exit 3
`,
  );
  const failed = await run(project);
  t.is(failed.code, 1);
  t.deepEqual(await resultVolumesOf(project), []);
  const again = await run(project);
  t.is(jobCacheOf(again).get('build')?.result, 'miss', 'a failure is never a hit');
});

test('an export lands in the project, owned by the user who runs kiln, on a miss and on a hit', async (t) => {
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    outputs: [{ path: /out, export: ./dist }]
    steps:
      - run: mkdir -p /out/bin && echo tool > /out/bin/tool && chmod 755 /out/bin/tool && echo data > /out/data
`,
  );
  const first = await run(project);
  t.is(first.code, 0, first.stderr);
  const tool = await stat(join(project.dir, 'dist/bin/tool'));
  t.is(tool.mode & 0o777, 0o755, 'file modes are kept');
  t.is(tool.uid, process.getuid!(), 'owned by the user, not by root of the container');
  t.is(await readFile(join(project.dir, 'dist/data'), 'utf8'), 'data\n');

  await rm(join(project.dir, 'dist'), { recursive: true });
  const second = await run(project);
  t.is(statusOf(second, 'build'), 'cached');
  t.is(await readFile(join(project.dir, 'dist/bin/tool'), 'utf8'), 'tool\n', 'a hit exports too');
  const leftovers = (await readdir(project.dir)).filter((n) => n.includes('kiln-export'));
  t.deepEqual(leftovers, [], 'no temporary export is left behind');
});

test('--no-cache runs every job and records new results; cache: false always runs; a secret is not cached by default', async (t) => {
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
secrets:
  token: { env: JOB_CACHE_TOKEN }
jobs:
  plain:
    steps: [{ run: echo plain }]
  never:
    cache: false
    steps: [{ run: echo never }]
  secretive:
    steps:
      - run: test -s /run/secrets/token
        mounts: [{ type: secret, id: token }]
  forced:
    cache: true
    steps:
      - run: test -s /run/secrets/token
        mounts: [{ type: secret, id: token }]
`,
  );
  const env = { JOB_CACHE_TOKEN: 's3cr3t' };
  const first = await kiln(project, ['run', '--json'], env);
  t.is(first.code, 0, first.stderr);
  const firstCache = jobCacheOf(first);
  t.is(firstCache.get('never')?.result, 'disabled');
  t.deepEqual(firstCache.get('never')?.reasons, ['the job says cache: false']);
  t.is(firstCache.get('secretive')?.result, 'disabled');
  t.regex(firstCache.get('secretive')?.reasons[0], /secret token/);
  t.is(firstCache.get('forced')?.result, 'miss');

  const second = await kiln(project, ['run', '--json'], env);
  t.deepEqual(created(second).sort(), ['never', 'secretive']);
  t.is(statusOf(second, 'forced'), 'cached', 'cache: true caches a job with a secret');
  t.false(second.stdout.includes('s3cr3t'), 'the secret value is in no event');

  const refreshed = await kiln(project, ['run', '--json', '--no-cache'], env);
  t.deepEqual(created(refreshed).sort(), ['forced', 'never', 'plain', 'secretive']);
  t.is(jobCacheOf(refreshed).get('plain')?.result, 'disabled');
  t.deepEqual(jobCacheOf(refreshed).get('plain')?.reasons, ['kiln run --no-cache']);
  const after = await kiln(project, ['run', '--json'], env);
  t.is(statusOf(after, 'plain'), 'cached', 'the results --no-cache recorded are used');
});

test('--expect-cached fails a run in which a cacheable job missed, naming it and why', async (t) => {
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    steps: [{ run: cat /src/a.txt }]
  uncached:
    cache: false
    steps: [{ run: echo always }]
`,
    { 'src/a.txt': 'one\n' },
  );
  const first = await kiln(project, ['run', '--expect-cached', '--progress', 'plain']);
  t.is(first.code, 1);
  t.regex(
    first.stderr,
    /--expect-cached: 1 job the job cache takes did not hit:\n {2}build: no earlier result/,
  );
  const second = await kiln(project, ['run', '--expect-cached', '--progress', 'plain']);
  t.is(second.code, 0, `${second.stdout}${second.stderr}`);
  await writeFile(join(project.dir, 'src/a.txt'), 'two\n');
  const third = await kiln(project, ['run', '--expect-cached', '--progress', 'plain']);
  t.is(third.code, 1);
  t.regex(third.stderr, /build: src\/a\.txt changed/);
});

test('kiln plan --json says what run would do and starts nothing', async (t) => {
  const project = await makeProject(TWO_JOBS, { 'src/a.txt': 'alpha\n' });
  const before = await kiln(project, ['plan', '--json']);
  t.is(before.code, 0, before.stderr);
  const lines = before.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);
  t.deepEqual(
    lines.map((l) => [l.job, l.result]),
    [
      ['build', 'miss'],
      ['test', 'miss'],
    ],
  );
  t.deepEqual(lines[0]!.reasons, ['no earlier result']);
  t.regex(lines[0]!.key, /^sha256:[0-9a-f]{64}$/);
  t.regex(lines[1]!.reasons[0], /output \/out of job build, which runs first/);
  t.deepEqual(await containersOf(project), [], 'plan starts no container');

  const ran = await run(project);
  t.is(ran.code, 0);
  const after = await kiln(project, ['plan', '--json']);
  const planned = after.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);
  t.deepEqual(
    planned.map((l) => [l.job, l.result, l.key]),
    [
      ['build', 'hit', jobCacheOf(ran).get('build')?.key],
      ['test', 'hit', jobCacheOf(ran).get('test')?.key],
    ],
  );
  await writeFile(join(project.dir, 'src/a.txt'), 'changed\n');
  const text = await kiln(project, ['plan']);
  t.regex(text.stdout, /build\s+runs\s+src\/a\.txt changed/);
});

test('a result whose output volume was removed behind kiln is a miss with a warning, not an error', async (t) => {
  const project = await makeProject(TWO_JOBS, { 'src/a.txt': 'alpha\n' });
  const first = await run(project);
  t.is(first.code, 0);
  const volumes = await resultVolumesOf(project);
  t.is(volumes.length, 1);
  await docker.getVolume(volumes[0]!).remove();
  const second = await run(project);
  t.is(second.code, 0, second.stderr);
  t.is(jobCacheOf(second).get('build')?.result, 'miss');
  t.deepEqual(jobCacheOf(second).get('build')?.reasons, [
    'the result of the same inputs lost its output volume (removed outside kiln)',
  ]);
  t.true(eventsOf(second, 'warning').some((w) => /removed outside kiln/.test(w.message)));
  t.is(statusOf(second, 'build'), 'passed');
  // The same output again: test, which mounts it, keeps its result.
  t.is(statusOf(second, 'test'), 'cached');
  const third = await run(project);
  t.deepEqual(created(third), [], 'the new volume serves the next run');
});

test('a damaged result file reads as a miss with a warning and is replaced', async (t) => {
  const project = await makeProject(TWO_JOBS, { 'src/a.txt': 'alpha\n' });
  const first = await run(project);
  const key = jobCacheOf(first).get('build')!.key as string;
  const hex = key.slice(7);
  const path = join(project.stateDir, 'results', 'store', hex.slice(0, 2), `${hex}.json`);
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.slice(0, text.length / 2));
  const second = await run(project);
  t.is(second.code, 0, second.stderr);
  t.is(jobCacheOf(second).get('build')?.result, 'miss');
  t.true(eventsOf(second, 'warning').some((w) => /damaged|cannot be read/.test(w.message)));
  const third = await run(project);
  t.is(statusOf(third, 'build'), 'cached', 'the re-run sealed a sound result');
});

test('two kiln processes sealing the same key at once: both pass, one result, no volume left unsealed', async (t) => {
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    outputs: [/out]
    steps: [{ run: echo same > /out/file }]
`,
  );
  const [a, b] = await Promise.all([run(project), run(project)]);
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 0, b.stderr);
  const results = await readdir(join(project.stateDir, 'results', 'store'), { recursive: true });
  t.is(results.filter((n) => n.endsWith('.json')).length, 1);
  t.is((await resultVolumesOf(project)).length, 1, 'the loser removed its own volume');
  const third = await run(project);
  t.is(statusOf(third, 'build'), 'cached');
});

test('kiln prune --keep-storage removes the least recently used results with their volumes', async (t) => {
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    mounts: [{ type: bind, source: ./src, target: /src, readonly: true }]
    outputs: [/out]
    steps: [{ run: 'head -c 200000 /dev/zero > /out/blob; cat /src/v >> /out/blob' }]
`,
    { 'src/v': '1' },
  );
  t.is((await run(project)).code, 0);
  await writeFile(join(project.dir, 'src/v'), '2');
  const second = await run(project);
  t.is(second.code, 0);
  const pruned = await kiln(project, ['prune', '--keep-storage', '300k']);
  t.is(pruned.code, 0, pruned.stderr);
  t.regex(pruned.stdout, /removed result [0-9a-f]{12} of job build/);
  t.regex(pruned.stdout, /job cache: 1 result kept/);
  const third = await run(project);
  t.is(statusOf(third, 'build'), 'cached', 'the most recently used result is kept');
  await writeFile(join(project.dir, 'src/v'), '1');
  const fourth = await run(project);
  t.is(jobCacheOf(fourth).get('build')?.result, 'miss', 'the older one is gone');
  t.is((await lstat(project.stateDir)).isDirectory(), true);
});

test('kiln killed while a job with outputs runs leaves no result; the next run sweeps its volume and runs the job', async (t) => {
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    # The step waits for ctl/go, which is left out of the key: both runs have the same key.
    mounts: [{ type: bind, source: ./ctl, target: /ctl, readonly: true, exclude: [go] }]
    outputs: [/out]
    steps:
      - run: 'echo partial > /out/file; echo ready; until [ -e /ctl/go ]; do sleep 0.1; done; echo done > /out/file'
`,
    { 'ctl/README': 'control\n' },
  );
  const started = await startKilnUntil(project, ['run', '--json'], 'ready');
  started.child.kill('SIGKILL');
  await started.done;
  const ours = () => resultVolumesOf(project);
  const left = await ours();
  t.is(left.length, 1, 'the killed run left its unsealed output volume');
  await writeFile(join(project.dir, 'ctl/go'), '');
  const next = await run(project);
  t.is(next.code, 0, next.stderr);
  t.is(jobCacheOf(next).get('build')?.result, 'miss', 'never a hit from a run that did not seal');
  t.deepEqual(jobCacheOf(next).get('build')?.reasons, ['no earlier result']);
  const now = await ours();
  t.false(now.includes(left[0]!), 'the unsealed volume of the dead run was swept');
  t.is(now.length, 1);
});

test('an output volume removed while the run goes fails the job that mounts it, instead of mounting it empty; the next run rebuilds it', async (t) => {
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  make:
    outputs: [/out]
    steps: [{ run: echo made > /out/file }]
  pause:
    cache: false
    needs: [make]
    mounts: [{ type: bind, source: ./ctl, target: /ctl, readonly: true }]
    steps: [{ run: 'echo ready; until [ -e /ctl/go ]; do sleep 0.1; done' }]
  use:
    needs: [pause]
    mounts: [{ type: bind, from: make, source: /out, target: /in }]
    steps: [{ run: cat /in/file }]
`,
    { 'ctl/README': 'control\n' },
  );
  const started = await startKilnUntil(project, ['run', '--json'], 'ready');
  const volumes = await resultVolumesOf(project);
  t.is(volumes.length, 1);
  await docker.getVolume(volumes[0]!).remove();
  await writeFile(join(project.dir, 'ctl/go'), '');
  const run = await started.done;
  t.is(run.code, 3, run.stderr);
  t.is(statusOf(run, 'use'), 'failed');
  t.true(
    eventsOf(run, 'error').some((e) =>
      /output \/out of job make .* was removed from the engine outside kiln/.test(e.message),
    ),
  );
  const next = await run_(project);
  t.is(next.code, 0, next.stderr);
  t.is(jobCacheOf(next).get('make')?.result, 'miss', 'the result that lost its volume is gone');
  t.is(outputOf(next, 'use', 'step-1'), 'made\n');
});

function run_(project: Project): Promise<KilnRun> {
  return run(project);
}
