/**
 * Names, commands, reasons and messages reach the terminal with their control characters shown as
 * escapes: a name can never forge a line, clear the screen or retitle the window. Step output is printed
 * as the step wrote it.
 */
import test from 'ava';
import { selectNamedJobs } from '../../src/cli/load.js';
import { formatDiagnostics } from '../../src/cli/report-error.js';
import { compile } from '../../src/graph/compile.js';
import type { KilnEvent } from '../../src/events.js';
import { PlainReporter } from '../../src/reporters/plain-reporter.js';
import { createRunState, reduceRun } from '../../src/reporters/run-state.js';
import { renderSummary } from '../../src/reporters/summary.js';
import { renderFrame } from '../../src/reporters/tty-frame.js';
import { TtyReporter } from '../../src/reporters/tty-reporter.js';
import { visible } from '../../src/visible-text.js';
import { ORIGIN, at, memoryStream } from '../helpers/fake-run.js';

const JOB = 'build\u001b]0;owned\u0007';
const STEP = 'compile\nok run passed';
const COMMAND = 'make\r\u001b[2Kok all good';
const REASON = 'image missing\n\u001b[2J';

/** A failing run whose job and step names, command and reason hold control characters. */
function hostileRun(): KilnEvent[] {
  return [
    at(0, { type: 'run.start', runId: '20240501-100000-abcd', project: 'demo', jobs: [JOB, 'other'] }),
    at(10, { type: 'job.start', job: JOB, image: 'kiln-fixture/busybox:latest' }),
    at(20, { type: 'step.start', job: JOB, step: STEP, index: 0, command: COMMAND }),
    at(30, { type: 'step.output', job: JOB, step: STEP, stream: 'stdout', data: '\u001b[31mred\u001b[0m\n' }),
    at(40, { type: 'warning', job: JOB, message: 'took long\n\u0007ok run passed' }),
    at(50, {
      type: 'step.end',
      job: JOB,
      step: STEP,
      index: 0,
      exitCode: 2,
      status: 'failed',
      durationMs: 40,
    }),
    at(60, { type: 'job.end', job: JOB, status: 'failed', durationMs: 50 }),
    at(61, { type: 'job.end', job: 'other', status: 'skipped', reason: REASON }),
    at(70, { type: 'run.end', status: 'failed', exitCode: 1, durationMs: 70 }),
  ];
}

/** No line starts with what a name tried to forge, and no control character but the line breaks is left. */
function assertNothingForged(t: import('ava').ExecutionContext, text: string): void {
  t.false(
    text.split('\n').some((line) => line.startsWith('ok run passed')),
    text,
  );
  t.false(/[\u0000-\u0009\u000B-\u001F\u007F-\u009F]/.test(text), JSON.stringify(text));
}

test('the plain reporter shows control characters of names, commands, reasons and warnings as escapes', async (t) => {
  const stream = memoryStream();
  const reporter = new PlainReporter({ stream, color: false });
  hostileRun().forEach((event) => reporter.onEvent(event));
  await reporter.close();
  const text = stream.text();
  assertNothingForged(t, text);
  t.true(
    text.includes('[build\\x1b]0;owned\\x07] > compile\\nok run passed: make\\r\\x1b[2Kok all good\n'),
    text,
  );
  t.true(text.includes('[build\\x1b]0;owned\\x07/compile\\nok run passed] red\n'), text);
  t.true(text.includes('warning: [build\\x1b]0;owned\\x07] took long \\x07ok run passed\n'), text);
  t.true(text.includes('skipped: image missing \\x1b[2J'), text);
});

test('with color, step output keeps its colors while names stay escaped', async (t) => {
  const stream = memoryStream();
  const reporter = new PlainReporter({ stream, color: true });
  hostileRun().forEach((event) => reporter.onEvent(event));
  await reporter.close();
  const text = stream.text();
  t.true(text.includes('\u001b[31mred\u001b[0m'), 'the step printed in red');
  t.false(text.includes('\u0007'), 'no raw BEL: the window title stays');
  t.false(text.includes(STEP), 'no raw newline in the step name');
  t.false(text.includes('\u001b[2K'), 'no line is erased');
});

test('the summary shows the failed step, its command and the reasons with escapes', (t) => {
  const state = hostileRun().reduce(reduceRun, createRunState());
  const text = renderSummary(state, { color: false });
  assertNothingForged(t, text);
  t.true(text.includes(`FAIL ${visible(JOB)} / ${visible(STEP)}: exited 2`), text);
  t.true(text.includes(`  $ ${visible(COMMAND)}\n`), text);
});

test('a multi-line command keeps its lines in the summary, each indented, with other controls escaped', (t) => {
  const events = hostileRun().map((event) =>
    event.type === 'step.start' ? { ...event, command: 'make\n\u001b[2Ksecond\r\nthird' } : event,
  );
  const text = renderSummary(events.reduce(reduceRun, createRunState()), { color: false });
  t.true(text.includes('  $ make\n    \\x1b[2Ksecond\n    third\n'), text);
});

test('the live view draws names and reasons with escapes', (t) => {
  const events = hostileRun();
  const running = events.slice(0, 4).reduce(reduceRun, createRunState());
  const ended = events.reduce(reduceRun, createRunState());
  for (const state of [running, ended]) {
    const frame = renderFrame(state, { columns: 200, rows: 30, color: false, now: ORIGIN + 100, tick: 0 });
    assertNothingForged(t, frame);
    t.true(frame.includes(visible(JOB)), frame);
  }
  t.true(
    renderFrame(running, { columns: 200, rows: 30, color: false, now: ORIGIN + 100, tick: 0 }).includes(
      `1/? ${visible(STEP)}`,
    ),
  );
});

test('the live view prints warnings above it with escapes', async (t) => {
  const stream = memoryStream({ isTTY: true, columns: 200, rows: 24 });
  const reporter = new TtyReporter({ stream, color: false, intervalMs: 10_000 });
  hostileRun().forEach((event) => reporter.onEvent(event));
  await reporter.close();
  t.true(stream.text().includes(`warning: [${visible(JOB)}] took long \\x07ok run passed\n`));
  t.false(stream.text().includes('\u0007'));
});

test('job cache reasons and keys are shown with escapes by the plain reporter, the live view and the summary', async (t) => {
  const REASON_1 = 'src/evil\nok run passed changed';
  const KEY = 'sha256:zz\u001b[2J';
  const events: KilnEvent[] = [
    at(0, { type: 'run.start', runId: 'r', project: 'p', jobs: [JOB, 'other'] }),
    at(1, { type: 'job.start', job: JOB, image: 'i' }),
    at(2, { type: 'job.cache', job: JOB, key: KEY, result: 'miss', reasons: [REASON_1, '\u001b]0;t\u0007'] }),
    at(3, { type: 'job.cache', job: 'other', result: 'disabled', reasons: [REASON] }),
    at(4, { type: 'job.cache', job: 'third', key: KEY, result: 'hit', reasons: [] }),
    at(5, { type: 'job.end', job: 'third', status: 'cached', durationMs: 1 }),
    // Not 'passed': the real run line would start with what the names try to forge.
    at(6, { type: 'run.end', status: 'failed', exitCode: 1, durationMs: 6 }),
  ];
  const stream = memoryStream();
  const reporter = new PlainReporter({ stream, color: false });
  events.forEach((event) => reporter.onEvent(event));
  await reporter.close();
  const text = stream.text();
  assertNothingForged(t, text);
  t.true(text.includes('cache miss: src/evil ok run passed changed; \\x1b]0;t\\x07\n'), text);
  t.true(text.includes('not cached: image missing \\x1b[2J\n'), text);
  t.true(text.includes('cached (key sha256:zz\\x1b[2J)'), text);
  const state = events.reduce(reduceRun, createRunState());
  const frame = renderFrame(state, { columns: 200, rows: 30, color: false, now: ORIGIN + 100, tick: 0 });
  assertNothingForged(t, frame);
  t.true(frame.includes('cached sha256:zz\\x1b[2J'), frame);
});

test('definition problems quoting a value print on one line each', (t) => {
  const text = formatDiagnostics(
    [
      {
        message: "'name' of step 1 of job 'a' must be a string, not 'x\nkiln.yaml:1:1: ok'",
        position: { file: '/w/kiln\u001b[2J.yaml', line: 3, column: 5 },
      },
      { message: 'no such step file: /w/a\rb' },
    ],
    '/elsewhere',
  );
  t.is(
    text,
    "/w/kiln\\x1b[2J.yaml:3:5: 'name' of step 1 of job 'a' must be a string, not 'x\\nkiln.yaml:1:1: ok'\n" +
      'kiln: no such step file: /w/a\\rb\nkiln: 2 problems\n',
  );
});

test('visible escapes what a terminal would act on and leaves the rest', (t) => {
  t.is(
    visible('a\tb\nc\r\u0000\u001b\u007f\u0085\u2028\u202e é ✔'),
    'a\\tb\\nc\\r\\0\\x1b\\x7f\\x85\\u2028\\u202e é ✔',
  );
  t.is(visible('a\tb', '\t'), 'a\tb');
});

test('a job named on the command line is quoted with its control characters escaped', (t) => {
  const graph = compile({
    version: 1,
    projectDir: '/p',
    defaults: { image: 'busybox' },
    jobs: { build: { steps: [{ run: 'make' }] } },
  });
  const error = t.throws(() => selectNamedJobs(graph, ['x\nkiln: all good\u001b[2K'], 'kiln.yaml'));
  t.is(error?.message, "no job named 'x\\nkiln: all good\\x1b[2K' in kiln.yaml; its jobs are: build");
});
