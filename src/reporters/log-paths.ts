/**
 * Where a run's logs live: `<logDir>/<runId>/events.jsonl`, `<logDir>/<runId>/<job>/<NN>-<step>.log` and,
 * for a job's services, `<logDir>/<runId>/<job>/service-<name>.log`.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

const UNSAFE = /[^A-Za-z0-9._-]+/g;
const MAX_NAME = 80;

/**
 * A file or folder name for `name`: characters outside `[A-Za-z0-9._-]` become `_`, and a name that had to
 * change gets a short hash of the original, so that two different names never share a file.
 */
export function safeFileName(name: string): string {
  let safe = name.replace(UNSAFE, '_').replace(/^\.+/, '_');
  if (safe === name && safe.length <= MAX_NAME && safe !== '') return safe;
  const hash = createHash('sha1').update(name).digest('hex').slice(0, 8);
  safe = safe.slice(0, MAX_NAME);
  return safe === '' || safe === '_' ? hash : `${safe}-${hash}`;
}

/** The folder of one run's logs. */
export function runLogDir(logDir: string, runId: string): string {
  return join(logDir, safeFileName(runId));
}

/** The full log of one step; `index` is the step's 0-based position, written 1-based (`01-build.log`). */
export function stepLogPath(runDir: string, job: string, index: number, step: string): string {
  return join(runDir, safeFileName(job), `${String(index + 1).padStart(2, '0')}-${safeFileName(step)}.log`);
}

/** The full output of one of a job's services (a service's name is a host name: never a step's `NN-`). */
export function serviceLogPath(runDir: string, job: string, service: string): string {
  return join(runDir, safeFileName(job), `service-${safeFileName(service)}.log`);
}

/** The events of one run, one JSON object a line (step output is in the step logs, not here). */
export function eventsLogPath(runDir: string): string {
  return join(runDir, 'events.jsonl');
}
