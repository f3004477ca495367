/**
 * The outcome of a job the job cache had: `cached`, no step, and its outputs for the jobs after it. A
 * result of this machine's store hands on its volumes; one still in the shared cache hands on stand-in
 * volume names, enough to key the jobs after it (a key needs only the outputs' digests), which the
 * caching executor downloads if a job that runs mounts one.
 */
import type { RemoteEntry, StoredResult } from '../results/index.js';
import type { JobOutcome, JobOutputRef } from '../scheduler/types.js';

/** A stored result's outputs as the jobs after it see them. */
export function outputRefsOf(result: StoredResult): ReadonlyMap<string, JobOutputRef> {
  return new Map(result.outputs.map((o) => [o.path, { path: o.path, volume: o.volume, digest: o.digest }]));
}

/** The outcome of a job whose result is in this machine's store. */
export function cachedOutcome(result: StoredResult): JobOutcome {
  return { status: 'cached', steps: [], outputs: outputRefsOf(result) };
}

/** The outcome of a job whose result is in the shared cache only (not downloaded). */
export function remoteOutcome(job: string, entry: RemoteEntry): JobOutcome {
  return {
    status: 'cached',
    steps: [],
    outputs: new Map(
      entry.outputs.map((o) => [o.path, { path: o.path, volume: lazyVolume(job, o.path), digest: o.digest }]),
    ),
  };
}

const LAZY_PREFIX = '(shared cache) ';

/** The stand-in volume name of an output still in the shared cache (never a Docker volume name). */
function lazyVolume(job: string, path: string): string {
  return `${LAZY_PREFIX}${job}:${path}`;
}

export function isLazyVolume(volume: string): boolean {
  return volume.startsWith(LAZY_PREFIX);
}
