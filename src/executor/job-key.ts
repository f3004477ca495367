/**
 * A job's key, from its plan: whether the job cache takes the job at all (its policy), the content of its
 * bind sources (digested through a stat index per source, once per run however many jobs mount it), and
 * its key inputs (results/key-inputs.ts) as plain data.
 */
import { realpath } from 'node:fs/promises';
import { dirname, relative, sep } from 'node:path';
import { isInside } from '../host-paths.js';
import type { CompiledJob, CompiledStepMount } from '../graph/types.js';
import { displayPath } from '../mounts/bind-sources.js';
import { describeMount } from '../mounts/describe-mount.js';
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
 * socket, or reuses its container (its state outlives runs). `cache: true` caches it all the same;
 * `cache: false` never. `reuseAll` is `kiln run --reuse`.
 */
export function cachePolicy(job: CompiledJob, projectDir: string, reuseAll = false): CachePolicy {
  if (job.cache === false) return { cached: false, reasons: ['the job says cache: false'] };
  if (job.cache === true) return { cached: true, reasons: [] };
  const reasons: string[] = [];
  const stepMounts = new Map<string, CompiledStepMount>();
  for (const step of job.steps) for (const m of step.mounts) stepMounts.set(`${m.type} ${m.id}`, m);
  for (const m of stepMounts.values()) {
    reasons.push(
      m.type === 'secret'
        ? `it mounts secret ${m.id}, whose value is not in the key (cache: true caches it anyway)`
        : `it uses ssh agent ${m.id}, which is not in the key (cache: true caches it anyway)`,
    );
  }
  for (const m of job.mounts) {
    if (m.type !== 'bind') continue;
    if (m.allowDockerSocket) reasons.push(`${describeMount(m, projectDir)} may reach the Docker socket`);
    else if (!m.readonly)
      reasons.push(
        `${describeMount(m, projectDir)} is read-write: the job can change its own inputs (readonly: true caches it)`,
      );
  }
  if (job.reuse !== false) reasons.push('it reuses its container across runs (reuse)');
  else if (reuseAll && job.outputs.length === 0)
    reasons.push('kiln run --reuse keeps every container across runs');
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
  for (const planned of plan.mounts.container) {
    const { mount } = planned;
    switch (planned.kind) {
      case 'bind': {
        const exclude = planned.mount.exclude;
        binds.push(
          sources.of(planned.realPath, exclude, signal).then((listing) => ({
            listing,
            input: {
              target: mount.target,
              source: displayPath(planned.mount.source, projectDir),
              readonly: planned.mount.readonly,
              digest: listing.digest,
              ...(exclude.length > 0 ? { exclude } : {}),
            },
          })),
        );
        break;
      }
      case 'cache':
        mounts.push({
          type: 'cache',
          target: mount.target,
          id: planned.mount.id,
          sharing: planned.mount.sharing,
          readonly: planned.mount.readonly,
        });
        break;
      case 'tmpfs':
        mounts.push({
          type: 'tmpfs',
          target: mount.target,
          mode: planned.mount.mode,
          ...(planned.mount.sizeBytes !== undefined ? { size: planned.mount.sizeBytes } : {}),
        });
        break;
      case 'output':
        consumed.push({
          job: planned.mount.job,
          path: planned.mount.path,
          target: mount.target,
          digest: planned.digest,
        });
        break;
    }
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
      mounts: step.mounts.map(stepMountInput),
    })),
    mounts,
    binds: digested.map((d) => d.input),
    consumed,
    outputs: job.outputs.map((o) => o.path),
  };
  return { inputs, listings: digested.map((d) => d.listing) };
}

/** A secret or ssh mount as the key sees it: its id and where it goes, never a value. */
function stepMountInput(mount: CompiledStepMount): MountInput {
  if (mount.type === 'ssh') return { type: 'ssh', target: mount.target, id: mount.id };
  return {
    type: 'secret',
    target: mount.target,
    id: mount.id,
    mode: mount.mode,
    uid: mount.uid,
    gid: mount.gid,
    ...(mount.env !== undefined ? { env: mount.env } : {}),
  };
}
