import test from 'ava';
import { runGraph, newRunId } from '../../src/scheduler/index.js';
import { DefinitionError, UsageError } from '../../src/errors.js';
import { EventLog, FakeExecutor } from '../helpers/fake-executor.js';
import { buildGraph, TEST_IMAGE } from '../helpers/graphs.js';

const diamond = buildGraph({ fetch: [], build: ['fetch'], lint: ['fetch'], ship: ['build', 'lint'] });

test('a diamond runs every job after all the jobs it needs have ended', async (t) => {
  const executor = new FakeExecutor({}, { durationMs: 5 });
  const log = new EventLog();
  const result = await runGraph(diamond, { executor, emit: log.emit, concurrency: 4 });

  t.is(result.status, 'passed');
  t.is(result.exitCode, 0);
  for (const [job, needs] of [
    ['build', ['fetch']],
    ['lint', ['fetch']],
    ['ship', ['build', 'lint']],
  ] as const) {
    for (const need of needs)
      t.true(log.indexOf('job.end', need) < log.indexOf('job.start', job), `${need} before ${job}`);
  }
  t.deepEqual([...result.jobs.keys()], ['fetch', 'build', 'lint', 'ship']);
  t.true([...result.jobs.values()].every((o) => o.status === 'passed'));
});

test('run.start comes first with the jobs in graph order, run.end last, and each job.start before its job.end', async (t) => {
  const executor = new FakeExecutor();
  const log = new EventLog();
  const result = await runGraph(diamond, { executor, emit: log.emit, concurrency: 2, runId: 'run-1' });

  t.like(log.events[0], { type: 'run.start', runId: 'run-1', project: diamond.project, jobs: diamond.order });
  t.like(log.events.at(-1), { type: 'run.end', status: 'passed', exitCode: 0 });
  t.is(typeof (log.events.at(-1) as { durationMs: number }).durationMs, 'number');
  for (const job of diamond.order) {
    t.is(log.of('job.start', job).length, 1);
    t.like(log.of('job.start', job)[0], { image: TEST_IMAGE });
    t.true(log.indexOf('job.start', job) < log.indexOf('job.end', job));
    t.like(log.end(job), { status: 'passed' });
    t.is(typeof log.end(job).durationMs, 'number');
  }
  t.true(log.events.every((e) => typeof e.time === 'string'));
  t.is(result.runId, 'run-1');
});

const concurrencyLimit = test.macro({
  async exec(t, concurrency: number) {
    const jobs = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`job-${i}`, []]));
    const executor = new FakeExecutor({}, { durationMs: 15 });
    const result = await runGraph(buildGraph(jobs), { executor, emit: new EventLog().emit, concurrency });
    t.is(result.status, 'passed');
    t.is(executor.maxRunning, concurrency);
    t.is(executor.startOrder.length, 7);
  },
  title: (_, concurrency) => `no more than ${concurrency} job(s) run at once with concurrency ${concurrency}`,
});
for (const n of [1, 2, 3]) test(concurrencyLimit, n);

test('independent jobs run at the same time', async (t) => {
  const executor = new FakeExecutor({ unit: { blocked: true }, docs: { blocked: true } });
  const run = runGraph(buildGraph({ unit: [], docs: [] }), {
    executor,
    emit: new EventLog().emit,
    concurrency: 2,
  });

  await Promise.all([executor.started('unit'), executor.started('docs')]);
  t.is(executor.running, 2);
  executor.release('unit');
  executor.release('docs');
  t.is((await run).status, 'passed');
});

test('a job waits for a slot, not only for its needs', async (t) => {
  const executor = new FakeExecutor({ a: { blocked: true } });
  const log = new EventLog();
  const run = runGraph(buildGraph({ a: [], b: [] }), { executor, emit: log.emit, concurrency: 1 });

  await executor.started('a');
  // A free slot would have started b in the same turn as a.
  await new Promise(setImmediate);
  t.deepEqual(log.trace(), ['job.start:a']);
  executor.release('a');
  await run;
  t.deepEqual(log.trace(), ['job.start:a', 'job.end:a', 'job.start:b', 'job.end:b']);
});

test('the executor gets the run id, grace period, kill signal and an open signal', async (t) => {
  const executor = new FakeExecutor();
  const kill = new AbortController();
  await runGraph(buildGraph({ only: [] }), {
    executor,
    emit: new EventLog().emit,
    runId: 'run-ctx',
    graceMs: 1234,
    killSignal: kill.signal,
  });
  const { context } = executor.runs.get('only')!;
  t.is(context.runId, 'run-ctx');
  t.is(context.graceMs, 1234);
  t.is(context.killSignal, kill.signal);
  t.false(context.signal.aborted);
  t.is(context.graph.project, 'test-1a2b3c4d');
  t.deepEqual([...context.needs], []);
});

test('defaults: a generated run id, a 10 s grace period', async (t) => {
  const executor = new FakeExecutor();
  const result = await runGraph(buildGraph({ only: [] }), { executor, emit: new EventLog().emit });
  const { context } = executor.runs.get('only')!;
  t.regex(result.runId, /^\d{8}-\d{6}-[0-9a-f]{4}$/);
  t.is(context.runId, result.runId);
  t.is(context.graceMs, 10_000);
  t.false(context.killSignal.aborted);
});

test('a job is handed the outcomes of the jobs it needs, outputs and all, and no others', async (t) => {
  const out = { path: '/out', volume: 'kiln-result-p-build-1', digest: `sha256:${'a'.repeat(64)}` };
  const executor = new FakeExecutor({ build: { outputs: new Map([['/out', out]]) } });
  await runGraph(buildGraph({ build: [], lint: [], test: ['build', 'lint'], ship: ['test'] }), {
    executor,
    emit: new EventLog().emit,
    concurrency: 1,
  });
  const needs = executor.runs.get('test')!.context.needs;
  t.deepEqual([...needs.keys()].sort(), ['build', 'lint']);
  t.is(needs.get('build')!.status, 'passed');
  t.deepEqual(needs.get('build')!.outputs?.get('/out'), out);
  t.is(needs.get('lint')!.outputs, undefined);
  t.deepEqual([...executor.runs.get('ship')!.context.needs.keys()], ['test']);
});

test('an empty graph passes at once', async (t) => {
  const log = new EventLog();
  const result = await runGraph(buildGraph({}), { executor: new FakeExecutor(), emit: log.emit });
  t.like(result, { status: 'passed', exitCode: 0 });
  t.deepEqual(
    log.events.map((e) => e.type),
    ['run.start', 'run.end'],
  );
});

test('run ids are short, sortable by start time, and differ between runs', (t) => {
  const earlier = newRunId(new Date('2026-11-23T09:30:12Z'));
  const later = newRunId(new Date('2026-11-23T10:00:00Z'));
  t.regex(earlier, /^20261123-093012-[0-9a-f]{4}$/);
  t.true(earlier < later);
  const ids = new Set(Array.from({ length: 50 }, () => newRunId()));
  t.true(ids.size > 40);
});

test('a concurrency below 1 is refused with a usage error before anything runs', async (t) => {
  const log = new EventLog();
  const error = await t.throwsAsync(
    runGraph(buildGraph({ a: [] }), { executor: new FakeExecutor(), emit: log.emit, concurrency: 0 }),
    { instanceOf: UsageError },
  );
  t.regex(error!.message, /concurrency must be a whole number of at least 1, got 0/);
  t.is(log.events.length, 0);
});

test('a graph whose job needs an unknown job is refused, naming both', async (t) => {
  const graph = buildGraph({ a: [] });
  const broken = { ...graph, jobs: new Map([['a', { ...graph.jobs.get('a')!, needs: ['ghost'] }]]) };
  const error = await t.throwsAsync(
    runGraph(broken, { executor: new FakeExecutor(), emit: new EventLog().emit }),
    {
      instanceOf: DefinitionError,
    },
  );
  t.is(error!.message, 'job a needs ghost, which is not a job of the graph');
});

test('a graph whose order puts a job before one it needs is refused', async (t) => {
  const graph = buildGraph({ a: [], b: ['a'] });
  const error = await t.throwsAsync(
    runGraph({ ...graph, order: ['b', 'a'] }, { executor: new FakeExecutor(), emit: new EventLog().emit }),
    { instanceOf: DefinitionError },
  );
  t.regex(error!.message, /job b needs a, which does not come before it/);
});

test('a job listed twice in needs waits for it once', async (t) => {
  const graph = buildGraph({ a: [], b: ['a', 'a'] });
  const result = await runGraph(graph, { executor: new FakeExecutor(), emit: new EventLog().emit });
  t.is(result.jobs.get('b')!.status, 'passed');
});
