/**
 * Locks on an engine many hosts share (see keepers.ts): a lock is a container named after the object it
 * guards (`kiln-lock-<object>`), never started, made from the run's keeper image and labelled with its
 * holder (run, job, pid, host, keeper). Making it takes the lock; the engine refusing the name (409) means
 * someone holds it. A lock whose holder is gone (on this host: its pid; of another host: its run's keeper
 * no longer runs) is stale and removed by its ID, so that two waiters that both found it stale cannot
 * remove a lock a third one has taken since.
 *
 * The lock files under the state folder (lock-files.ts) stay for engines that only this host uses: they
 * are cheaper, and a run on such an engine has no keeper.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { cancelledError } from '../errors.js';
import { Label, ownerIsGone, ownerLabels, thisHost } from '../labels.js';
import { safeName } from '../names.js';
import type { Engine } from './engine.js';
import type { Keeper, KeeperRuntime } from './keepers.js';

/** The keeper of a run of this process, with the engine it runs on. */
interface KeptRun {
  readonly keeper: Keeper;
  readonly keepers: KeeperRuntime;
}

const kept = new Map<string, KeptRun>();

/** On a lock container: when it was taken (ISO 8601), for "held for ..." in messages. */
const SINCE = 'dev.kiln.since';

/** Run `runId` keeps `keeper` on the engine of `keepers` from now on (none: no longer). */
export function setKeptRun(runId: string, run: KeptRun | undefined): void {
  if (run === undefined) kept.delete(runId);
  else kept.set(runId, run);
}

/** Whether run `runId` of this process takes its locks on the engine (it has a keeper there). */
export function locksOnEngine(runId: string): boolean {
  return kept.has(runId);
}

/** The name of the lock container that guards `object` (a volume's or a container's name). */
export function lockContainerName(object: string): string {
  return safeName(`kiln-lock-${object}`);
}

export interface EngineLockRequest {
  /** The run taking it: it must keep a keeper (see locksOnEngine). */
  readonly runId: string;
  readonly job: string;
  /** The name of what the lock guards (a cache volume, a reused container). */
  readonly object: string;
  /** True: wait while someone else holds it. False: give up at once (returns undefined). */
  readonly wait: boolean;
  /** Waiting stops with a CancelledError when this is aborted. */
  readonly signal?: AbortSignal;
  /** Called when a wait starts and then every `reportEveryMs`, with who holds it and for how long. */
  readonly onWait?: (holder: string, heldForMs: number, lock: string) => void;
  /** Milliseconds between reports of a wait. Default 5000. */
  readonly reportEveryMs?: number;
  /** Shortest and longest pause between two attempts, in milliseconds. Default [200, 500]. */
  readonly pollMs?: readonly [number, number];
}

export interface EngineLock {
  /** The lock container's name. */
  readonly name: string;
  release(): Promise<void>;
}

/** `job build of run r-1 (pid 123 on host-b)`, from a lock container's labels. */
export function describeLockHolder(labels: Readonly<Record<string, string>>): string {
  const host = labels[Label.host];
  const where = host && host !== thisHost() ? ` on ${host}` : '';
  return `job ${labels[Label.job] ?? '?'} of run ${labels[Label.run] ?? '?'} (pid ${labels[Label.pid] ?? '?'}${where})`;
}

/** Takes the engine lock of `request.object`; undefined when it is held and `wait` is false. */
export async function acquireEngineLock(request: EngineLockRequest): Promise<EngineLock | undefined> {
  const run = kept.get(request.runId);
  if (run === undefined) throw new Error(`run ${request.runId} keeps no keeper: it takes no engine locks`);
  const name = lockContainerName(request.object);
  const labels = {
    ...ownerLabels(request.runId),
    [Label.scope]: 'lock',
    [Label.job]: request.job,
    [SINCE]: new Date().toISOString(),
  };
  const [minPoll, maxPoll] = request.pollMs ?? [200, 500];
  const reportEveryMs = request.reportEveryMs ?? 5000;
  let lastReport: number | undefined;
  for (;;) {
    if (request.signal?.aborted) throw cancelledError(request.signal);
    const made = await run.keepers.createLock(name, run.keeper.image, labels);
    if ('held' in made) return made.held;
    const holder = made.taken;
    if (holder === undefined) continue; // released between the two calls
    if (ownerIsGone(holder.labels, await run.keepers.live())) {
      await run.keepers.removeLock(holder.id);
      continue;
    }
    if (!request.wait) return undefined;
    const now = Date.now();
    if (lastReport === undefined || now - lastReport >= reportEveryMs) {
      lastReport = now;
      const since = Date.parse(holder.labels[SINCE] ?? '');
      request.onWait?.(describeLockHolder(holder.labels), Number.isNaN(since) ? 0 : now - since, name);
    }
    try {
      await delay(minPoll + Math.random() * (maxPoll - minPoll), undefined, {
        ...(request.signal ? { signal: request.signal } : {}),
      });
    } catch (error) {
      if (request.signal?.aborted) throw cancelledError(request.signal);
      throw error;
    }
  }
}

/**
 * The lock containers on the engine whose holders are alive: lock name -> who holds it (see
 * describeLockHolder). Empty on an engine without keepers.
 */
export async function liveEngineLocks(
  engine: Pick<Engine, 'containers' | 'keepers'>,
): Promise<ReadonlyMap<string, string>> {
  if (!engine.keepers) return new Map();
  const locks = await engine.containers.list([`${Label.managed}=true`, `${Label.scope}=lock`]);
  const live = await engine.keepers.live();
  return new Map(
    locks.filter((l) => !ownerIsGone(l.labels, live)).map((l) => [l.name, describeLockHolder(l.labels)]),
  );
}
