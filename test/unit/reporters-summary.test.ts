import test from 'ava';
import type { KilnEvent } from '../../src/events.js';
import { createRunState, reduceRun } from '../../src/reporters/run-state.js';
import { renderSummary } from '../../src/reporters/summary.js';
import { at, cachedRun, sampleRun } from '../helpers/fake-run.js';

const stateOf = (events: readonly KilnEvent[], plan?: Record<string, string[]>) =>
  events.reduce(reduceRun, createRunState(plan));

test('the table has a row per job with status, steps passed/total and duration', (t) => {
  const lines = renderSummary(stateOf(sampleRun()), { color: false }).split('\n');
  t.regex(lines.find((l) => l.startsWith('job')) ?? '', /^job\s+status\s+steps\s+duration$/);
  t.regex(lines.find((l) => l.startsWith('build')) ?? '', /^build\s+passed\s+2\/2\s+0\.9s$/);
  t.regex(lines.find((l) => l.startsWith('test ')) ?? '', /^test\s+failed\s+0\/1\s+0\.4s$/);
  t.regex(lines.find((l) => l.startsWith('deploy')) ?? '', /^deploy\s+skipped\s+0\/0\s+-\s+needs test$/);
  t.true(lines.includes('FAIL run failed in 1.0s: 1 passed, 1 failed, 1 skipped'));
});

test('a failed step shows its command, exit code and only its last 20 lines', (t) => {
  const text = renderSummary(stateOf(sampleRun()), { color: false });
  t.true(text.includes('FAIL test / unit: exited 42 (0.2s)'));
  t.true(text.includes('\n  $ make test\n'));
  const shown = text.split('\n').filter((line) => line.startsWith('  | test line'));
  t.deepEqual(
    shown.map((line) => line.slice('  | '.length)),
    Array.from({ length: 20 }, (_, i) => `test line ${String(i + 11).padStart(2, '0')}`),
  );
  t.true(text.includes('(last 20 of 30 lines)'));
});

test('the plan gives totals for jobs that never ran', (t) => {
  const text = renderSummary(
    stateOf(sampleRun(), { build: ['configure', 'compile'], test: ['unit'], deploy: ['push'] }),
    {
      color: false,
    },
  );
  t.regex(text, /\ndeploy\s+skipped\s+0\/1\s+-\s+needs test\n/);
});

test('a timed-out step and a job that failed outside its steps are explained', (t) => {
  const text = renderSummary(
    stateOf([
      at(0, { type: 'run.start', runId: 'r', project: 'p', jobs: ['slow', 'broken'] }),
      at(1, { type: 'job.start', job: 'slow', image: 'i' }),
      at(2, { type: 'step.start', job: 'slow', step: 'sleep', index: 0, command: 'sleep 100' }),
      at(3, { type: 'step.output', job: 'slow', step: 'sleep', stream: 'stdout', data: 'still going' }),
      at(5000, {
        type: 'step.end',
        job: 'slow',
        step: 'sleep',
        index: 0,
        exitCode: null,
        status: 'timed-out',
        durationMs: 4998,
      }),
      at(5001, { type: 'job.end', job: 'slow', status: 'timed-out' }),
      at(5002, { type: 'job.end', job: 'broken', status: 'failed', reason: 'image nope:1 is not present' }),
      at(5003, { type: 'run.end', status: 'failed', exitCode: 1, durationMs: 5003 }),
    ]),
    { color: false },
  );
  t.true(text.includes('FAIL slow / sleep: timed out (4.9s)'));
  t.true(text.includes('  | still going\n'), 'an unfinished last line is shown too');
  t.true(text.includes('FAIL broken: image nope:1 is not present'));
});

test('a multi-line command is printed indented under the failed step', (t) => {
  const events = sampleRun().map((event) =>
    event.type === 'step.start' && event.step === 'unit' ? { ...event, command: 'make\nmake test\n' } : event,
  );
  t.true(renderSummary(stateOf(events), { color: false }).includes('\n  $ make\n    make test\n'));
});

test('the logs folder is named when logs are kept, with the failed step log', (t) => {
  const text = renderSummary(stateOf(sampleRun()), { color: false, logsDir: '/state/runs/r1' });
  t.true(text.endsWith('\nlogs: /state/runs/r1\n'));
  t.true(text.includes('full log: /state/runs/r1/test/01-unit.log'));
});

test('without color the summary has no escape code; with color it has', (t) => {
  const state = stateOf(sampleRun());
  t.false(renderSummary(state, { color: false }).includes('\x1b'));
  t.true(renderSummary(state, { color: true }).includes('\x1b['));
});

test('colors do not break the alignment of the table', (t) => {
  const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
  const state = stateOf(sampleRun());
  const table = (text: string) => text.split('\n\n')[0] ?? '';
  t.is(strip(table(renderSummary(state, { color: true }))), table(renderSummary(state, { color: false })));
});

test('cached jobs are counted apart from passed ones, and each is listed with the key of its result', (t) => {
  const plan = { fetch: ['download', 'unpack'], build: ['compile'], lint: ['check'] };
  const lines = renderSummary(stateOf(cachedRun(), plan), { color: false }).split('\n');
  t.regex(lines.find((l) => l.startsWith('fetch')) ?? '', /^fetch\s+cached\s+-\s+25ms\s+key ab12cd34ef56$/);
  t.regex(lines.find((l) => l.startsWith('build')) ?? '', /^build\s+passed\s+1\/1\s+0\.5s$/);
  t.true(lines.includes('ok run passed in 0.6s: 2 passed, 1 cached'), lines.join('\n'));
});

test('a cached job is shown in its own color in the table', (t) => {
  const text = renderSummary(stateOf(cachedRun()), { color: true });
  t.true(text.includes('\x1b[34mcached\x1b[39m'));
});
