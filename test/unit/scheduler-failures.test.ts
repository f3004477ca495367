import test from 'ava';
import { runGraph } from '../../src/scheduler/index.js';
import type { Status } from '../../src/events.js';
import { EngineUnavailableError, InfrastructureError, KilnError, MountError } from '../../src/errors.js';
import { EventLog, FakeExecutor, type JobScript } from '../helpers/fake-executor.js';
import { buildGraph } from '../helpers/graphs.js';

/** A job that fails while `sibling` runs; `later` waits for a slot, `after-sibling` for `sibling`. */
const siblings = buildGraph({
  sibling: [],
  boom: [],
  later: [],
  'after-boom': ['boom'],
  'after-sibling': ['sibling'],
});

test('a failed job skips its dependants, each naming the need that did not pass', async (t) => {
  const executor = new FakeExecutor({ compile: { status: 'failed' } });
  const log = new EventLog();
  const result = await runGraph(buildGraph({ compile: [], test: ['compile'], publish: ['test'] }), {
    executor,
    emit: log.emit,
  });

  t.like(result, { status: 'failed', exitCode: 1 });
  t.like(log.end('compile'), { status: 'failed' });
  t.like(log.end('test'), { status: 'skipped', reason: 'needs compile, which failed' });
  t.like(log.end('publish'), { status: 'skipped', reason: 'needs test, which was skipped' });
  t.deepEqual(executor.startOrder, ['compile']);
  t.is(log.of('job.start', 'test').length, 0);
  t.is(result.jobs.get('publish')!.status, 'skipped');
});

test('fail-fast: after a failure no new job starts, and a running sibling finishes undisturbed', async (t) => {
  const executor = new FakeExecutor({ sibling: { blocked: true }, boom: { status: 'failed' } });
  const log = new EventLog();
  const run = runGraph(siblings, { executor, emit: log.emit, concurrency: 2 });

  await executor.started('sibling');
  // boom fails; the rest are skipped while sibling still runs.
  await Promise.all(['boom', 'after-boom', 'later', 'after-sibling'].map((job) => log.when('job.end', job)));
  t.like(log.end('boom'), { status: 'failed' });
  t.like(log.end('after-boom'), { status: 'skipped', reason: 'needs boom, which failed' });
  t.like(log.end('later'), { status: 'skipped', reason: 'not started after a failure (fail-fast)' });
  t.like(log.end('after-sibling'), { status: 'skipped', reason: 'not started after a failure (fail-fast)' });
  t.is(log.of('job.end', 'sibling').length, 0);

  executor.release('sibling');
  const result = await run;
  t.like(log.end('sibling'), { status: 'passed' });
  t.is(executor.runs.get('sibling')!.abortReason, undefined);
  t.false(executor.runs.get('sibling')!.context.signal.aborted);
  t.deepEqual(executor.startOrder, ['sibling', 'boom']);
  t.like(result, { status: 'failed', exitCode: 1 });
  t.like(log.events.at(-1), { type: 'run.end', status: 'failed', exitCode: 1 });
});

test('keep-going: every job whose needs passed still runs after a failure', async (t) => {
  const executor = new FakeExecutor({ sibling: { durationMs: 10 }, boom: { status: 'failed' } });
  const log = new EventLog();
  const result = await runGraph(siblings, { executor, emit: log.emit, concurrency: 2, keepGoing: true });

  t.deepEqual(new Set(executor.startOrder), new Set(['sibling', 'boom', 'later', 'after-sibling']));
  t.like(log.end('later'), { status: 'passed' });
  t.like(log.end('after-sibling'), { status: 'passed' });
  t.like(log.end('after-boom'), { status: 'skipped', reason: 'needs boom, which failed' });
  t.like(result, { status: 'failed', exitCode: 1 });
});

test('an executor that throws fails the job with the error as reason, emits an error event, and the run goes on', async (t) => {
  const executor = new FakeExecutor({ broken: { throws: new Error('socket hang up') } });
  const log = new EventLog();
  const result = await runGraph(buildGraph({ broken: [], fine: [], after: ['broken'] }), {
    executor,
    emit: log.emit,
    keepGoing: true,
  });

  t.like(log.end('broken'), { status: 'failed', reason: 'socket hang up' });
  t.deepEqual(
    log.of('error').map(({ job, code, message }) => ({ job, code, message })),
    [{ job: 'broken', code: 'E_INTERNAL', message: 'socket hang up' }],
  );
  t.true(log.indexOf('error', 'broken') < log.indexOf('job.end', 'broken'));
  t.like(log.end('fine'), { status: 'passed' });
  t.like(log.end('after'), { status: 'skipped', reason: 'needs broken, which failed' });
  t.is(result.jobs.get('broken')!.error!.message, 'socket hang up');
  t.like(result, { status: 'failed', exitCode: 1 });
});

test('a thrown KilnError keeps its code on the error event', async (t) => {
  const error = new KilnError('cache volume is busy', { code: 'E_CACHE_BUSY', exitCode: 1 });
  const log = new EventLog();
  await runGraph(buildGraph({ a: [] }), {
    executor: new FakeExecutor({ a: { throws: error } }),
    emit: log.emit,
  });
  t.like(log.of('error')[0], { job: 'a', code: 'E_CACHE_BUSY', message: 'cache volume is busy' });
});

test('a job that throws synchronously is failed like one that rejects', async (t) => {
  const log = new EventLog();
  const result = await runGraph(buildGraph({ a: [] }), {
    executor: {
      execute() {
        throw new TypeError('not a function');
      },
    },
    emit: log.emit,
  });
  t.like(log.end('a'), { status: 'failed', reason: 'not a function' });
  t.like(result, { status: 'failed', exitCode: 1 });
});

const verdict = test.macro({
  async exec(t, script: JobScript, expected: { status: Status; exitCode: number }) {
    const executor = new FakeExecutor({ job: script });
    const result = await runGraph(buildGraph({ job: [], other: [] }), {
      executor,
      emit: new EventLog().emit,
      keepGoing: true,
    });
    t.like(result, expected);
  },
  title: (title) => `run verdict: ${title}`,
});

test('every job passed -> passed, 0', verdict, {}, { status: 'passed', exitCode: 0 });
test('a job failed -> failed, 1', verdict, { status: 'failed' }, { status: 'failed', exitCode: 1 });
test('a job timed out -> failed, 1', verdict, { status: 'timed-out' }, { status: 'failed', exitCode: 1 });
test(
  'the executor threw a plain Error -> failed, 1',
  verdict,
  { throws: new Error('bug') },
  { status: 'failed', exitCode: 1 },
);
test(
  'the executor threw an infrastructure fault -> failed, 3',
  verdict,
  { throws: new InfrastructureError('volume create failed') },
  { status: 'failed', exitCode: 3 },
);
test(
  'the executor returned an engine-unavailable outcome -> failed, 3',
  verdict,
  {
    status: 'failed',
    error: new EngineUnavailableError('the engine went away', 'unix:///var/run/docker.sock'),
  },
  { status: 'failed', exitCode: 3 },
);
test(
  'a job failed on a mount error -> failed, 2',
  verdict,
  { throws: new MountError('job', 'bind ./missing', 'the source does not exist') },
  { status: 'failed', exitCode: 2 },
);

test('an infrastructure fault outweighs a step failure in the exit code', async (t) => {
  const executor = new FakeExecutor({
    a: { status: 'failed' },
    b: { throws: new InfrastructureError('container create failed') },
  });
  const result = await runGraph(buildGraph({ a: [], b: [] }), {
    executor,
    emit: new EventLog().emit,
    keepGoing: true,
  });
  t.like(result, { status: 'failed', exitCode: 3 });
});

test('a job timeout aborts the job signal with reason timeout, and its dependants are skipped', async (t) => {
  const executor = new FakeExecutor({ slow: { blocked: true } });
  const log = new EventLog();
  const result = await runGraph(buildGraph({ slow: { timeoutMs: 30 }, after: ['slow'] }), {
    executor,
    emit: log.emit,
  });

  const reason = executor.runs.get('slow')!.abortReason;
  t.deepEqual(reason, { kind: 'timeout', message: 'job slow timed out after 30ms' });
  t.like(log.end('slow'), { status: 'timed-out', reason: 'job slow timed out after 30ms' });
  t.true(log.end('slow').durationMs! >= 25);
  t.like(log.end('after'), { status: 'skipped', reason: 'needs slow, which timed out' });
  t.like(result, { status: 'failed', exitCode: 1 });
});

test('a job that ends before its timeout is not aborted later', async (t) => {
  const executor = new FakeExecutor();
  const result = await runGraph(buildGraph({ quick: { timeoutMs: 30 } }), {
    executor,
    emit: new EventLog().emit,
  });
  // Nothing to await: the point is that the timeout never fires, so its time is let pass (twice over).
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.is(result.status, 'passed');
  t.false(executor.runs.get('quick')!.context.signal.aborted);
});

test('an executor that throws the abort reason after a timeout ends the job timed-out, without an error event', async (t) => {
  const log = new EventLog();
  const result = await runGraph(buildGraph({ slow: { timeoutMs: 10 } }), {
    executor: {
      execute: (_job, { signal }) =>
        new Promise((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        ),
    },
    emit: log.emit,
  });
  t.like(log.end('slow'), { status: 'timed-out', reason: 'job slow timed out after 10ms' });
  t.is(log.of('error').length, 0);
  t.like(result, { status: 'failed', exitCode: 1 });
});

test('an event listener that throws does not stop the run; its error is thrown once every job has ended', async (t) => {
  const executor = new FakeExecutor({}, { durationMs: 5 });
  const error = await t.throwsAsync(
    runGraph(buildGraph({ a: [], b: ['a'] }), {
      executor,
      emit: (event) => {
        if (event.type === 'job.start') throw new Error('reporter broke');
      },
    }),
  );
  t.is(error!.message, 'reporter broke');
  t.deepEqual(executor.endOrder, ['a', 'b']);
});

test('a grace period longer than a timer can hold is refused before any job starts', async (t) => {
  const executor = new FakeExecutor({});
  const log = new EventLog();
  const error = await t.throwsAsync(
    runGraph(buildGraph({ only: [] }), { executor, emit: log.emit, graceMs: 2 ** 31 }),
  );
  t.true(error instanceof KilnError);
  t.regex(error!.message, /grace period must be .* from 0 to 2147483647/);
  t.deepEqual(executor.startOrder, []);
});
