/**
 * The reporters as a user sees them: the scripted run of test/helpers/fake-run.ts in a real pseudo-
 * terminal (a tmux pane of 100x30, read each time it prints), and the same run through a pipe.
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
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

type Tmux = (...args: string[]) => Promise<string>;

/**
 * A pane's text as tmux draws it, captured each time the pane prints: a control-mode client
 * (`tmux -C`) is told of every output (`%output`), and the pane is captured then, one capture at a time
 * and once more if it printed meanwhile, so the last state is always seen.
 */
function watchPane(tmux: Tmux, socket: string, session: string) {
  const client = spawn('tmux', ['-S', socket, '-C', 'attach', '-t', session], {
    env: driverEnv(),
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const waiters = new Set<{ done: (pane: string) => boolean; resolve: (pane: string) => void }>();
  let pane = '';
  let capturing = false;
  let again = false;
  const capture = async (): Promise<void> => {
    if (capturing) {
      again = true;
      return;
    }
    capturing = true;
    do {
      again = false;
      pane = await tmux('capture-pane', '-p', '-t', session).catch(() => pane);
      for (const waiter of waiters) if (waiter.done(pane)) waiter.resolve(pane);
    } while (again);
    capturing = false;
  };
  // `%end` answers the attach itself (whatever was drawn before it), `%output` tells of each print.
  createInterface({ input: client.stdout }).on('line', (line) => {
    if (line.startsWith('%output ') || line.startsWith('%end ')) void capture();
  });
  return {
    /** The pane once `done` holds for it, or after `timeoutMs` the last capture (for the failure message). */
    until(done: (pane: string) => boolean, timeoutMs: number): Promise<string> {
      if (done(pane)) return Promise.resolve(pane);
      return new Promise((resolve) => {
        const waiter = {
          done,
          resolve: (text: string) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(text);
          },
        };
        const timer = setTimeout(() => waiter.resolve(pane), timeoutMs);
        waiters.add(waiter);
      });
    },
    close(): void {
      client.stdin.end();
      client.kill();
    },
  };
}

test('in a terminal the run is drawn live, then the summary shows the failure', async (t) => {
  // A server of our own, on a socket in a folder of our own, so no other tmux is touched.
  const dir = await mkdtemp(join(tmpdir(), 'kiln-tty-'));
  const socket = join(dir, 'tmux.sock');
  const session = 'run';
  const tmux: Tmux = async (...args) =>
    (await run('tmux', ['-S', socket, '-f', '/dev/null', ...args], { env: driverEnv() })).stdout;
  t.teardown(async () => {
    await tmux('kill-session', '-t', session).catch(() => {});
    await tmux('kill-server').catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  // The pane stays on screen once the driver exits (remain-on-exit), so its end can be read.
  await tmux(
    ...['new-session', '-d', '-s', session, '-x', '100', '-y', '30', `node ${driver}`],
    ...[';', 'set-option', '-t', session, 'remain-on-exit', 'on'],
  );
  const pane = watchPane(tmux, socket, session);
  t.teardown(() => pane.close());

  const midRun = (text: string) =>
    /deps\s+cached [0-9a-f]{12}/.test(text) &&
    /build\s+2\/2 compile/.test(text) &&
    /test\s+1\/1 unit/.test(text) &&
    /│ compiling module \d+ of 22/.test(text) &&
    /│ test case \d+ ok/.test(text);
  const live = await pane.until(midRun, 5000);
  t.true(midRun(live), `a cached job, and both jobs running with their output:\n${live}`);
  t.regex(live, /↻ deps/);
  t.regex(live, /deploy\s+waiting/);
  t.false(live.includes('[build'), 'no plain prefixes on a terminal');

  const finished = (text: string) => text.includes('run failed');
  const end = await pane.until(finished, 8000);
  t.true(finished(end), `the run ended:\n${end}`);
  t.regex(end, /deps\s+cached\s+-\s+\S+\s+key ab12cd34ef56/);
  t.regex(end, /build\s+passed\s+2\/2\s+\d+\.\ds/);
  t.regex(end, /test\s+failed\s+0\/1\s+\d+\.\ds/);
  t.regex(end, /deploy\s+skipped\s+0\/1\s+-\s+needs test/);
  t.regex(end, /✖ test \/ unit: exited 42/);
  t.regex(end, /run failed in \d+\.\ds: 1 passed, 1 cached, 1 failed, 1 skipped/);
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
  t.true(lines.some((line) => /^\[deps\] +cached \(key sha256:ab12cd34ef56…\)$/.test(line)));
  t.true(lines.some((line) => /^\[build\] +cache miss: src\/main\.c changed$/.test(line)));
  t.true(lines.some((line) => /^\[test\] +cache miss: no earlier result$/.test(line)));
  t.true(text.includes('\nFAIL test / unit: exited 42'));
  t.true(text.includes('\n  | assertion failed: expected 1, got 2\n'));
});
