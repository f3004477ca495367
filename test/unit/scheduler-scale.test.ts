import test from 'ava';
import { performance } from 'node:perf_hooks';
import { runGraph } from '../../src/scheduler/index.js';
import { EventLog, FakeExecutor } from '../helpers/fake-executor.js';
import { chainGraph, fanOutGraph } from '../helpers/graphs.js';

const SIZE = 10_000;

test('a chain of 10,000 jobs runs them in order', async (t) => {
  const executor = new FakeExecutor();
  const log = new EventLog();
  const started = performance.now();
  const result = await runGraph(chainGraph(SIZE), { executor, emit: log.emit, concurrency: 4 });
  t.log(`chain of ${SIZE}: ${Math.round(performance.now() - started)} ms`);

  t.is(result.status, 'passed');
  t.is(executor.startOrder.length, SIZE);
  t.is(executor.maxRunning, 1);
  t.deepEqual(executor.startOrder.slice(0, 3), ['job-0', 'job-1', 'job-2']);
  t.is(executor.startOrder.at(-1), `job-${SIZE - 1}`);
  t.is(log.events.length, 2 * SIZE + 2);
});

test('a fan-out of 10,000 jobs runs them all within the concurrency', async (t) => {
  const executor = new FakeExecutor();
  const started = performance.now();
  const result = await runGraph(fanOutGraph(SIZE), { executor, emit: new EventLog().emit, concurrency: 8 });
  t.log(`fan-out of ${SIZE}: ${Math.round(performance.now() - started)} ms`);

  t.is(result.status, 'passed');
  t.is(executor.startOrder.length, SIZE);
  t.is(executor.maxRunning, 8);
});

test('a failure at the root of a 10,000-job chain skips every other job', async (t) => {
  const executor = new FakeExecutor({ 'job-0': { status: 'failed' } });
  const log = new EventLog();
  const started = performance.now();
  const result = await runGraph(chainGraph(SIZE), { executor, emit: log.emit, keepGoing: true });
  t.log(`failed chain of ${SIZE}: ${Math.round(performance.now() - started)} ms`);

  t.like(result, { status: 'failed', exitCode: 1 });
  t.is(executor.startOrder.length, 1);
  t.is(log.of('job.end').filter((e) => e.status === 'skipped').length, SIZE - 1);
  t.like(log.end(`job-${SIZE - 1}`), { reason: `needs job-${SIZE - 2}, which was skipped` });
});
