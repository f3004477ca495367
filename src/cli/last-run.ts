/**
 * What `kiln run --failed` reads: per project, how each job of its last run ended, in
 * `<state folder>/last-run/<project>.json`, written by `kiln run` when a run ends (atomically, so that
 * an interrupted write never leaves half a file). Step logs are no help here: `--no-logs` keeps none,
 * and they are shared by every project and pruned by count.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Status } from '../events.js';
import { writeFileAtomic } from '../results/atomic-file.js';
import type { RunResult } from '../scheduler/types.js';
import { stateDir } from '../state-dir.js';

export interface LastRun {
  readonly runId: string;
  /** ISO 8601. */
  readonly endedAt: string;
  /** Each job of the run and how it ended, in the run's order. */
  readonly jobs: Readonly<Record<string, Status>>;
}

/** The statuses `--failed` runs again. */
const RERUN: ReadonlySet<Status> = new Set<Status>(['failed', 'timed-out', 'cancelled']);

function lastRunPath(project: string, env: NodeJS.ProcessEnv): string {
  return join(stateDir(env), 'last-run', `${project}.json`);
}

/** Records how the run ended, as the project's last run (writeFileAtomic makes its folder when missing). */
export async function writeLastRun(
  project: string,
  result: Pick<RunResult, 'runId' | 'jobs'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const path = lastRunPath(project, env);
  const last: LastRun = {
    runId: result.runId,
    endedAt: new Date().toISOString(),
    jobs: Object.fromEntries([...result.jobs].map(([name, outcome]) => [name, outcome.status])),
  };
  await writeFileAtomic(path, JSON.stringify(last, null, 2) + '\n');
}

/** The project's last run, or undefined when there is none (or its record cannot be read). */
export async function readLastRun(
  project: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LastRun | undefined> {
  try {
    const value = JSON.parse(await readFile(lastRunPath(project, env), 'utf8')) as Partial<LastRun>;
    if (typeof value.runId !== 'string' || typeof value.jobs !== 'object' || value.jobs === null)
      return undefined;
    return value as LastRun;
  } catch {
    return undefined;
  }
}

/** The jobs of a last run that failed, timed out or were cancelled, in its order. */
export function failedJobs(last: LastRun): string[] {
  return Object.entries(last.jobs)
    .filter(([, status]) => RERUN.has(status))
    .map(([name]) => name);
}
