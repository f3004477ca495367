/**
 * A job's services in the reporters: the plain view's `[job:service]` lines, the live view's line of
 * services' states under the job, the summary's last lines of a service that failed, the service's log
 * beside the step logs, and its span under its job in the trace.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { KilnEvent } from '../../src/events.js';
import { LogStore } from '../../src/reporters/log-store.js';
import { PlainReporter } from '../../src/reporters/plain-reporter.js';
import { createRunState, reduceRun } from '../../src/reporters/run-state.js';
import { renderSummary } from '../../src/reporters/summary.js';
import { TraceRecorder } from '../../src/reporters/trace-reporter.js';
import { renderFrame } from '../../src/reporters/tty-frame.js';
import { ORIGIN, at, memoryStream } from '../helpers/fake-run.js';

const output = (ms: number, data: string, service = 'db'): KilnEvent =>
  at(ms, { type: 'service.output', job: 'test', service, stream: 'stdout', data });

const starting: KilnEvent[] = [
  at(0, { type: 'run.start', runId: 'run-1', project: 'p', jobs: ['test'] }),
  at(1, { type: 'job.start', job: 'test', image: 'busybox' }),
  at(2, { type: 'service.start', job: 'test', service: 'db', image: 'redis', container: 'abc' }),
  at(2, { type: 'service.start', job: 'test', service: 'cache', image: 'redis', container: 'def' }),
  output(3, 'booting\nlisten'),
  output(4, 'ing\n'),
];

const passing: KilnEvent[] = [
  ...starting,
  at(5, { type: 'service.ready', job: 'test', service: 'db', durationMs: 3 }),
  at(5, { type: 'service.ready', job: 'test', service: 'cache', durationMs: 3 }),
  at(6, { type: 'step.start', job: 'test', step: 'check', index: 0, command: 'redis-cli ping' }),
  at(7, {
    type: 'step.end',
    job: 'test',
    step: 'check',
    index: 0,
    exitCode: 0,
    status: 'passed',
    durationMs: 1,
  }),
  output(8, 'bye'),
  at(9, { type: 'service.end', job: 'test', service: 'db', status: 'stopped', exitCode: 0, durationMs: 7 }),
  at(9, { type: 'service.end', job: 'test', service: 'cache', status: 'stopped', durationMs: 7 }),
  at(10, { type: 'job.end', job: 'test', status: 'passed', durationMs: 9 }),
  at(11, { type: 'run.end', status: 'passed', exitCode: 0, durationMs: 11 }),
];

const failing: KilnEvent[] = [
  ...starting,
  ...Array.from({ length: 24 }, (_, i) => output(5, `line ${i + 1}\n`)),
  at(6, {
    type: 'error',
    job: 'test',
    code: 'E_SERVICE',
    message: 'job test, service db: exited with code 3',
  }),
  at(7, { type: 'service.end', job: 'test', service: 'db', status: 'failed', exitCode: 3, durationMs: 5 }),
  at(8, {
    type: 'job.end',
    job: 'test',
    status: 'failed',
    reason: 'job test, service db: exited with code 3',
  }),
  at(9, { type: 'run.end', status: 'failed', exitCode: 1, durationMs: 9 }),
];

test('the plain view prefixes what a service prints [job:service], a whole line at a time', async (t) => {
  const stream = memoryStream();
  const reporter = new PlainReporter({ stream, color: false });
  passing.forEach((e) => reporter.onEvent(e));
  await reporter.close();
  const text = stream.text();
  t.regex(text, /\[test\] +service db started \(redis\)\n/);
  t.regex(text, /\[test:db\] +booting\n\[test:db\] +listening\n/);
  t.regex(text, /\[test\] +service db ready \(/);
  t.regex(
    text,
    /\[test:db\] +bye\n\[test\] +service db stopped\n/,
    'an unfinished line is printed at the end',
  );
});

test('the live view shows the states of a running job’s services under it', (t) => {
  const frame = (events: readonly KilnEvent[]) =>
    renderFrame(events.reduce(reduceRun, createRunState()), {
      columns: 80,
      rows: 10,
      color: false,
      now: ORIGIN + 10,
      tick: 0,
    });
  const waiting = frame(starting);
  t.regex(waiting, /test +waiting for services/);
  t.regex(waiting, /\n {2}services: db starting, cache starting/);
  const ready = frame(passing.slice(0, starting.length + 3));
  t.regex(ready, /\n {2}services: db ready, cache ready/);
  t.notRegex(frame(passing), /services:/, 'a job that ended shows none');
});

test('the summary shows the last 20 lines of a service that failed, and where its log is', (t) => {
  const state = failing.reduce(reduceRun, createRunState());
  const summary = renderSummary(state, { color: false, logsDir: '/logs/run-1' });
  t.regex(summary, /FAIL test \/ service db: failed\n {2}\| line 5\n[^]*\| line 24\n/);
  t.notRegex(summary, /\| line 4\n/);
  t.regex(summary, /\(its last 20 lines; full log: \/logs\/run-1\/test\/service-db\.log\)/);
  t.notRegex(summary, /service cache/, 'a service that did not fail is not in it');
});

test("a service's output is kept beside the step logs, and not in events.jsonl", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-services-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new LogStore({ logDir: dir });
  passing.forEach((e) => store.onEvent(e));
  await store.close();
  t.is(await readFile(join(dir, 'run-1', 'test', 'service-db.log'), 'utf8'), 'booting\nlistening\nbye');
  const events = await readFile(join(dir, 'run-1', 'events.jsonl'), 'utf8');
  t.notRegex(events, /service\.output/);
  t.regex(events, /"type":"service\.ready"/);
});

test('the trace draws a span per service under its job, with when it was ready', (t) => {
  const recorder = new TraceRecorder();
  passing.forEach((e) => recorder.onEvent(e));
  const spans = recorder.toJSON().traceEvents.filter((e) => e.cat === 'service');
  const job = recorder.toJSON().traceEvents.find((e) => e.cat === 'job');
  t.is(spans.length, 2);
  t.like(spans[0], {
    name: 'service db',
    ph: 'X',
    tid: job!.tid,
    ts: 2000,
    dur: 7000,
    args: { image: 'redis', readyMs: 3, status: 'stopped', exitCode: 0 },
  });
});
