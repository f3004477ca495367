import test from 'ava';
import type { KilnEvent } from '../../src/events.js';
import { createReporter, resolveMode } from '../../src/reporters/index.js';
import { createRunState, reduceRun, type RunState } from '../../src/reporters/run-state.js';
import { shouldColor } from '../../src/reporters/style.js';
import { stripEscapes, widthOf } from '../../src/reporters/text.js';
import { renderFrame, type FrameOptions } from '../../src/reporters/tty-frame.js';
import { TtyReporter } from '../../src/reporters/tty-reporter.js';
import { ORIGIN, at, cachedRun, memoryStream, sampleRun } from '../helpers/fake-run.js';

const plan = { build: ['configure', 'compile'], test: ['unit'], deploy: ['push'] };
const fold = (events: readonly KilnEvent[], state: RunState = createRunState(plan)) =>
  events.reduce(reduceRun, state);
/** sampleRun up to both jobs running and printing. */
const midRun = () => fold(sampleRun().slice(0, 25));
const frame = (state: RunState, options: Partial<FrameOptions> = {}) =>
  renderFrame(state, { columns: 80, rows: 30, color: false, now: ORIGIN + 1500, tick: 0, ...options }).split(
    '\n',
  );

test('a running job shows its step n/N and its last 3 output lines; a waiting job one line', (t) => {
  const lines = frame(midRun());
  t.deepEqual(lines, [
    '⠋ build   1/2 configure  1.4s',
    '  │ checking... yes',
    '⠋ test    1/1 unit  1.4s',
    '  │ test line 14',
    '  │ test line 15',
    '  │ test line 16',
    '· deploy  waiting',
  ]);
});

test('jobs that ended collapse to one line each', (t) => {
  t.deepEqual(frame(fold(sampleRun())), [
    '✔ build   passed 2/2 steps  0.9s',
    '✖ test    failed at 1/1 unit (exit 42)  0.4s',
    '- deploy  skipped: needs test',
  ]);
});

test('no line is wider than the terminal, wide characters and long lines included', (t) => {
  const long = fold(
    [
      at(400, {
        type: 'step.output',
        job: 'test',
        step: 'unit',
        stream: 'stdout',
        data: '漢字'.repeat(200) + '\n',
      }),
      at(401, {
        type: 'step.output',
        job: 'test',
        step: 'unit',
        stream: 'stdout',
        data: 'x'.repeat(500) + '\n',
      }),
    ],
    midRun(),
  );
  for (const columns of [40, 57, 100]) {
    const lines = frame(long, { columns });
    t.true(
      lines.every((line) => widthOf(line) <= columns),
      `${columns} columns`,
    );
    t.true(
      lines.some((line) => line.includes('…')),
      'truncated lines end in an ellipsis',
    );
  }
});

test('a frame never has more than rows - 1 lines; running jobs stay in sight', (t) => {
  const jobs = Array.from({ length: 30 }, (_, i) => `job${String(i).padStart(2, '0')}`);
  let state = fold([at(0, { type: 'run.start', runId: 'r', project: 'p', jobs })], createRunState());
  state = fold(
    [
      at(1, { type: 'job.start', job: 'job25', image: 'i' }),
      at(2, { type: 'step.start', job: 'job25', step: 's', index: 0, command: 'c' }),
      at(3, { type: 'step.output', job: 'job25', step: 's', stream: 'stdout', data: 'a\nb\nc\nd\n' }),
    ],
    state,
  );
  for (const rows of [1, 5, 12]) {
    const lines = frame(state, { rows });
    t.true(lines.length <= Math.max(1, rows - 1), `${rows} rows`);
  }
  const lines = frame(state, { rows: 12 });
  t.true(lines.some((line) => line.includes('job25')));
  t.regex(lines.at(-1)!, /^… \d+ more jobs \(\d+ waiting\)$/);
});

test('a narrow terminal gets job lines only', (t) => {
  const lines = frame(midRun(), { columns: 39 });
  t.is(lines.length, 3);
  t.false(lines.some((line) => line.includes('│')));
});

test('without color the frame has no escape code, and the same layout as with color', (t) => {
  const plainFrame = frame(midRun(), { color: false }).join('\n');
  const colorFrame = frame(midRun(), { color: true }).join('\n');
  t.false(plainFrame.includes('\x1b'));
  t.true(colorFrame.includes('\x1b['));
  t.is(stripEscapes(colorFrame), plainFrame);
});

test('control characters and escapes in output never reach the frame', (t) => {
  const state = fold(
    [
      at(400, {
        type: 'step.output',
        job: 'test',
        step: 'unit',
        stream: 'stdout',
        data: '\x1b[2J\x1b[Hbell\x07 back\bspace\n',
      }),
    ],
    midRun(),
  );
  const lines = frame(state);
  t.true(lines.includes('  │ bell backspace'));
  t.false(lines.join('\n').includes('\x1b'));
});

test('a job waiting for a locked cache says who holds it', (t) => {
  const state = fold([
    at(0, { type: 'run.start', runId: 'r', project: 'p', jobs: ['a'] }),
    at(10, { type: 'job.start', job: 'a', image: 'i' }),
    at(20, { type: 'mount.wait', job: 'a', cache: 'ccache', holder: 'run 20240501-1', heldForMs: 5000 }),
  ]);
  t.regex(frame(state)[0]!, /waiting for cache ccache \(held by run 20240501-1, 6\.4s\)/);
});

const cachedPlan = { fetch: ['download'], build: ['compile'], lint: ['check'] };
const cachedFrame = (events: readonly KilnEvent[], options: Partial<FrameOptions> = {}) =>
  frame(fold(events, createRunState(cachedPlan)), { now: ORIGIN + 50, ...options });

test('a job shows that it checks the job cache until the cache answers', (t) => {
  // fetch and lint have started; lint's answer came (disabled), fetch's not yet.
  const lines = cachedFrame(cachedRun().slice(0, 4));
  t.is(lines[0], '⠋ fetch  checking cache  40ms');
  t.is(lines[2], '⠋ lint   preparing mounts  38ms');
});

test('a cached job has its own icon, the word cached and the short key of its result', (t) => {
  t.deepEqual(cachedFrame(cachedRun(), { now: ORIGIN + 700 }), [
    '↻ fetch  cached ab12cd34ef56  25ms',
    '✔ build  passed 1/1 steps  0.5s',
    '✔ lint   passed 1/1 steps  0.3s',
  ]);
  const colored = cachedFrame(cachedRun(), { now: ORIGIN + 700, color: true });
  t.true(colored[0]!.startsWith('\x1b[34m↻'), 'blue, where a passed job is green');
  t.true(colored[1]!.startsWith('\x1b[32m✔'));
});

test('a hit shows as cached while the job still finishes, before its job.end', (t) => {
  t.is(cachedFrame(cachedRun().slice(0, 5))[0], '⠋ fetch  cached ab12cd34ef56  40ms');
});

test('a miss adds nothing to the live line of a running job', (t) => {
  // build has its answer (a miss with five reasons) and is preparing mounts, then runs its step.
  const missed = cachedFrame(cachedRun().slice(0, 8), { now: ORIGIN + 65 });
  t.is(missed[1], '⠋ build  preparing mounts  25ms');
  const running = cachedFrame(cachedRun().slice(0, 12), { now: ORIGIN + 150 });
  t.is(running[1], '⠋ build  1/1 compile  0.1s');
});

function liveReporter(columns = 80) {
  const stream = memoryStream({ isTTY: true, columns, rows: 24 });
  const reporter = new TtyReporter({ stream, color: false, steps: plan, intervalMs: 10_000 });
  return { stream, reporter };
}

test('the live view draws frames, prints warnings above them, and ends with the last frame and the summary', async (t) => {
  const { stream, reporter } = liveReporter();
  const events = sampleRun();
  events.slice(0, 25).forEach((event) => reporter.onEvent(event));
  reporter.render(ORIGIN + 1500);
  t.true(stream.text().includes('1/1 unit'));
  reporter.onEvent(at(500, { type: 'warning', job: 'build', message: 'container recreated: image changed' }));
  events.slice(25).forEach((event) => reporter.onEvent(event));
  await reporter.close();
  const text = stream.text();
  t.true(text.startsWith('\x1b[?25l'), 'the cursor is hidden while live');
  t.true(text.includes('warning: [build] container recreated: image changed\n'));
  const end = text.slice(text.lastIndexOf('✔ build'));
  t.regex(end, /^✔ build\s+passed 2\/2 steps/);
  t.true(end.includes('\x1b[?25h'), 'the cursor is shown again');
  t.regex(end, /\ntest\s+failed\s+0\/1/);
  t.true(end.includes('FAIL test / unit: exited 42'));
});

test('closing without run.end still ends the live view with a summary', async (t) => {
  const { stream, reporter } = liveReporter();
  sampleRun()
    .slice(0, 10)
    .forEach((event) => reporter.onEvent(event));
  await reporter.close();
  t.true(stream.text().includes('run did not finish'));
  t.true(stream.text().endsWith('\n'));
});

const mode = test.macro({
  exec(
    t,
    requested: 'auto' | 'plain' | 'tty' | 'json',
    isTTY: boolean,
    term: string,
    expected: 'plain' | 'tty' | 'json',
  ) {
    t.is(resolveMode(requested, { isTTY }, { TERM: term }), expected);
  },
  title: (_t, requested, isTTY, term, expected) =>
    `${requested} on ${isTTY ? 'a terminal' : 'a pipe'} with TERM=${term} shows ${expected}`,
});
test(mode, 'auto', true, 'xterm-256color', 'tty');
test(mode, 'auto', true, 'dumb', 'plain');
test(mode, 'auto', false, 'xterm', 'plain');
test(mode, 'tty', false, 'xterm', 'tty');
test(mode, 'json', true, 'xterm', 'json');

const color = test.macro({
  exec(t, isTTY: boolean, env: NodeJS.ProcessEnv, expected: boolean) {
    t.is(shouldColor({ isTTY }, env), expected);
  },
  title: (_t, isTTY, env, expected) =>
    `color is ${expected ? 'on' : 'off'} on ${isTTY ? 'a terminal' : 'a pipe'} with ${JSON.stringify(env)}`,
});
test(color, true, { TERM: 'xterm' }, true);
test(color, false, { TERM: 'xterm' }, false);
test(color, true, { TERM: 'xterm', NO_COLOR: '1' }, false);
test(color, false, { FORCE_COLOR: '1' }, true);
test(color, true, { TERM: 'xterm', FORCE_COLOR: '0' }, false);
test(color, true, { TERM: 'dumb' }, false);

test('createReporter in auto mode draws live on a terminal and prints plain lines in a pipe', async (t) => {
  const tty = memoryStream({ isTTY: true, columns: 80, rows: 24 });
  const pipe = memoryStream();
  for (const stream of [tty, pipe]) {
    const reporter = createReporter({ mode: 'auto', stream, logDir: false, env: { TERM: 'xterm' } });
    sampleRun().forEach((event) => reporter.onEvent(event));
    await reporter.close();
  }
  t.true(tty.text().includes('\x1b[?25l'));
  t.regex(pipe.text(), /\n\[test\/unit\] +test line 30\n/);
  t.false(pipe.text().includes('\x1b'));
});

test('createReporter in json mode prints only JSON lines', async (t) => {
  const stream = memoryStream({ isTTY: true });
  const reporter = createReporter({ mode: 'json', stream, logDir: false, env: { TERM: 'xterm' } });
  sampleRun().forEach((event) => reporter.onEvent(event));
  await reporter.close();
  const lines = stream.text().trimEnd().split('\n');
  t.is(lines.length, sampleRun().length);
  t.notThrows(() => lines.forEach((line) => JSON.parse(line)));
});

test('the instances of a matrix job stand under one line of their group, each by its values', (t) => {
  const state = fold(
    [
      at(0, {
        type: 'run.start',
        runId: 'r',
        project: 'p',
        jobs: ['lint', 'w (opt=O0)', 'w (opt=O3)', 'ship'],
      }),
      at(10, { type: 'job.start', job: 'w (opt=O0)', image: 'i' }),
      at(20, { type: 'job.end', job: 'w (opt=O0)', status: 'passed', durationMs: 10 }),
    ],
    createRunState({}),
  );
  t.deepEqual(
    frame(state).map((l) => l.replace(/\s+\d+ms$|\s+[\d.]+s$/, '')),
    [
      '· lint        waiting',
      '▸ w  1/2 done',
      '✔   (opt=O0)  passed 0/0 steps',
      '·   (opt=O3)  waiting',
      '· ship        waiting',
    ],
  );
});

test('a width counts printable ASCII one column a character, escape codes none and wide characters two', (t) => {
  t.is(widthOf('g1-leaf12  ok copy (84ms)'), 25);
  t.is(widthOf(''), 0);
  t.is(widthOf('\x1b[32mok\x1b[0m'), 2);
  t.is(widthOf('構築 ok'), 7);
});
