/**
 * Jobs with `if: always()`: they run once every job they need has ended, whatever its status, even
 * after fail-fast stopped other jobs; a cancelled run starts none of them.
 */
import test from 'ava';
import type { BuildGraph } from '../../src/graph/types.js';
import { runGraph, type CancelReason } from '../../src/scheduler/index.js';
import { EventLog, FakeExecutor } from '../helpers/fake-executor.js';
import { buildGraph, type JobShape } from '../helpers/graphs.js';

/** A test graph whose jobs named in `always` have `if: always()`. */
function graphOf(jobs: Readonly<Record<string, JobShape>>, always: readonly string[]): BuildGraph {
  const graph = buildGraph(jobs);
  const marked = new Map(
    [...graph.jobs].map(([name, job]) => [
      name,
      always.includes(name) ? { ...job, if: 'always' as const } : job,
    ]),
  );
  return { ...graph, jobs: marked };
}

test('an always() job runs after a need failed, beside the skipped dependants, and the run still fails', async (t) => {
  const executor = new FakeExecutor({ build: { status: 'failed' } });
  const log = new EventLog();
  const graph = graphOf({ build: [], publish: ['build'], report: ['build'] }, ['report']);
  const result = await runGraph(graph, { executor, emit: log.emit });

  t.like(log.end('publish'), { status: 'skipped', reason: 'needs build, which failed' });
  t.like(log.end('report'), { status: 'passed' });
  t.deepEqual(executor.startOrder, ['build', 'report']);
  t.is(executor.runs.get('report')!.context.needs.get('build')!.status, 'failed');
  t.like(result, { status: 'failed', exitCode: 1 });
});

test('an always() job counts a skipped need as ended', async (t) => {
  const executor = new FakeExecutor({ build: { status: 'failed' } });
  const log = new EventLog();
  const graph = graphOf({ build: [], test: ['build'], report: ['test'] }, ['report']);
  await runGraph(graph, { executor, emit: log.emit });

  t.like(log.end('test'), { status: 'skipped' });
  t.like(log.end('report'), { status: 'passed' });
  t.is(executor.runs.get('report')!.context.needs.get('test')!.status, 'skipped');
});

test('an always() job waits for every need to end, even after fail-fast stopped the others', async (t) => {
  const executor = new FakeExecutor({ slow: { blocked: true }, boom: { status: 'failed' } });
  const log = new EventLog();
  const graph = graphOf({ slow: [], boom: [], later: [], report: ['slow', 'boom'] }, ['report']);
  const run = runGraph(graph, { executor, emit: log.emit, concurrency: 2 });

  await executor.started('slow');
  await log.when('job.end', 'boom');
  t.like(log.end('later'), { status: 'skipped', reason: 'not started after a failure (fail-fast)' });
  t.is(log.of('job.end', 'report').length, 0);
  t.false(executor.startOrder.includes('report'));

  executor.release('slow');
  const result = await run;
  t.deepEqual(executor.startOrder, ['slow', 'boom', 'report']);
  t.like(log.end('report'), { status: 'passed' });
  t.like(result, { status: 'failed' });
});

test('an always() job runs when fail-fast skipped the chain it needs before it started', async (t) => {
  const executor = new FakeExecutor({ boom: { status: 'failed' } });
  const log = new EventLog();
  const graph = graphOf({ boom: [], later: [], after: ['later'], report: ['after'] }, ['report']);
  await runGraph(graph, { executor, emit: log.emit, concurrency: 1 });

  t.like(log.end('later'), { status: 'skipped' });
  t.like(log.end('after'), { status: 'skipped' });
  t.like(log.end('report'), { status: 'passed' });
  t.deepEqual(executor.startOrder, ['boom', 'report']);
});

test('after all its needs passed, an always() job runs as any other', async (t) => {
  const executor = new FakeExecutor();
  const log = new EventLog();
  const graph = graphOf({ a: [], b: ['a'], report: ['a', 'b'] }, ['report']);
  const result = await runGraph(graph, { executor, emit: log.emit });
  t.deepEqual(executor.startOrder, ['a', 'b', 'report']);
  t.like(result, { status: 'passed' });
});

test('a cancelled run starts no always() job', async (t) => {
  const interrupt: CancelReason = { kind: 'interrupt', message: 'interrupted (SIGINT)' };
  const executor = new FakeExecutor({ build: { blocked: true } });
  const log = new EventLog();
  const controller = new AbortController();
  const graph = graphOf({ build: [], report: ['build'] }, ['report']);
  const run = runGraph(graph, { executor, emit: log.emit, signal: controller.signal });

  await executor.started('build');
  controller.abort(interrupt);
  const result = await run;
  t.like(log.end('report'), { status: 'skipped', reason: 'run cancelled' });
  t.deepEqual(executor.startOrder, ['build']);
  t.like(result, { status: 'cancelled', exitCode: 130 });
});
