/**
 * A step with `retry` in the reporters: each attempt's end says which attempt it was, a later attempt
 * replaces the earlier one in the run's state, and the summary says which attempt passed.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { KilnEvent, StepEndEvent } from '../../src/events.js';
import { LogStore } from '../../src/reporters/log-store.js';
import { PlainReporter } from '../../src/reporters/plain-reporter.js';
import { createRunState, reduceRun } from '../../src/reporters/run-state.js';
import { renderSummary } from '../../src/reporters/summary.js';
import { renderFrame } from '../../src/reporters/tty-frame.js';
import { ORIGIN, at, memoryStream } from '../helpers/fake-run.js';

const start = (attempt: number): KilnEvent =>
  at(attempt * 10, {
    type: 'step.start',
    job: 'build',
    step: 'flaky',
    index: 0,
    command: './flaky.sh',
    attempt,
    attempts: 3,
  });
const end = (attempt: number, fields: Partial<StepEndEvent> = {}): KilnEvent =>
  at(attempt * 10 + 5, {
    type: 'step.end',
    job: 'build',
    step: 'flaky',
    index: 0,
    exitCode: 1,
    status: 'failed',
    durationMs: 300,
    attempt,
    attempts: 3,
    ...fields,
  });

const flakyRun = (last: Partial<StepEndEvent>): KilnEvent[] => [
  at(0, { type: 'run.start', runId: 'r', project: 'p', jobs: ['build'] }),
  at(1, { type: 'job.start', job: 'build', image: 'busybox' }),
  start(1),
  end(1),
  start(2),
  end(2),
  start(3),
  end(3, last),
  at(40, {
    type: 'job.end',
    job: 'build',
    status: last.status === 'passed' ? 'passed' : 'failed',
    durationMs: 40,
  }),
  at(41, { type: 'run.end', status: 'passed', exitCode: 0, durationMs: 41 }),
];

test('the plain reporter says which attempt each end is, and that a later one passed', async (t) => {
  const stream = memoryStream();
  const reporter = new PlainReporter({ stream, color: false });
  flakyRun({ status: 'passed', exitCode: 0 }).forEach((e) => reporter.onEvent(e));
  await reporter.close();
  const text = stream.text();
  t.regex(text, /\[build\] FAIL flaky exited 1 on attempt 1\/3 \(0\.3s\)/);
  t.regex(text, /\[build\] > flaky \(attempt 2\/3\): \.\/flaky\.sh/);
  t.regex(text, /\[build\] ok flaky passed on attempt 3\/3 \(0\.3s\)/);
});

test('a new attempt replaces the earlier one in the run state, and the summary says which attempt passed', (t) => {
  const state = flakyRun({ status: 'passed', exitCode: 0 }).reduce(reduceRun, createRunState());
  const steps = state.jobs['build']!.steps;
  t.is(steps.length, 1);
  t.like(steps[0], { status: 'passed', attempt: 3, attempts: 3 });
  const summary = renderSummary(state, { color: false });
  t.true(summary.includes('build / flaky: passed on attempt 3/3'), summary);
  t.regex(summary, /build\s+passed\s+1\/1/);
});

test('the summary says on which attempt a step that never passed failed', (t) => {
  const state = flakyRun({ status: 'failed', exitCode: 2 }).reduce(reduceRun, createRunState());
  const summary = renderSummary(state, { color: false });
  t.true(summary.includes('build / flaky: exited 2 on attempt 3/3'), summary);
});

test("every attempt's output stays in the step's log, each later one after a line naming it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-attempts-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new LogStore({ logDir: dir });
  const output = (attempt: number): KilnEvent =>
    at(attempt * 10 + 1, {
      type: 'step.output',
      job: 'build',
      step: 'flaky',
      stream: 'stdout',
      data: `try ${attempt}\n`,
    });
  for (const event of [
    at(0, { type: 'run.start', runId: 'run-1', project: 'p', jobs: ['build'] }),
    start(1),
    output(1),
    end(1),
    start(2),
    output(2),
    end(2, { status: 'passed', exitCode: 0 }),
  ]) {
    store.onEvent(event);
  }
  await store.close();
  const logs = await readdir(join(dir, 'run-1', 'build'));
  t.deepEqual(logs, ['01-flaky.log']);
  t.is(
    await readFile(join(dir, 'run-1', 'build', '01-flaky.log'), 'utf8'),
    'try 1\n--- attempt 2/3 ---\ntry 2\n',
  );
});

test('the live view shows the attempt a retried step is at', (t) => {
  const state = flakyRun({ status: 'passed', exitCode: 0 })
    .slice(0, 5)
    .reduce(reduceRun, createRunState({ build: ['flaky'] }));
  const frame = renderFrame(state, { columns: 80, rows: 10, color: false, now: ORIGIN + 25, tick: 0 });
  t.true(frame.includes('1/1 flaky (attempt 2/3)'), frame);
});
