/**
 * The developer loop's pure parts: what `--failed` picks from the last run, what `--watch` watches and
 * ignores, and its debounced wait for a change.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failedJobs, readLastRun, writeLastRun } from '../../src/cli/last-run.js';
import { loadGraph } from '../../src/cli/load.js';
import { isInside as isUnder } from '../../src/host-paths.js';
import { watchPlan, watchSources, WATCH_DEBOUNCE_MS } from '../../src/cli/watch-sources.js';
import { compile } from '../../src/graph/compile.js';
import type { Definition } from '../../src/definition/types.js';
import type { JobOutcome } from '../../src/scheduler/types.js';

test('--failed picks the jobs that failed, timed out or were cancelled, in the run order', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-last-run-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = { KILN_STATE_DIR: dir };
  t.is(await readLastRun('app-1', env), undefined, 'no last run');
  const outcome = (status: JobOutcome['status']): JobOutcome => ({ status, steps: [] });
  const jobs = new Map<string, JobOutcome>([
    ['a', outcome('passed')],
    ['b', outcome('timed-out')],
    ['c', outcome('cached')],
    ['d', outcome('failed')],
    ['e', outcome('skipped')],
    ['f', outcome('cancelled')],
  ]);
  await writeLastRun('app-1', { runId: 'r-1', jobs }, env);
  const last = await readLastRun('app-1', env);
  t.is(last?.runId, 'r-1');
  t.deepEqual(failedJobs(last!), ['b', 'd', 'f']);
  t.is(await readLastRun('app-2', env), undefined, 'per project');
  await writeFile(join(dir, 'last-run', 'app-1.json'), '{ half');
  t.is(await readLastRun('app-1', env), undefined, 'an unreadable record is no last run');
});

test('isUnder: a path is under itself and its folders, not under a sibling with a longer name', (t) => {
  t.true(isUnder('/p/src', '/p/src'));
  t.true(isUnder('/p/src/a/b', '/p/src'));
  t.false(isUnder('/p/src2/a', '/p/src'));
  t.false(isUnder('/p', '/p/src'));
  t.true(isUnder('/p/..x', '/p'), 'a name that starts with two dots is inside');
});

test('--watch watches bind sources, writable if any job writes them, and ignores state and exports', (t) => {
  const graph = compile({
    version: 1,
    projectDir: '/w',
    jobs: {
      a: {
        image: 'img',
        mounts: [
          { type: 'bind', source: './src', target: '/src', readonly: true },
          { type: 'bind', source: './out', target: '/out' },
        ],
        outputs: [{ path: '/o', export: './dist' }],
        steps: [{ run: 'true' }],
      },
      b: {
        image: 'img',
        mounts: [{ type: 'bind', source: './src', target: '/src', readonly: true }],
        steps: [{ run: 'true' }],
      },
    },
  } as unknown as Definition);
  const plan = watchPlan(graph, '/w/.state');
  t.deepEqual(
    [...plan.sources].sort((x, y) => x.path.localeCompare(y.path)),
    [
      { path: '/w/out', writable: true },
      { path: '/w/src', writable: false },
    ],
  );
  t.deepEqual(plan.ignored, ['/w/.state', '/w/dist']);
});

test('--watch waits for quiet after a change, ignores what runs write into writable sources, and stops on abort', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-watch-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'src'));
  await mkdir(join(dir, 'out'));
  await mkdir(join(dir, 'state'));
  const watcher = await watchSources({
    sources: [
      { path: join(dir, 'src'), writable: false },
      { path: join(dir, 'out'), writable: true },
    ],
    ignored: [join(dir, 'state')],
  });
  t.teardown(() => watcher.close());
  t.deepEqual([...watcher.roots].sort(), [join(dir, 'out'), join(dir, 'src')]);
  const never = new AbortController().signal;

  const started = Date.now();
  const next = watcher.next(never);
  await writeFile(join(dir, 'src', 'a.c'), 'int a;');
  t.deepEqual(await next, [join(dir, 'src', 'a.c')]);
  t.true(Date.now() - started >= WATCH_DEBOUNCE_MS, 'debounced');

  // During a run: a write into the writable source is the run's own; one into src is the user's.
  watcher.setRunning(true);
  await writeFile(join(dir, 'out', 'build.o'), 'x');
  await writeFile(join(dir, 'state', 'lock'), 'x');
  await new Promise((resolve) => setTimeout(resolve, 100));
  await writeFile(join(dir, 'src', 'b.c'), 'int b;');
  await new Promise((resolve) => setTimeout(resolve, 100));
  watcher.setRunning(false);
  t.deepEqual(await watcher.next(never), [join(dir, 'src', 'b.c')]);

  // Between runs a write into the writable source is a change too; an abort ends the wait.
  const abort = new AbortController();
  const waiting = watcher.next(abort.signal);
  abort.abort();
  t.is(await waiting, undefined);
});

test('--watch: the step file read once compiles again for each run, ${{ run.id }} then its id', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-rerun-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'kiln.yaml');
  await writeFile(
    file,
    "version: 1\njobs:\n  a: { image: busybox, steps: [{ run: 'echo ${{ run.id }}' }] }\n",
  );
  const { graph, recompile } = await loadGraph(file, {}, { runId: 'run-1' });
  const display = (g: typeof graph) => g.jobs.get('a')!.steps[0]!.display;
  t.is(display(graph), 'echo run-1');
  await writeFile(file, "version: 1\njobs:\n  b: { image: busybox, steps: [{ run: 'true' }] }\n");
  const again = recompile('run-2');
  t.is(display(again), 'echo run-2');
  t.is(graph.project, again.project);
});
