import test from 'ava';
import { spawn } from 'node:child_process';
import { readFile, stat, utimes, writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { CancelledError, InfrastructureError } from '../../src/errors.js';
import { bootId, processStartTime } from '../../src/labels.js';
import { acquireCacheLock, cacheLockPath, readLockState, staleLockAdvice } from '../../src/lock-files.js';
import { tempDir } from '../helpers/mounts-fixtures.js';

const me = (job: string) => ({ pid: process.pid, host: hostname(), runId: 'run-1', job });

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

async function writeLock(path: string, content: string, ageMs = 0): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  if (ageMs > 0) {
    const past = new Date(Date.now() - ageMs);
    await utimes(path, past, past);
  }
}

test('takes a free lock and records who holds it', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'kiln-cache-p-x');
  const lock = await acquireCacheLock({ path, owner: me('build'), wait: false });
  t.truthy(lock);
  const holder = JSON.parse(await readFile(path, 'utf8'));
  t.like(holder, { pid: process.pid, host: hostname(), runId: 'run-1', job: 'build' });
  t.false(Number.isNaN(Date.parse(holder.since)));
  await lock!.release();
  await t.throwsAsync(stat(path), { code: 'ENOENT' });
});

test('another job of the same process does not get a held lock', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  const first = await acquireCacheLock({ path, owner: me('build'), wait: false });
  t.teardown(() => first?.release());
  t.is(await acquireCacheLock({ path, owner: me('test'), wait: false }), undefined);
});

test('takes over the lock of a holder whose process is gone', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  const pid = await deadPid();
  await writeLock(
    path,
    JSON.stringify({ pid, host: hostname(), runId: 'old', job: 'build', since: new Date().toISOString() }),
  );
  t.is((await readLockState(path)).kind, 'stale');
  const lock = await acquireCacheLock({ path, owner: me('build'), wait: false });
  t.truthy(lock);
  t.is(JSON.parse(await readFile(path, 'utf8')).pid, process.pid);
  await lock!.release();
});

test('exactly one of several concurrent waiters takes over a dead holder', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  await writeLock(
    path,
    JSON.stringify({
      pid: await deadPid(),
      host: hostname(),
      runId: 'old',
      job: 'j',
      since: new Date().toISOString(),
    }),
  );
  const locks = await Promise.all(
    Array.from({ length: 6 }, (_, i) => acquireCacheLock({ path, owner: me(`job-${i}`), wait: false })),
  );
  const winners = locks.filter((l) => l !== undefined);
  t.is(winners.length, 1);
  await winners[0]!.release();
});

test('a lock held on another host is never taken over', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  await writeLock(
    path,
    JSON.stringify({
      pid: await deadPid(),
      host: 'elsewhere',
      runId: 'r',
      job: 'j',
      since: new Date().toISOString(),
    }),
  );
  t.is(await acquireCacheLock({ path, owner: me('build'), wait: false }), undefined);
});

test('an empty lock file is taken over only once it is older than 10 s', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  await writeLock(path, '');
  t.is(await acquireCacheLock({ path, owner: me('build'), wait: false }), undefined);
  await writeLock(path, '', 11_000);
  const lock = await acquireCacheLock({ path, owner: me('build'), wait: false });
  t.truthy(lock);
  await lock!.release();
});

test('release leaves a lock that someone else took over', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  const lock = await acquireCacheLock({ path, owner: me('build'), wait: false });
  const theirs = JSON.stringify({ ...me('other'), since: new Date().toISOString() });
  await writeFile(path, theirs);
  await lock!.release();
  t.is(await readFile(path, 'utf8'), theirs);
});

test('a waiter says who holds the lock, and gets it once released', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  const first = await acquireCacheLock({ path, owner: me('build'), wait: false });
  const reports: { holder: string; heldForMs: number }[] = [];
  let thirdReport!: () => void;
  const reported = new Promise<void>((resolve) => (thirdReport = resolve));
  const waiting = acquireCacheLock({
    path,
    owner: me('test'),
    wait: true,
    reportEveryMs: 100,
    pollMs: [20, 40],
    onWait: (holder, heldForMs) => {
      if (reports.push({ holder, heldForMs }) === 3) thirdReport();
    },
  });
  await reported;
  await first!.release();
  const second = await waiting;
  t.is(JSON.parse(await readFile(path, 'utf8')).job, 'test');
  await second!.release();
  t.true(reports.length >= 2, `${reports.length} reports`);
  t.is(reports[0]!.holder, `job build of run run-1 (pid ${process.pid})`);
  t.true(reports.at(-1)!.heldForMs >= 200);
});

test('waiting for a lock stops when the run is cancelled', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  const first = await acquireCacheLock({ path, owner: me('build'), wait: false });
  t.teardown(() => first?.release());
  const controller = new AbortController();
  let started = 0;
  // Cancelled once it is waiting (its first report), as a Ctrl-C during the wait would.
  const onWait = () => {
    started = Date.now();
    controller.abort(new CancelledError('interrupted by SIGINT'));
  };
  await t.throwsAsync(
    acquireCacheLock({ path, owner: me('test'), wait: true, onWait, signal: controller.signal }),
    { instanceOf: CancelledError, message: 'interrupted by SIGINT' },
  );
  t.true(started > 0, 'the waiter waited');
  t.true(Date.now() - started < 1000);
});

test('records the start time of the holding process and the boot id beside its pid', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  const lock = await acquireCacheLock({ path, owner: me('build'), wait: false });
  t.teardown(() => lock?.release());
  const holder = JSON.parse(await readFile(path, 'utf8'));
  t.is(holder.pidStart, processStartTime(process.pid));
  t.regex(holder.pidStart, /^\d+$/);
  t.is(holder.boot, bootId());
});

test('a lock whose pid now belongs to a process that started at another time is stale', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  // This very process is alive, but it is not the one that took the lock: another start time.
  await writeLock(
    path,
    JSON.stringify({
      ...me('old'),
      since: new Date(Date.now() - 3_600_000).toISOString(),
      pidStart: '1',
      boot: bootId(),
    }),
  );
  t.is((await readLockState(path)).kind, 'stale');
  const lock = await acquireCacheLock({ path, owner: me('build'), wait: false });
  t.truthy(lock);
  await lock!.release();
});

test('a lock taken before the machine last booted is stale', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  await writeLock(
    path,
    JSON.stringify({
      ...me('old'),
      since: new Date().toISOString(),
      pidStart: processStartTime(process.pid),
      boot: 'another-boot',
    }),
  );
  t.is((await readLockState(path)).kind, 'stale');
});

test('a lock file of an older kiln (pid only) is still held while its pid lives, and the wait names the file to remove', async (t) => {
  const path = cacheLockPath(await tempDir(t), 'v');
  await writeLock(path, JSON.stringify({ ...me('old'), since: new Date().toISOString() }));
  t.is((await readLockState(path)).kind, 'held');
  const controller = new AbortController();
  const waits: string[] = [];
  const waiting = acquireCacheLock({
    path,
    owner: me('build'),
    wait: true,
    signal: controller.signal,
    pollMs: [10, 20],
    onWait: (_holder, _ms, file) => {
      waits.push(file);
      controller.abort(new CancelledError('enough'));
    },
  });
  await t.throwsAsync(waiting, { instanceOf: CancelledError });
  t.deepEqual(waits, [path]);
  t.is(staleLockAdvice(path), `if no kiln process holds it (a stale lock), remove ${path}`);
});

test('a lock folder that cannot be written is a typed error that names the folder and KILN_STATE_DIR', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'locks'), 'a file where the folder should be');
  const error = await t.throwsAsync(
    acquireCacheLock({ path: cacheLockPath(dir, 'v'), owner: me('build'), wait: false }),
  );
  t.true(error instanceof InfrastructureError, String(error));
  t.is((error as InfrastructureError).code, 'E_LOCK');
  t.regex(error!.message, /locks\/v\.lock/);
  t.regex(error!.message, /KILN_STATE_DIR/);
});
