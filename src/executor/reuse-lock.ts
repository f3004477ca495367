/**
 * A reused container has one user at a time: a run holds its lock file (under the state folder; on an
 * engine other hosts share, a lock container on the engine: runtime/engine-locks.ts) from before the
 * container is inspected until after its per-run clean-up, and a second run waits for it, saying who
 * holds it.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Emit } from '../events.js';
import { acquireCacheLock, staleLockAdvice } from '../lock-files.js';
import { safeName } from '../names.js';
import type { ReleaseStack } from '../release.js';
import { acquireEngineLock, locksOnEngine } from '../runtime/engine-locks.js';

/**
 * The lock file of a reused container: `<stateDir>/locks/containers/<name>.lock` (a name too long for a
 * file name is cut and hashed).
 */
export function containerLockPath(stateDirectory: string, name: string): string {
  return join(stateDirectory, 'locks', 'containers', `${safeName(name)}.lock`);
}

export interface ReuseLockRequest {
  readonly name: string;
  /** The name was derived from project, job and worker slot (not given by the job). */
  readonly derived: boolean;
  readonly job: string;
  readonly runId: string;
  readonly stateDirectory: string;
  readonly emit: Emit;
  readonly stack: ReleaseStack;
  /** Waiting stops with a CancelledError when this aborts. */
  readonly signal?: AbortSignal;
}

/**
 * Takes the lock of a reused container for this run, waiting while another run holds it (with a
 * warning that says who, for how long, and how to clear a stale lock); its release is pushed on the
 * stack before anything of the container, so that it is released after the container's clean-up.
 */
export async function lockReusedContainer(request: ReuseLockRequest): Promise<void> {
  const { name, job } = request;
  const warn = (holder: string, heldForMs: number, advice: string) =>
    request.emit({
      type: 'warning',
      job,
      message:
        `reused container ${name} is in use by ${holder} for ${formatWait(heldForMs)}; waiting for it` +
        (request.derived ? ' (or set KILN_WORKER to another slot to use another container)' : '') +
        `; ${advice}`,
    });
  const common = {
    wait: true,
    reportEveryMs: 30_000,
    ...(request.signal ? { signal: request.signal } : {}),
  } as const;
  // On an engine other hosts share, the lock is on the engine, where their kilns see it too.
  const lock = locksOnEngine(request.runId)
    ? await acquireEngineLock({
        ...common,
        runId: request.runId,
        job,
        object: name,
        onWait: (holder, heldForMs, lockName) =>
          warn(holder, heldForMs, `if no kiln holds it (a stale lock), remove the container ${lockName}`),
      })
    : await acquireCacheLock({
        ...common,
        path: containerLockPath(request.stateDirectory, name),
        owner: { pid: process.pid, host: hostname(), runId: request.runId, job },
        onWait: (holder, heldForMs, path) => warn(holder, heldForMs, staleLockAdvice(path)),
      });
  request.stack.push('lock', name, () => lock!.release());
}

/** How long a lock has been held, for the warning: `45 s`, `2 min 5 s`, `1 h 3 min`. */
function formatWait(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
