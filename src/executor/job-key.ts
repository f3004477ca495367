/**
 * A job's key, from its plan: whether the job cache takes the job at all (its policy), the content of its
 * bind sources (digested through a stat index per source, once per run however many jobs mount it), and
 * its key inputs (results/key-inputs.ts) as plain data. What each mount adds to the key, or why it keeps
 * the job from the cache, its kind says (mounts/kinds/).
 */
import { realpath } from 'node:fs/promises';
import { dirname, relative, sep } from 'node:path';
import { isInside } from '../host-paths.js';
import type { CompiledJob } from '../graph/types.js';
import { containerMountKind, stepMountKind } from '../mounts/kinds/index.js';
import {
  KEY_FORMAT,
  loadExcludeRules,
  statIndexPath,
  treeDigest,
  type BindInput,
  type ConsumedOutputInput,
  type KeyInputs,
  type MountInput,
  type TreeDigestResult,
} from '../results/index.js';
import type { JobPlan } from './plan-job.js';

/** Whether the job cache looks a job up and records its result, and why not. */
export interface CachePolicy {
  readonly cached: boolean;
  /** Why the job is not cached (empty when it is). */
  readonly reasons: readonly string[];
}

/**
 * A job is cached when every input is content-addressed: not when it mounts a secret or an ssh agent
 * (their values are not in the key), a read-write bind (the job can change its own inputs), the Docker
 * socket, reuses its container (its state outlives runs), or has services (what they hold is not in the
 * key; their specs are, with `cache: true`). `cache: true` caches it all the same;
 * `cache: false` never. `reuseAll` is `kiln run --reuse`.
 */
export function cachePolicy(job: CompiledJob, projectDir: string, reuseAll = false): CachePolicy {
  if (job.cache === false) return { cached: false, reasons: ['the job says cache: false'] };
  if (job.cache === true) return { cached: true, reasons: [] };
  // Each step mount's reason once, however many steps declare it; then the container's mounts'.
  const stepReasons = new Set<string>();
  for (const step of job.steps) {
    for (const m of step.mounts) {
      const reason = stepMountKind(m.type).uncached?.(m);
      if (reason !== undefined) stepReasons.add(reason);
    }
  }
  const reasons = [...stepReasons];
  for (const m of job.mounts) {
    const reason = containerMountKind(m.type).uncached?.(m, projectDir);
    if (reason !== undefined) reasons.push(reason);
  }
  if (job.reuse !== false) reasons.push('it reuses its container across runs (reuse)');
  else if (reuseAll && job.outputs.length === 0 && !job.services?.length)
    reasons.push('kiln run --reuse keeps every container across runs');
  if (job.services?.length) {
    const names = job.services.map((s) => s.name).join(', ');
    reasons.push(`it has services (${names}), whose state is not in its key; cache: true caches it`);
  }
  return { cached: reasons.length === 0, reasons };
}

/** Content digests of bind sources, each computed once per run (sources shared by jobs are walked once). */
export class SourceDigests {
  readonly #resultsDir: string;
  readonly #projectDir: string;
  #projectRealPath: Promise<string> | undefined;
  #stateRealPath: Promise<string> | undefined;
  readonly #digests = new Map<string, Promise<TreeDigestResult>>();

  constructor(resultsDir: string, projectDir: string) {
    this.#resultsDir = resultsDir;
    this.#projectDir = projectDir;
  }

  /** The digest and listing of a bind source (its real path) with the mount's `exclude` and `.kilnignore`. */
  of(realPath: string, exclude: readonly string[], signal?: AbortSignal): Promise<TreeDigestResult> {
    const id = `${realPath}\u0000${JSON.stringify(exclude)}`;
    let found = this.#digests.get(id);
    if (found === undefined) {
      found = this.#digest(realPath, exclude, signal);
      // A failed or cancelled digest is not remembered: the next job tries again.
      found.catch(() => this.#digests.delete(id));
      this.#digests.set(id, found);
    }
    return found;
  }

  async #digest(root: string, exclude: readonly string[], signal?: AbortSignal): Promise<TreeDigestResult> {
    this.#projectRealPath ??= realpath(this.#projectDir).catch(() => this.#projectDir);
    // kiln's own state folder (results, logs) inside a bind source is never part of its content.
    this.#stateRealPath ??= realpath(dirname(this.#resultsDir)).catch(() => dirname(this.#resultsDir));
    const state = await this.#stateRealPath;
    const own =
      isInside(state, root) && state !== root ? [`/${relative(root, state).split(sep).join('/')}/`] : [];
    const rules = await loadExcludeRules({
      root,
      projectDir: await this.#projectRealPath,
      exclude: [...exclude, ...own],
    });
    return treeDigest({
      root,
      rules,
      indexPath: statIndexPath(this.#resultsDir, root),
      ...(signal ? { signal } : {}),
    });
  }
}

export interface JobKeyInputs {
  readonly inputs: KeyInputs;
  /** The listings of the job's bind sources (for the reasons of this miss and of later ones). */
  readonly listings: readonly TreeDigestResult[];
}

/** The key inputs of a planned job: its bind sources are digested now. */
export async function jobKeyInputs(
  plan: JobPlan,
  projectDir: string,
  sources: SourceDigests,
  signal?: AbortSignal,
): Promise<JobKeyInputs> {
  const { job } = plan;
  const mounts: MountInput[] = [];
  const binds: Promise<{ input: BindInput; listing: TreeDigestResult }>[] = [];
  const consumed: ConsumedOutputInput[] = [];
  const keyContext = {
    projectDir,
    digest: (realPath: string, exclude: readonly string[]) => sources.of(realPath, exclude, signal),
  };
  for (const planned of plan.mounts.container) {
    const input = containerMountKind(planned.kind).key(planned, keyContext);
    if ('mount' in input) mounts.push(input.mount);
    else if ('bind' in input) binds.push(input.bind);
    else consumed.push(input.consumed);
  }
  const digested = await Promise.all(binds);
  const inputs: KeyInputs = {
    format: KEY_FORMAT,
    image: { ref: job.image, id: plan.imageId },
    env: job.env,
    workdir: job.workdir,
    ...(job.user !== undefined ? { user: job.user } : {}),
    shell: job.shell,
    ...(job.network !== undefined ? { network: job.network } : {}),
    steps: job.steps.map((step) => ({
      name: step.name,
      argv: step.argv,
      env: step.env,
      workdir: step.workdir,
      ...(step.user !== undefined ? { user: step.user } : {}),
      allowFailure: step.allowFailure,
      ...(step.if === 'failure' ? { if: 'failure()' as const } : {}),
      mounts: step.mounts.map((m) => stepMountKind(m.type).key(m)),
    })),
    mounts,
    binds: digested.map((d) => d.input),
    consumed,
    outputs: job.outputs.map((o) => o.path),
    ...(job.services?.length ? { services: job.services } : {}),
  };
  return { inputs, listings: digested.map((d) => d.listing) };
}
