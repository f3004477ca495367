import test from 'ava';
import type { KilnEvent, StepEndEvent } from '../../src/events.js';
import { MAX_PENDING_LINE, PlainReporter } from '../../src/reporters/plain-reporter.js';
import { stripEscapes } from '../../src/reporters/text.js';
import { parseDuration } from '../../src/definition/durations.js';
import { formatDuration } from '../../src/format-duration.js';
import { at, cachedRun, memoryStream, sampleRun } from '../helpers/fake-run.js';

function plain(color = false) {
  const stream = memoryStream();
  const reporter = new PlainReporter({ stream, color });
  const feed = (...events: KilnEvent[]) => events.forEach((event) => reporter.onEvent(event));
  return { stream, reporter, feed };
}

const start = (job: string, step: string, command = 'make') =>
  at(0, { type: 'step.start', job, step, index: 0, command });
const out = (job: string, step: string, data: string, stream: 'stdout' | 'stderr' = 'stdout') =>
  at(1, { type: 'step.output', job, step, stream, data });
const end = (job: string, step: string, fields: Partial<StepEndEvent> = {}) =>
  at(2, {
    type: 'step.end',
    job,
    step,
    index: 0,
    exitCode: 0,
    status: 'passed',
    durationMs: 1234,
    ...fields,
  });

test('every output line is printed whole with its [job/step] prefix, partial lines joined across chunks', async (t) => {
  const { stream, reporter, feed } = plain();
  feed(
    start('build', 'compile'),
    out('build', 'compile', 'gcc -c a'),
    out('build', 'compile', '.c\ngcc -c b.c\nlin'),
  );
  t.false(stream.text().includes('lin'), 'an unfinished line waits for its end');
  feed(out('build', 'compile', 'k\n'), end('build', 'compile'));
  await reporter.close();
  const lines = stream.text().split('\n');
  t.true(lines.includes('[build/compile] gcc -c a.c'));
  t.true(lines.includes('[build/compile] gcc -c b.c'));
  t.true(lines.includes('[build/compile] link'));
});

test('lines of concurrent jobs never mix within a line', async (t) => {
  const { stream, reporter, feed } = plain();
  feed(start('a', 's'), start('b', 's'));
  feed(out('a', 's', 'hel'), out('b', 's', 'wor'), out('a', 's', 'lo\nsecond '), out('b', 's', 'ld\n'));
  feed(out('a', 's', 'line\n'));
  await reporter.close();
  const lines = stream.text().split('\n');
  t.true(lines.includes('[a/s] hello'));
  t.true(lines.includes('[b/s] world'));
  t.true(lines.includes('[a/s] second line'));
});

test('stdout and stderr keep their own unfinished lines', async (t) => {
  const { stream, reporter, feed } = plain();
  feed(start('a', 's'), out('a', 's', 'out-'), out('a', 's', 'err-', 'stderr'), out('a', 's', 'done\n'));
  feed(out('a', 's', 'done\n', 'stderr'));
  await reporter.close();
  const lines = stream.text().split('\n');
  t.true(lines.includes('[a/s] out-done'));
  t.true(lines.includes('[a/s] err-done'));
});

test('a final line without a newline is printed at step.end, with a newline', async (t) => {
  const { stream, reporter, feed } = plain();
  feed(start('a', 's'), out('a', 's', 'no newline at the end'), end('a', 's'));
  await reporter.close();
  const text = stream.text();
  t.true(text.includes('[a/s] no newline at the end\n'));
  t.true(text.indexOf('no newline') < text.indexOf('ok s'), 'printed before the end line');
});

test('a line without newline longer than the pending limit is printed without waiting', async (t) => {
  const { stream, reporter, feed } = plain();
  feed(start('a', 's'), out('a', 's', 'x'.repeat(MAX_PENDING_LINE + 10)));
  await reporter.close();
  t.true(stream.text().includes('[a/s] xxxx'));
});

test('without color there is no escape code anywhere, step output included', async (t) => {
  const { stream, reporter, feed } = plain(false);
  feed(...sampleRun().slice(0, 3));
  feed(start('build', 'paint'), out('build', 'paint', '\x1b[31mred\x1b[0m and \x1b]0;title\x07 text\n'));
  feed(end('build', 'paint', { status: 'failed', exitCode: 1 }));
  feed(at(5, { type: 'warning', message: 'old \x1b[1mrunc\x1b[0m' }));
  feed(...sampleRun().slice(3));
  await reporter.close();
  const text = stream.text();
  t.false(text.includes('\x1b'));
  t.true(text.includes('[build/paint] red and  text'));
  t.true(text.includes('FAIL paint exited 1'));
});

test('with color the symbols are used and colors are written', async (t) => {
  const { stream, reporter, feed } = plain(true);
  feed(start('a', 's', 'make all'), end('a', 's'));
  await reporter.close();
  const text = stream.text();
  t.true(text.includes('\x1b['));
  const visible = stripEscapes(text);
  t.true(visible.includes('[a] ▶ s: make all'));
  t.true(visible.includes('[a] ✔ s (1.2s)'));
});

test('escape stripping removes control strings whole, not only their introducer', (t) => {
  // DCS (a terminal's answer to DECRQSS) and APC (a kitty graphics command), each ended by ST.
  t.is(stripEscapes('a\x1bP1$r0m\x1b\\b\x1b_Gf=24;AAAA\x1b\\c'), 'abc');
  t.is(stripEscapes('\x1b]8;;https://example.com\x07link\x1b]8;;\x07 \x1b[1;31mred\x1b[0m'), 'link red');
});

const endLine = test.macro({
  exec(t, fields: Partial<StepEndEvent>, expected: string) {
    const { stream, reporter, feed } = plain();
    feed(start('job', 'step'), end('job', 'step', fields));
    return reporter.close().then(() => t.true(stream.text().includes(`[job] ${expected}\n`), stream.text()));
  },
  title: (_title, _fields, expected: string) => `a step end reads "${expected}"`,
});
test(endLine, {}, 'ok step (1.2s)');
test(endLine, { status: 'failed', exitCode: 42, durationMs: 300 }, 'FAIL step exited 42 (0.3s)');
test(endLine, { status: 'timed-out', exitCode: null, durationMs: 60_000 }, 'FAIL step timed out (1m00s)');
test(endLine, { status: 'cancelled', exitCode: 143, durationMs: 5_000 }, 'FAIL step cancelled (5.0s)');
test(
  endLine,
  { status: 'failed', exitCode: 1, allowFailure: true },
  'FAIL step exited 1, allowed to fail (1.2s)',
);
test(endLine, { durationMs: 35 }, 'ok step (35ms)');

const duration = test.macro({
  exec(t, ms: number, expected: string) {
    t.is(formatDuration(ms), expected);
    if (expected !== '-') t.true(Math.abs(parseDuration(expected) - ms) < Math.max(100, ms / 100));
  },
  title: (_title, ms: number, expected: string) =>
    `a duration of ${ms} ms reads "${expected}"${expected === '-' ? '' : ', and back as the step file writes it'}`,
});
test(duration, 0, '0ms');
test(duration, 30, '30ms');
test(duration, 99.9, '99ms');
test(duration, 100, '0.1s');
test(duration, 1_499, '1.4s');
test(duration, 59_999, '59.9s');
test(duration, 90_500, '1m30s');
test(duration, 3_599_999, '59m59s');
test(duration, 7_380_000, '2h03m');
test(duration, -1, '-');
test(duration, Number.NaN, '-');

test('a hit, a miss and a job not cached each get one line saying so', async (t) => {
  const { stream, reporter, feed } = plain();
  feed(...cachedRun());
  await reporter.close();
  const lines = stream.text().split('\n');
  t.true(lines.includes('[fetch] cached (key sha256:ab12cd34ef56…)'), stream.text());
  t.true(
    lines.includes(
      "[build] cache miss: src/a.c changed; 2 files added under ./src (first: src/new.c); step compile's command changed; and 2 more",
    ),
  );
  t.true(lines.includes('[lint]  not cached: it mounts secret npm-token'));
  t.is(lines.filter((line) => line.startsWith('[fetch]')).length, 1, 'a hit is told once');
  t.false(stream.text().includes('FAIL'));
});

test('a miss with three reasons or fewer lists them all, and one without reasons says only that', async (t) => {
  const { stream, reporter, feed } = plain();
  const reasons = ['src/a.c changed', 'src/b.c changed', 'src/c.c changed'];
  feed(at(0, { type: 'job.cache', job: 'a', key: 'sha256:00', result: 'miss', reasons }));
  feed(at(1, { type: 'job.cache', job: 'b', key: 'sha256:00', result: 'miss', reasons: [] }));
  feed(at(2, { type: 'job.cache', job: 'c', result: 'disabled', reasons: ['cache: false', '--no-cache'] }));
  await reporter.close();
  const lines = stream.text().split('\n');
  t.true(lines.includes('[a] cache miss: src/a.c changed; src/b.c changed; src/c.c changed'), stream.text());
  t.true(lines.includes('[b] cache miss'));
  t.true(lines.includes('[c] not cached: cache: false; --no-cache'));
});

test('a job that ends cached without a job cache line before it gets an ok line, not a failure', async (t) => {
  const { stream, reporter, feed } = plain();
  feed(at(0, { type: 'job.end', job: 'a', status: 'cached', durationMs: 25 }));
  await reporter.close();
  t.true(stream.text().split('\n').includes('[a] ok job cached (25ms)'), stream.text());
});

test('with color a hit is blue with its key dimmed', async (t) => {
  const { stream, reporter, feed } = plain(true);
  feed(...cachedRun().slice(0, 5));
  await reporter.close();
  t.true(stream.text().includes('\x1b[34mcached\x1b[39m\x1b[2m (key sha256:ab12cd34ef56…)'), stream.text());
});

test('steps starting, skipped jobs, warnings and errors get their own lines', async (t) => {
  const { stream, reporter, feed } = plain();
  feed(at(0, { type: 'run.start', runId: 'r', project: 'p', jobs: ['build', 'deploy'] }));
  feed(
    at(1, { type: 'step.start', job: 'build', step: 'compile', index: 0, command: 'make -j2\nmake install' }),
  );
  feed(at(2, { type: 'job.end', job: 'deploy', status: 'skipped', reason: 'needs build' }));
  feed(at(3, { type: 'warning', job: 'build', message: 'container recreated: image changed' }));
  feed(at(4, { type: 'error', job: 'build', code: 'E_MOUNT', message: 'missing bind source ./src' }));
  await reporter.close();
  const lines = stream.text().split('\n');
  t.true(lines.includes('[build]  > compile: make -j2 …'), 'job prefixes padded to the longest job');
  t.true(lines.includes('[deploy] - job skipped: needs build'));
  t.true(lines.includes('warning: [build] container recreated: image changed'));
  t.true(lines.includes('error: [build] missing bind source ./src'));
});

test('the summary follows run.end, with the failed step and its output', async (t) => {
  const { stream, reporter, feed } = plain();
  feed(...sampleRun());
  await reporter.close();
  const text = stream.text();
  const summary = text.slice(text.lastIndexOf('\njob'));
  t.regex(summary, /test\s+failed\s+0\/1/);
  t.true(summary.includes('FAIL test / unit: exited 42'));
  t.true(summary.includes('  $ make test'));
  t.is(text.match(/FAIL test \/ unit/g)?.length, 1, 'printed once even though close follows run.end');
});

test('many megabytes of output flow through in chunks, every line prefixed', async (t) => {
  const stream = memoryStream({ highWaterMark: 64 * 1024 });
  const reporter = new PlainReporter({ stream, color: false });
  reporter.onEvent(start('big', 'dump'));
  const line = 'y'.repeat(99) + '\n';
  const chunk = line.repeat(655);
  const chunks = 128; // ~8 MB
  for (let i = 0; i < chunks; i++) reporter.onEvent(out('big', 'dump', chunk));
  reporter.onEvent(end('big', 'dump'));
  await reporter.close();
  const lines = stream
    .text()
    .split('\n')
    .filter((l) => l.startsWith('[big/dump] '));
  t.is(lines.length, 655 * chunks);
  t.true(stream.chunks.length >= chunks, 'written as it came, not gathered');
});
