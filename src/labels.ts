/**
 * The labels on everything kiln creates (containers, volumes, networks) and the values that identify the run
 * and process that own it, so that a later run or `kiln prune` can sweep what a dead run left.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export const Label = {
  /** `true` on everything kiln creates. */
  managed: 'dev.kiln.managed',
  run: 'dev.kiln.run',
  project: 'dev.kiln.project',
  job: 'dev.kiln.job',
  /** The pid of the kiln process that owns a run-scoped resource. */
  pid: 'dev.kiln.pid',
  /** The host of that process (KILN_HOST_ID, else the host name); a pid means nothing on another host. */
  host: 'dev.kiln.host',
  /**
   * The name of the keeper container of the owning run, on an engine many hosts share: the run is alive
   * while its keeper runs (runtime/keepers.ts).
   */
  keeper: 'dev.kiln.keeper',
  /**
   * `run` (removed at the end of the run), `reuse` (a reused container), `cache` (kept across runs),
   * `result` (an output volume of the job cache, kept while a sealed result refers to it), `source` (a
   * bind source's content shipped to a remote engine, keyed by its digest; see runtime/source-volumes.ts),
   * `keeper` (a run's keeper) and `lock` (a lock container; both in runtime/keepers.ts).
   */
  scope: 'dev.kiln.scope',
  /** The cache id of a cache volume. */
  cache: 'dev.kiln.cache',
  /** A reused container's fingerprint of its config. */
  fingerprint: 'dev.kiln.fingerprint',
  /** The name of a job's service, on its container. */
  service: 'dev.kiln.service',
  /** The kiln version that made it. */
  version: 'dev.kiln.version',
  /** The key (`sha256:...`) of the job result an output volume belongs to. */
  result: 'dev.kiln.result',
  /** The path in the job of the output an output volume holds. */
  output: 'dev.kiln.output',
  /**
   * Which result store (state folder, on which host) an output volume belongs to: only that store's
   * sweeps and prunes touch it, so that two state folders can share one engine.
   */
  store: 'dev.kiln.store',
  /** The content digest (`sha256:...`) of the bind source a source volume holds. */
  digest: 'dev.kiln.digest',
  /** On a source volume's completion mark: the name of the volume that holds the content. */
  content: 'dev.kiln.content',
} as const;

export type Scope = 'run' | 'reuse' | 'cache' | 'result' | 'source' | 'keeper' | 'lock';

export const MANAGED_FILTER = { label: [`${Label.managed}=true`] };

/**
 * The name this host is recorded under on what kiln makes, and compared with to tell its resources from
 * another host's: KILN_HOST_ID when set (tests play another host with it), else the host name.
 */
export function thisHost(env: NodeJS.ProcessEnv = process.env): string {
  return env.KILN_HOST_ID?.trim() || hostname();
}

/** The keeper of each run of this process that has one (see runtime/keepers.ts), by run id. */
const keepers = new Map<string, string>();

/** From now on, what run `runId` makes is labelled with its keeper `name` (none: no longer). */
export function setRunKeeper(runId: string, name: string | undefined): void {
  if (name === undefined) keepers.delete(runId);
  else keepers.set(runId, name);
}

/** This process's identity, as recorded on run-scoped resources. */
export function ownerLabels(runId: string): Record<string, string> {
  const keeper = keepers.get(runId);
  return {
    [Label.managed]: 'true',
    [Label.run]: runId,
    [Label.pid]: String(process.pid),
    [Label.host]: thisHost(),
    ...(keeper !== undefined ? { [Label.keeper]: keeper } : {}),
  };
}

/**
 * Is the kiln that owns a resource with these labels gone? On this host, its pid says. Of another host,
 * its run's keeper says, when it has one and `liveKeepers` (the names of the keepers that run, looked up
 * after the resource was listed) is given; otherwise it cannot be known and counts as alive.
 */
export function ownerIsGone(
  labels: Readonly<Record<string, string>> | undefined,
  liveKeepers?: ReadonlySet<string>,
): boolean {
  if (!labels) return false;
  const pid = Number(labels[Label.pid]);
  if (labels[Label.host] === thisHost() && Number.isInteger(pid) && pid > 0) return !processIsAlive(pid);
  const keeper = labels[Label.keeper];
  if (keeper !== undefined && liveKeepers !== undefined) return !liveKeepers.has(keeper);
  return false;
}

export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process's own start time (see processStartTime), read once: null where it cannot be read. */
let ownStartTime: string | null | undefined;

/**
 * When process `pid` started, in clock ticks after boot (field 22 of `/proc/<pid>/stat`), as a string;
 * undefined where it cannot be read (not Linux, no such process). With the pid it names one process:
 * a pid that was recycled by another process has another start time. This process's own is read once
 * (every lock it takes records it).
 */
export function processStartTime(pid: number): string | undefined {
  if (pid !== process.pid) return readStartTime(pid);
  if (ownStartTime === undefined) ownStartTime = readStartTime(pid) ?? null;
  return ownStartTime ?? undefined;
}

function readStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command) is in parentheses and may hold spaces; fields 3 on follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[22 - 3];
    return start !== undefined && /^\d+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

let cachedBootId: string | null | undefined;

/** This boot of the machine (`/proc/sys/kernel/random/boot_id`), undefined where it cannot be read. */
export function bootId(): string | undefined {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId ?? undefined;
}
