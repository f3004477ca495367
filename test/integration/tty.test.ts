/**
 * The reporters as a user sees them: the scripted run of test/helpers/fake-run.ts in a real pseudo-
 * terminal (a tmux pane of 100x30), and the same run through a pipe.
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const driver = fileURLToPath(new URL('../helpers/fake-run.js', import.meta.url));

/** Environment of the driver: UTF-8, no color overrides. */
function driverEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LANG: 'C.UTF-8', ...extra };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  delete env.CI;
  return env;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Captures the pane until `done` holds for its text or `timeoutMs` passes; returns the last capture. */
async function captureUntil(
  tmux: (...args: string[]) => Promise<string>,
  session: string,
  done: (pane: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let pane = '';
  while (Date.now() < deadline) {
    pane = await tmux('capture-pane', '-p', '-t', session);
    if (done(pane)) return pane;
    await sleep(100);
  }
  return pane;
}

test('in a terminal the run is drawn live, then the summary shows the failure', async (t) => {
  // A server of our own, on a socket in a folder of our own, so no other tmux is touched.
  const dir = await mkdtemp(join(tmpdir(), 'kiln-tty-'));
  const socket = join(dir, 'tmux.sock');
  const session = 'run';
  const tmux = async (...args: string[]) =>
    (await run('tmux', ['-S', socket, ...args], { env: driverEnv() })).stdout;
  t.teardown(async () => {
    await tmux('kill-session', '-t', session).catch(() => {});
    await tmux('kill-server').catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  await tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', `node ${driver}; sleep 5`);

  const midRun = (pane: string) =>
    /build\s+2\/2 compile/.test(pane) &&
    /test\s+1\/1 unit/.test(pane) &&
    /│ compiling module \d+ of 22/.test(pane) &&
    /│ test case \d+ ok/.test(pane);
  const live = await captureUntil(tmux, session, midRun, 5000);
  t.true(midRun(live), `both jobs running with their output:\n${live}`);
  t.regex(live, /deploy\s+waiting/);
  t.false(live.includes('[build'), 'no plain prefixes on a terminal');

  const finished = (pane: string) => pane.includes('run failed');
  const end = await captureUntil(tmux, session, finished, 8000);
  t.true(finished(end), `the run ended:\n${end}`);
  t.regex(end, /build\s+passed\s+2\/2\s+\d+\.\ds/);
  t.regex(end, /test\s+failed\s+0\/1\s+\d+\.\ds/);
  t.regex(end, /deploy\s+skipped\s+0\/1\s+-\s+needs test/);
  t.regex(end, /✖ test \/ unit: exited 42/);
  t.true(end.includes('$ make test'));
  t.true(end.includes('│ assertion failed: expected 1, got 2'));
  t.true(end.split('\n').every((line) => line.length <= 100));
});

test('through a pipe the same run prints plain prefixed lines without escape codes', async (t) => {
  const child = spawn(process.execPath, [driver], {
    env: driverEnv({ TERM: 'xterm-256color' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill());
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const text = Buffer.concat(chunks).toString('utf8');

  t.is(code, 0);
  t.false(text.includes('\x1b'), 'no escape codes');
  const lines = text.split('\n');
  const compiled = lines.filter((line) => line.includes('compiling module'));
  t.is(compiled.length, 22);
  t.true(
    compiled.every((line) => /^\[build\/compile\] +compiling module \d+ of 22$/.test(line)),
    'whole, prefixed lines',
  );
  t.is(lines.filter((line) => /^\[test\/unit\] +test case \d+ ok$/.test(line)).length, 14);
  t.true(lines.some((line) => /^\[test\] +> unit: make test$/.test(line)));
  t.true(lines.some((line) => /^\[test\] +FAIL unit exited 42 \(\d+\.\ds\)$/.test(line)));
  t.true(lines.some((line) => /^\[deploy\] +- job skipped: needs test, which failed$/.test(line)));
  t.true(text.includes('\nFAIL test / unit: exited 42'));
  t.true(text.includes('\n  | assertion failed: expected 1, got 2\n'));
});
