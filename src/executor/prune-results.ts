/**
 * Pruning the job cache: results unused for a while, then the least recently used while the rest weigh
 * more than a size (as `docker buildx prune --keep-storage`), each with its output volumes; never a
 * result that a running job pins. Output volumes that no result names and whose kiln is gone (a run
 * killed before it sealed) go too.
 */
import { hostname } from 'node:os';
import { choosePrunable, type ResultStore, type StoredResult } from '../results/index.js';
import type { Engine } from '../runtime/engine.js';
import { Label } from '../labels.js';
import {
  listOutputVolumes,
  removeOutputVolume,
  sweepUnsealedOutputVolumes,
} from '../runtime/output-volumes.js';

/** Results unused this long are pruned by default: two weeks. */
export const DEFAULT_RESULTS_UNUSED_MS = 14 * 24 * 60 * 60 * 1000;

export interface PruneResultsOptions {
  /** Every result that no running job pins. Default false. */
  readonly all?: boolean;
  /** Keep the results' total size at most this many bytes. Default: no limit. */
  readonly keepBytes?: number;
  /** Remove results unused for longer than this. Default {@link DEFAULT_RESULTS_UNUSED_MS}. */
  readonly unusedForMs?: number;
  /** Only say what would be removed. */
  readonly dryRun?: boolean;
  /**
   * Only the results (and dead runs' output volumes) of this project (`kiln prune --project`); `all` and
   * `keepBytes` then apply to its results alone. Default: every project's.
   */
  readonly project?: string;
}

export interface PrunedResults {
  /** Results removed (or, in a dry run, that would be). */
  readonly removed: readonly StoredResult[];
  /** Results chosen but kept, with why (pinned by a running job). */
  readonly kept: ReadonlyArray<{ readonly result: StoredResult; readonly reason: string }>;
  /** Results that stay, with their total size. */
  readonly remaining: { readonly count: number; readonly bytes: number };
  /** Output volumes of dead runs that no result names, removed. */
  readonly orphanVolumes: readonly string[];
  readonly warnings: readonly string[];
}

export async function pruneResults(
  engine: Engine,
  store: ResultStore,
  options: PruneResultsOptions = {},
): Promise<PrunedResults> {
  const everyProject = await store.list();
  const warnings = [...everyProject.warnings];
  const { project } = options;
  const listed =
    project === undefined
      ? everyProject
      : { ...everyProject, results: everyProject.results.filter((r) => r.project === project) };
  const chosen = options.all
    ? [...listed.results]
    : choosePrunable(listed.results, {
        unusedForMs: options.unusedForMs ?? DEFAULT_RESULTS_UNUSED_MS,
        ...(options.keepBytes !== undefined ? { keepBytes: options.keepBytes } : {}),
      });
  const removed: StoredResult[] = [];
  const kept: Array<{ result: StoredResult; reason: string }> = [];
  const owner = { pid: process.pid, host: hostname(), runId: `prune-${process.pid}`, job: 'prune' };
  for (const result of chosen) {
    if (options.dryRun) {
      const pinnedBy = await store.pinnedBy(result.key);
      if (pinnedBy.length > 0) kept.push({ result, reason: `in use by ${pinnedBy.join(', ')}` });
      else removed.push(result);
      continue;
    }
    const outcome = await store.remove(result.key, owner);
    if (typeof outcome === 'object') {
      kept.push({ result, reason: `in use by ${outcome.pinnedBy.join(', ')}` });
      continue;
    }
    removed.push(result);
    for (const output of result.outputs) {
      if (!(await removeOutputVolume(engine, output.volume))) {
        warnings.push(`volume ${output.volume} of a pruned result is in use; remove it once it is not`);
      }
    }
  }
  const gone = new Set(removed.map((r) => r.key));
  const left = listed.results.filter((r) => !gone.has(r.key));
  const named = new Set(
    everyProject.results.filter((r) => !gone.has(r.key)).flatMap((r) => r.outputs.map((o) => o.volume)),
  );
  // Another project's volumes count as named: they are not this prune's to remove.
  const others =
    project === undefined
      ? new Set<string>()
      : new Set(
          (await listOutputVolumes(engine))
            .filter((v) => v.labels[Label.project] !== project)
            .map((v) => v.name),
        );
  const orphanVolumes = options.dryRun
    ? []
    : await sweepUnsealedOutputVolumes(engine, store.id, (v) => named.has(v) || others.has(v));
  if (!options.dryRun) await store.removeUnreferencedListings().catch(() => 0);
  return {
    removed,
    kept,
    remaining: { count: left.length, bytes: left.reduce((sum, r) => sum + r.size, 0) },
    orphanVolumes,
    warnings,
  };
}
