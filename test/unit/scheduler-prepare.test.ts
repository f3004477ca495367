import test from 'ava';
import type { CompiledJob } from '../../src/graph/types.js';
import { runGraph, SkipReason } from '../../src/scheduler/index.js';
import type { JobContext, PreparedJob } from '../../src/scheduler/types.js';
import { EventLog, FakeExecutor, type JobScript } from '../helpers/fake-executor.js';
import { buildGraph } from '../helpers/graphs.js';

interface PrepareScript {
  /** Whether the job needs a slot after it is prepared. Default true. */
  readonly slot?: boolean;
  /** A warning the job emits while it is prepared. */
  readonly warn?: string;
  /** Preparing waits until the test calls `release(job)`, or until the job's signal aborts. */
  readonly blocked?: boolean;
}

/** A FakeExecutor that prepares jobs (JobExecutor.prepare) as scripted. */
class PreparingExecutor extends FakeExecutor {
  readonly #prepares: Readonly<Record<string, PrepareScript>>;
  readonly #gates = new Map<string, () => void>();
  readonly #preparing = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  /** Jobs whose preparing saw their signal abort. */
  readonly aborted: string[] = [];

  constructor(
    prepares: Readonly<Record<string, PrepareScript>>,
    scripts: Readonly<Record<string, JobScript>> = {},
  ) {
    super(scripts);
    this.#prepares = prepares;
  }

  /** Resolves once the job's preparing has begun. */
  preparing(job: string): Promise<void> {
    return this.#signal(job).promise;
  }

  releasePrepare(job: string): void {
    this.#gates.get(job)?.();
  }

  async prepare(job: CompiledJob, context: JobContext): Promise<PreparedJob> {
    const script = this.#prepares[job.name] ?? {};
    this.#signal(job.name).resolve();
    if (script.warn) context.emit({ type: 'warning', job: job.name, message: script.warn });
    if (script.blocked) {
      await new Promise<void>((resolve) => {
        this.#gates.set(job.name, resolve);
        context.signal.addEventListener(
          'abort',
          () => {
            this.aborted.push(job.name);
            resolve();
          },
          { once: true },
        );
      });
    }
    return { slot: script.slot ?? true };
  }

  #signal(job: string): { promise: Promise<void>; resolve: () => void } {
    let found = this.#preparing.get(job);
    if (found === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      found = { promise, resolve };
      this.#preparing.set(job, found);
    }
    return found;
  }
}

test('a job that needs no slot once prepared runs while every slot is held', async (t) => {
  t.timeout(5000, 'the settled job waited for the slot');
  const executor = new PreparingExecutor({ settled: { slot: false } }, { busy: { blocked: true } });
  const log = new EventLog();
  const run = runGraph(buildGraph({ busy: [], settled: [] }), { executor, emit: log.emit, concurrency: 1 });
  await executor.started('busy');
  await log.when('job.end', 'settled');
  executor.release('busy');
  const result = await run;

  t.is(result.status, 'passed');
  t.true(log.indexOf('job.end', 'settled') < log.indexOf('job.end', 'busy'));
  t.is(executor.maxRunning, 2);
});

test('jobs that need a slot once prepared still run no more than the concurrency at once', async (t) => {
  const jobs = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`job-${i}`, []]));
  const executor = new PreparingExecutor(
    {},
    Object.fromEntries(Object.keys(jobs).map((j) => [j, { durationMs: 10 }])),
  );
  const result = await runGraph(buildGraph(jobs), { executor, emit: new EventLog().emit, concurrency: 2 });
  t.is(result.status, 'passed');
  t.is(executor.maxRunning, 2);
  t.is(executor.startOrder.length, 6);
});

test('jobs that need a slot take it in the order they became ready, whatever order their preparing ends in', async (t) => {
  const executor = new PreparingExecutor({ first: { blocked: true } });
  const log = new EventLog();
  const run = runGraph(buildGraph({ first: [], second: [], third: [] }), {
    executor,
    emit: log.emit,
    concurrency: 1,
  });
  await executor.preparing('second');
  await executor.preparing('third');
  // second and third are prepared; first, ready before them, is not yet: its slot waits for it.
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(executor.startOrder, []);
  executor.releasePrepare('first');
  t.is((await run).status, 'passed');
  t.deepEqual(executor.startOrder, ['first', 'second', 'third']);
});

test('what a job emits while it is prepared comes after its job.start and before its job.end', async (t) => {
  const executor = new PreparingExecutor({ build: { warn: 'the result is damaged', slot: false } });
  const log = new EventLog();
  await runGraph(buildGraph({ build: [] }), { executor, emit: log.emit, concurrency: 1 });
  const warning = log.events.findIndex((e) => e.type === 'warning');
  t.true(log.indexOf('job.start', 'build') < warning);
  t.true(warning < log.indexOf('job.end', 'build'));
});

test('events about the run or another job, emitted while a job is prepared, are not held back until its job.start', async (t) => {
  const log = new EventLog();
  const executor = new PreparingExecutor({ late: { blocked: true } });
  const prepare = executor.prepare.bind(executor);
  executor.prepare = (job, context) => {
    context.emit({ type: 'warning', message: 'about the run' });
    context.emit({ type: 'warning', job: 'other', message: 'about another job' });
    return prepare(job, context);
  };
  const run = runGraph(buildGraph({ late: [] }), { executor, emit: log.emit, concurrency: 1 });
  await executor.preparing('late');
  t.deepEqual(
    log.of('warning').map((w) => w.message),
    ['about the run', 'about another job'],
  );
  executor.releasePrepare('late');
  await run;
  t.true(log.indexOf('warning') < log.indexOf('job.start', 'late'));
});

test('a job still being prepared when the run fails fast is skipped, never executed, and its events are dropped', async (t) => {
  const executor = new PreparingExecutor(
    { late: { blocked: true, slot: false, warn: 'never told' } },
    { broken: { status: 'failed' } },
  );
  const log = new EventLog();
  const run = runGraph(buildGraph({ late: [], broken: [] }), { executor, emit: log.emit, concurrency: 2 });
  await executor.preparing('late');
  await log.when('job.end', 'broken');
  executor.releasePrepare('late');
  const result = await run;

  t.is(result.status, 'failed');
  t.like(log.end('late'), { status: 'skipped', reason: SkipReason.failFast });
  t.false(executor.startOrder.includes('late'));
  t.is(log.of('job.start', 'late').length, 0);
  t.is(log.of('warning').length, 0);
});

test('cancelling a run aborts the signal of a job being prepared and skips it', async (t) => {
  const executor = new PreparingExecutor({ late: { blocked: true } });
  const log = new EventLog();
  const controller = new AbortController();
  const run = runGraph(buildGraph({ late: [] }), {
    executor,
    emit: log.emit,
    concurrency: 1,
    signal: controller.signal,
  });
  await executor.preparing('late');
  controller.abort({ kind: 'interrupt', message: 'interrupted (SIGINT)' });
  const result = await run;

  t.deepEqual(executor.aborted, ['late']);
  t.like(log.end('late'), { status: 'skipped', reason: SkipReason.cancelled });
  t.false(executor.startOrder.includes('late'));
  t.like(result, { status: 'cancelled', exitCode: 130 });
});

test('a throw while a job is prepared fails the job with an error event after its job.start', async (t) => {
  const executor = new PreparingExecutor({});
  executor.prepare = () => Promise.reject(new Error('no engine'));
  const log = new EventLog();
  const result = await runGraph(buildGraph({ build: [] }), { executor, emit: log.emit, concurrency: 1 });
  t.is(result.status, 'failed');
  t.like(log.end('build'), { status: 'failed', reason: 'no engine' });
  t.true(log.indexOf('job.start', 'build') < log.indexOf('error', 'build'));
  t.false(executor.startOrder.includes('build'));
});
