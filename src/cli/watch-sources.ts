/**
 * `kiln run --watch`: the bind sources of the jobs a run selected, watched for changes (node:fs.watch,
 * recursive), debounced. kiln's state folder and the outputs' export destinations are never changes. A
 * job may write into a read-write bind while it runs: what changes under a read-write source while a
 * run goes is the run's own doing and is not a change either; under read-only sources it is the user's,
 * and runs the graph again once the run ended.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { BuildGraph } from '../graph/types.js';
import { isInside } from '../host-paths.js';

/** How long the sources must stay quiet after a change before the run starts again, in ms. */
export const WATCH_DEBOUNCE_MS = 300;

/** What a run's jobs read from the host, and what is never a change. */
export interface WatchPlan {
  /** Bind sources, absolute, with whether any job mounts them read-write. */
  readonly sources: ReadonlyArray<{ readonly path: string; readonly writable: boolean }>;
  /** Never changes: the state folder, the export destinations. */
  readonly ignored: readonly string[];
}

/** The bind sources of the graph's jobs (read-write if any job mounts one so), and what to ignore. */
export function watchPlan(graph: BuildGraph, stateFolder: string): WatchPlan {
  const sources = new Map<string, boolean>();
  const ignored = [resolve(stateFolder)];
  for (const job of graph.jobs.values()) {
    for (const mount of job.mounts) {
      if (mount.type !== 'bind') continue;
      sources.set(mount.source, (sources.get(mount.source) ?? false) || !mount.readonly);
    }
    for (const output of job.outputs) if (output.export !== undefined) ignored.push(output.export);
  }
  return { sources: [...sources].map(([path, writable]) => ({ path, writable })), ignored };
}

/**
 * The folders to watch: each source that is a folder (recursively), or the folder of one that is a
 * file (editors replace a file, so the file itself cannot be watched), leaving out those under
 * another watched folder.
 */
async function watchRoots(plan: WatchPlan): Promise<Array<{ dir: string; recursive: boolean }>> {
  const roots: Array<{ dir: string; recursive: boolean }> = [];
  for (const { path } of plan.sources) {
    const isDir = await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    );
    roots.push(isDir ? { dir: path, recursive: true } : { dir: dirname(path), recursive: false });
  }
  const unique = new Map<string, boolean>();
  for (const r of roots) unique.set(r.dir, (unique.get(r.dir) ?? false) || r.recursive);
  return [...unique]
    .filter(([dir]) => ![...unique].some(([other, rec]) => rec && other !== dir && isInside(dir, other)))
    .map(([dir, recursive]) => ({ dir, recursive }));
}

export interface SourceWatcher {
  /** The folders watched. */
  readonly roots: readonly string[];
  /** While a run goes: changes under read-write sources are the run's own. */
  setRunning(running: boolean): void;
  /**
   * Resolves with the changed paths once a change was followed by WATCH_DEBOUNCE_MS of quiet (at once
   * when one is pending from the last run), or with undefined when `signal` aborts.
   */
  next(signal: AbortSignal): Promise<string[] | undefined>;
  close(): void;
}

/** Starts watching; a folder that cannot be watched (gone, too many watches) throws. */
export async function watchSources(plan: WatchPlan): Promise<SourceWatcher> {
  const roots = await watchRoots(plan);
  const writable = plan.sources.filter((s) => s.writable).map((s) => s.path);
  const sources = plan.sources.map((s) => s.path);
  const watchers: FSWatcher[] = [];
  let running = false;
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const onEvent = (root: string, filename: string | Buffer | null): void => {
    const path = filename === null ? root : join(root, filename.toString());
    if (plan.ignored.some((i) => isInside(path, i))) return;
    if (!sources.some((s) => isInside(path, s))) return; // a sibling of a watched file
    if (running && writable.some((w) => isInside(path, w))) return;
    pending.add(path);
    clearTimeout(timer);
    timer = setTimeout(() => wake?.(), WATCH_DEBOUNCE_MS);
  };
  try {
    for (const { dir, recursive } of roots) {
      const watcher = watch(dir, { recursive }, (_event, filename) => onEvent(dir, filename));
      watcher.on('error', () => {}); // a watched folder removed: its sources count as unchanged
      watchers.push(watcher);
    }
  } catch (error) {
    for (const w of watchers) w.close();
    throw error;
  }

  return {
    roots: roots.map((r) => r.dir),
    setRunning(value) {
      running = value;
    },
    next(signal) {
      return new Promise((resolvePromise) => {
        const done = (): void => {
          signal.removeEventListener('abort', onAbort);
          wake = undefined;
          const changed = [...pending];
          pending.clear();
          resolvePromise(changed);
        };
        const onAbort = (): void => {
          wake = undefined;
          clearTimeout(timer);
          resolvePromise(undefined);
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        wake = done;
        // Changes seen during the last run: run again once they are quiet.
        if (pending.size > 0) {
          clearTimeout(timer);
          timer = setTimeout(() => wake?.(), WATCH_DEBOUNCE_MS);
        }
      });
    },
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
