/**
 * Lock files: exclusive locks on cache volumes, reused containers and job results across the kiln
 * processes of this machine, as files under `<stateDir>/locks/<volume>.lock` created with O_EXCL and holding who holds them
 * (`{ pid, host, runId, job, since, pidStart, boot }`).
 *
 * A lock whose holder's process is gone (same host), or whose file stayed empty or unreadable for
 * {@link LOCK_STALE_AFTER_MS}, is taken over. A pid alone can mislead: once its kiln is gone, the pid may
 * be given to an unrelated process. So the holder's start time (`pidStart`, field 22 of
 * `/proc/<pid>/stat`) and the machine's boot id (`boot`) are recorded too, and a lock whose pid now
 * belongs to a process that started at another time, or that was taken before the last boot, is stale.
 * (Lock files of older kilns, without them, are judged by the pid alone.) Taking over is itself guarded by a second O_EXCL file
 * (`<lock>.takeover`), so that two waiters that both saw a dead holder cannot both end up holding it:
 * under the guard the lock is read again and removed only if it is still the one seen dead.
 *
 * A `shared` cache takes no lock, but each job using it registers as one of its users, a lock file of
 * its own under `<volume>.users/`, so that `kiln prune` does not remove a volume a job is about to mount.
 * Registering and prune's check both happen under the cache's guard lock (`<volume>.guard`): either the
 * prune removes the volume before the job registers (and the job then creates it afresh), or it sees the
 * job.
 */
import { hostname } from 'node:os';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { cancelledError, InfrastructureError } from './errors.js';
import { bootId, processIsAlive, processStartTime } from './labels.js';
import { safeName } from './names.js';

/** An empty or unreadable lock file older than this is taken over (its writer died while creating it). */
export const LOCK_STALE_AFTER_MS = 10_000;

export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly runId: string;
  readonly job: string;
}

export interface LockHolder extends LockOwner {
  /** ISO 8601 time the lock was taken. */
  readonly since: string;
  /** When the holder's process started (see processStartTime), where known. */
  readonly pidStart?: string;
  /** The boot id of the holder's machine, where known. */
  readonly boot?: string;
}

/** What a lock file says right now. */
export type LockState =
  | { readonly kind: 'free' }
  /** Held by a live process, or by one on another host (whose liveness cannot be known). */
  | { readonly kind: 'held'; readonly holder: LockHolder; readonly raw: string; readonly heldForMs: number }
  /** The file is empty or unreadable but too young to be called stale: someone is writing it. */
  | { readonly kind: 'unknown'; readonly raw: string; readonly mtimeMs: number; readonly heldForMs: number }
  /** The holder is dead, or the file is empty or unreadable and old: it may be taken over. */
  | { readonly kind: 'stale'; readonly raw: string; readonly mtimeMs: number };

export interface AcquireLockOptions {
  /** The lock file. */
  readonly path: string;
  readonly owner: LockOwner;
  /** True: wait while someone else holds it. False: give up at once (returns undefined). */
  readonly wait: boolean;
  /** Waiting stops with a CancelledError when this is aborted. */
  readonly signal?: AbortSignal;
  /**
   * Called when a wait starts and then every `reportEveryMs` while it lasts, with who holds the lock (see
   * {@link describeHolder}), for how long, and the lock file (see {@link staleLockAdvice}).
   */
  readonly onWait?: (holder: string, heldForMs: number, path: string) => void;
  /** Milliseconds between reports of a wait. Default 5000. */
  readonly reportEveryMs?: number;
  /** Shortest and longest pause between two attempts, in milliseconds (random in between). Default [100, 250]. */
  readonly pollMs?: readonly [number, number];
  /** See {@link LOCK_STALE_AFTER_MS}. */
  readonly staleAfterMs?: number;
}

export interface CacheLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Removes the lock file if it is still this lock's (never someone else's who took it over). */
  release(): Promise<void>;
}

/** How to clear a lock whose holder is not a kiln any more: the exact file to remove. */
export function staleLockAdvice(path: string): string {
  return `if no kiln process holds it (a stale lock), remove ${path}`;
}

export function cacheLockPath(stateDirectory: string, volume: string): string {
  return join(stateDirectory, 'locks', `${volume}.lock`);
}

/** The lock held while a shared user registers, or while prune checks the users. */
export function cacheGuardPath(stateDirectory: string, volume: string): string {
  return join(stateDirectory, 'locks', `${volume}.guard`);
}

/** The folder of a cache's registered shared users, one lock file each. */
export function cacheUsersDir(stateDirectory: string, volume: string): string {
  return join(stateDirectory, 'locks', `${volume}.users`);
}

/**
 * Registers `owner` as a user of a shared cache until the returned lock is released. Waits for the
 * guard only as long as another registration or a prune's check holds it.
 */
export async function registerCacheUser(
  stateDirectory: string,
  volume: string,
  owner: LockOwner,
  signal?: AbortSignal,
): Promise<CacheLock> {
  const guard = await acquireCacheLock({
    path: cacheGuardPath(stateDirectory, volume),
    owner,
    wait: true,
    pollMs: [10, 50],
    ...(signal ? { signal } : {}),
  });
  try {
    const name = `${safeName(`${owner.host}-${owner.pid}-${owner.runId}-${owner.job}`)}.lock`;
    const path = join(cacheUsersDir(stateDirectory, volume), name);
    const holder = holderOf(owner);
    if (!(await createExclusive(path, JSON.stringify(holder)))) {
      throw new InfrastructureError(
        `job ${owner.job} of run ${owner.runId} is registered as a user of cache volume ${volume} ` +
          `already (${path}); if no kiln process runs that job, remove that file`,
        undefined,
        'E_LOCK',
      );
    }
    // The file's name is this process's and run's own: nobody else takes it over while this process
    // lives, so releasing it needs no check of its content.
    return ownedLock(path, holder);
  } finally {
    await guard!.release();
  }
}

/**
 * The live registered users of a shared cache, each described as in {@link describeHolder};
 * registrations of processes that are gone are removed.
 */
export async function liveCacheUsers(stateDirectory: string, volume: string): Promise<string[]> {
  const dir = cacheUsersDir(stateDirectory, volume);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return [];
    throw lockFault(error, 'reading the folder', dir);
  }
  const live: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const state = await readLockState(path);
    if (state.kind === 'held') live.push(describeHolder(state.holder));
    else if (state.kind === 'unknown') live.push(`a kiln process registering (${path})`);
    else if (state.kind === 'stale') await rm(path, { force: true }).catch(() => {});
  }
  return live;
}

/** "job build of run r-1 (pid 123)", plus the host when it is not this one. */
export function describeHolder(holder: LockHolder): string {
  const host = holder.host === hostname() ? '' : ` on ${holder.host}`;
  return `job ${holder.job} of run ${holder.runId} (pid ${holder.pid}${host})`;
}

/** Reads the lock file at `path` and says whether it is free, held, or stale. */
export async function readLockState(
  path: string,
  staleAfterMs: number = LOCK_STALE_AFTER_MS,
  now: number = Date.now(),
): Promise<LockState> {
  let raw: string;
  let mtimeMs: number;
  try {
    [raw, mtimeMs] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.mtimeMs)]);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return { kind: 'free' };
    // Unreadable: judge by age alone.
    try {
      mtimeMs = (await stat(path)).mtimeMs;
    } catch (statError) {
      if (isCode(statError, 'ENOENT')) return { kind: 'free' };
      throw lockFault(statError, 'reading the lock file', path);
    }
    raw = '';
  }
  const holder = parseHolder(raw);
  if (holder === undefined) {
    return now - mtimeMs > staleAfterMs
      ? { kind: 'stale', raw, mtimeMs }
      : { kind: 'unknown', raw, mtimeMs, heldForMs: Math.max(0, now - mtimeMs) };
  }
  if (holder.host === hostname() && !holderIsAlive(holder)) return { kind: 'stale', raw, mtimeMs };
  const since = Date.parse(holder.since);
  return { kind: 'held', holder, raw, heldForMs: Number.isNaN(since) ? 0 : Math.max(0, now - since) };
}

/** The holder's record for `owner`, now: with the start time of its process and the boot id, where known. */
function holderOf(owner: LockOwner): LockHolder {
  const local = owner.host === hostname();
  const pidStart = local ? processStartTime(owner.pid) : undefined;
  const boot = local ? bootId() : undefined;
  return {
    ...owner,
    since: new Date().toISOString(),
    ...(pidStart !== undefined ? { pidStart } : {}),
    ...(boot !== undefined ? { boot } : {}),
  };
}

/**
 * Is the process that holds a lock of this host still the one that took it? Its pid must be alive and,
 * where the lock recorded them, the machine not rebooted since and the pid's process started when the
 * holder's did (else the pid was recycled).
 */
function holderIsAlive(holder: LockHolder): boolean {
  if (!processIsAlive(holder.pid)) return false;
  if (holder.boot !== undefined) {
    const boot = bootId();
    if (boot !== undefined && boot !== holder.boot) return false;
  }
  if (holder.pidStart !== undefined) {
    const started = processStartTime(holder.pid);
    if (started !== undefined && started !== holder.pidStart) return false;
  }
  return true;
}

function parseHolder(raw: string): LockHolder | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockHolder>;
    if (
      typeof value === 'object' &&
      value !== null &&
      Number.isInteger(value.pid) &&
      typeof value.host === 'string' &&
      typeof value.runId === 'string' &&
      typeof value.job === 'string' &&
      typeof value.since === 'string'
    ) {
      return {
        pid: value.pid!,
        host: value.host,
        runId: value.runId,
        job: value.job,
        since: value.since,
        ...(typeof value.pidStart === 'string' ? { pidStart: value.pidStart } : {}),
        ...(typeof value.boot === 'string' ? { boot: value.boot } : {}),
      };
    }
  } catch {
    // not JSON: an unknown holder
  }
  return undefined;
}

/**
 * Takes the lock at `options.path`. Waits while another holds it (when `wait`), taking over a stale
 * one; returns undefined when it is held and `wait` is false.
 */
export async function acquireCacheLock(options: AcquireLockOptions): Promise<CacheLock | undefined> {
  const { path, owner, signal } = options;
  const staleAfterMs = options.staleAfterMs ?? LOCK_STALE_AFTER_MS;
  const reportEveryMs = options.reportEveryMs ?? 5000;
  const [minPoll, maxPoll] = options.pollMs ?? [100, 250];
  let lastReport: number | undefined;

  for (;;) {
    throwIfAborted(signal);
    const holder = holderOf(owner);
    const raw = JSON.stringify(holder);
    if (await createExclusive(path, raw)) return ownedLock(path, holder, raw);

    const state = await readLockState(path, staleAfterMs);
    if (state.kind === 'free') continue;
    if (state.kind === 'stale') {
      await takeOver(path, state, staleAfterMs);
      continue;
    }
    if (!options.wait) return undefined;
    const now = Date.now();
    if (lastReport === undefined || now - lastReport >= reportEveryMs) {
      lastReport = now;
      const who =
        state.kind === 'held' ? describeHolder(state.holder) : `an unknown holder (lock file ${path})`;
      options.onWait?.(who, state.heldForMs, path);
    }
    await sleep(minPoll + Math.random() * (maxPoll - minPoll), signal);
  }
}

/**
 * A lock this process holds. With `raw` (the content it wrote), release removes the file only while it
 * still holds that content, never a lock someone else took over; without, it removes the file.
 */
function ownedLock(path: string, holder: LockHolder, raw?: string): CacheLock {
  let released = false;
  return {
    path,
    holder,
    async release() {
      if (released) return;
      released = true;
      try {
        if (raw === undefined) return await rm(path, { force: true });
        let current: string;
        try {
          current = await readFile(path, 'utf8');
        } catch (error) {
          if (isCode(error, 'ENOENT')) return;
          throw error;
        }
        if (current === raw) await rm(path, { force: true });
      } catch (error) {
        throw lockFault(error, 'releasing the lock', path);
      }
    },
  };
}

/** Creates `path` with `content` only if it does not exist yet; false when it does. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o644);
  } catch (error) {
    if (isCode(error, 'EEXIST')) return false;
    if (!isCode(error, 'ENOENT')) throw lockFault(error, 'creating the lock file', path);
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (mkdirError) {
      throw lockFault(mkdirError, 'creating the folder of the lock file', path);
    }
    try {
      handle = await open(path, 'wx', 0o644);
    } catch (retryError) {
      if (isCode(retryError, 'EEXIST')) return false;
      throw lockFault(retryError, 'creating the lock file', path);
    }
  }
  try {
    await handle.writeFile(content);
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(path, { force: true }).catch(() => {});
    throw lockFault(error, 'writing the lock file', path);
  }
  await handle.close();
  return true;
}

/**
 * A file system fault under kiln's state folder as an error a user can act on (exit 3): what failed,
 * where, why, and what to check.
 */
function lockFault(error: unknown, doing: string, path: string): InfrastructureError {
  if (error instanceof InfrastructureError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'EROFS'
        ? 'the file system is read-only'
        : code === 'ENOSPC' || code === 'EDQUOT'
          ? 'no space left on the device'
          : code === 'ENAMETOOLONG'
            ? 'the name is too long for the file system'
            : code === 'ENOTDIR'
              ? 'a part of the path is not a folder'
              : code === 'EISDIR'
                ? 'a folder is in the way'
                : error instanceof Error
                  ? error.message
                  : String(error);
  return new InfrastructureError(
    `${doing} ${path} failed: ${why}${code && !why.includes(code) ? ` (${code})` : ''}. kiln keeps its ` +
      `locks under its state folder (KILN_STATE_DIR, else $XDG_STATE_HOME/kiln, else ~/.local/state/kiln): ` +
      `check that it is a folder this user can write, or point KILN_STATE_DIR at one`,
    error,
    'E_LOCK',
  );
}

/** Removes a stale lock, under the take-over guard, if it is still the one seen stale. */
async function takeOver(
  path: string,
  seen: Extract<LockState, { kind: 'stale' }>,
  staleAfterMs: number,
): Promise<void> {
  const guard = `${path}.takeover`;
  if (!(await createExclusive(guard, String(process.pid)))) {
    // Another waiter is taking it over; a guard left by a process that died meanwhile is removed.
    try {
      if (Date.now() - (await stat(guard)).mtimeMs > staleAfterMs) await rm(guard, { force: true });
    } catch {
      // gone already
    }
    await sleep(10);
    return;
  }
  try {
    const now = await readLockState(path, staleAfterMs);
    if (now.kind === 'stale' && now.raw === seen.raw && now.mtimeMs === seen.mtimeMs) {
      await rm(path, { force: true }).catch((error: unknown) => {
        throw lockFault(error, 'removing the stale lock file', path);
      });
    }
  } finally {
    await rm(guard, { force: true }).catch(() => {});
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError(signal);
}

/** Waits `ms`; a CancelledError as soon as `signal` aborts. */
async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    if (signal?.aborted) throw cancelledError(signal);
    throw error;
  }
}

function isCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}
