import test from 'ava';
import { runGraph, type CancelReason } from '../../src/scheduler/index.js';
import { EventLog, FakeExecutor } from '../helpers/fake-executor.js';
import { buildGraph } from '../helpers/graphs.js';

const interrupt: CancelReason = { kind: 'interrupt', message: 'interrupted (SIGINT)' };

/** Two jobs that run until stopped, one waiting for a slot, one waiting for `build`. */
const graph = buildGraph({ build: [], lint: [], docs: [], publish: ['build'] });

test('cancelling mid-run aborts running jobs with reason interrupt, skips the rest, and ends cancelled with 130', async (t) => {
  const executor = new FakeExecutor({ build: { blocked: true }, lint: { blocked: true } });
  const log = new EventLog();
  const controller = new AbortController();
  const run = runGraph(graph, { executor, emit: log.emit, concurrency: 2, signal: controller.signal });

  await Promise.all([executor.started('build'), executor.started('lint')]);
  controller.abort(interrupt);
  const result = await run;

  for (const job of ['build', 'lint']) {
    t.deepEqual(executor.runs.get(job)!.abortReason, interrupt);
    t.like(log.end(job), { status: 'cancelled', reason: 'interrupted (SIGINT)' });
  }
  for (const job of ['docs', 'publish']) {
    t.like(log.end(job), { status: 'skipped', reason: 'run cancelled' });
    t.is(log.of('job.start', job).length, 0);
  }
  t.deepEqual(executor.startOrder, ['build', 'lint']);
  t.like(result, { status: 'cancelled', exitCode: 130 });
  t.like(log.events.at(-1), { type: 'run.end', status: 'cancelled', exitCode: 130 });
});

test('the run resolves only after cancelled jobs have stopped, however long their grace takes', async (t) => {
  const executor = new FakeExecutor({ build: { blocked: true, stopMs: 40 } });
  const log = new EventLog();
  const controller = new AbortController();
  const run = runGraph(buildGraph({ build: [] }), { executor, emit: log.emit, signal: controller.signal });

  await executor.started('build');
  controller.abort(interrupt);
  await run;
  t.not(executor.runs.get('build')!.endedAt, undefined);
  t.is(executor.running, 0);
  t.true(log.indexOf('job.end', 'build') < log.indexOf('run.end'));
  t.true(log.end('build').durationMs! >= 35);
});

test('a job that stops cleanly on the interrupt keeps its passed status, and the run is still cancelled', async (t) => {
  const executor = new FakeExecutor({ build: { blocked: true, onAbort: 'passed' } });
  const log = new EventLog();
  const controller = new AbortController();
  const run = runGraph(graph, { executor, emit: log.emit, concurrency: 1, signal: controller.signal });

  await executor.started('build');
  controller.abort(interrupt);
  const result = await run;
  t.like(log.end('build'), { status: 'passed' });
  t.like(log.end('publish'), { status: 'skipped', reason: 'run cancelled' });
  t.like(result, { status: 'cancelled', exitCode: 130 });
});

test('a run whose signal is already aborted starts nothing and ends cancelled', async (t) => {
  const executor = new FakeExecutor();
  const log = new EventLog();
  const result = await runGraph(graph, { executor, emit: log.emit, signal: AbortSignal.abort(interrupt) });

  t.deepEqual(executor.startOrder, []);
  t.deepEqual(
    log.events.map((e) => e.type),
    ['run.start', 'job.end', 'job.end', 'job.end', 'job.end', 'run.end'],
  );
  t.true(log.of('job.end').every((e) => e.status === 'skipped' && e.reason === 'run cancelled'));
  t.like(result, { status: 'cancelled', exitCode: 130 });
});

test('cancelling after a failure still ends the run cancelled with 130', async (t) => {
  const executor = new FakeExecutor({ build: { blocked: true }, lint: { status: 'failed' } });
  const controller = new AbortController();
  const log = new EventLog();
  const run = runGraph(graph, {
    executor,
    emit: log.emit,
    concurrency: 2,
    keepGoing: true,
    signal: controller.signal,
  });

  await executor.started('build');
  await executor.started('docs');
  controller.abort(interrupt);
  const result = await run;
  t.like(log.end('lint'), { status: 'failed' });
  t.like(result, { status: 'cancelled', exitCode: 130 });
});

test('an abort without a CancelReason reaches the jobs as an interrupt', async (t) => {
  const executor = new FakeExecutor({ build: { blocked: true } });
  const controller = new AbortController();
  const run = runGraph(buildGraph({ build: [] }), {
    executor,
    emit: new EventLog().emit,
    signal: controller.signal,
  });

  await executor.started('build');
  controller.abort();
  await run;
  t.deepEqual(executor.runs.get('build')!.abortReason, { kind: 'interrupt', message: 'run cancelled' });
});

test('the kill signal reaches running jobs as it is', async (t) => {
  const executor = new FakeExecutor({ build: { blocked: true, stopMs: 10 } });
  const controller = new AbortController();
  const kill = new AbortController();
  const run = runGraph(buildGraph({ build: [] }), {
    executor,
    emit: new EventLog().emit,
    signal: controller.signal,
    killSignal: kill.signal,
  });

  const { context } = await executor.started('build');
  controller.abort(interrupt);
  kill.abort(interrupt);
  await run;
  t.true(context.killSignal.aborted);
});

test('a signal aborted after every job ended does not make the run cancelled', async (t) => {
  const controller = new AbortController();
  const log = new EventLog();
  const result = await runGraph(buildGraph({ a: [] }), {
    executor: new FakeExecutor(),
    emit: (event) => {
      log.emit(event);
      if (event.type === 'job.end') controller.abort(interrupt);
    },
    signal: controller.signal,
  });
  t.like(result, { status: 'passed', exitCode: 0 });
});
