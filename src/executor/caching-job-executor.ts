/**
 * The job cache around the Docker job executor. For each job: plan it (nothing acquired), decide whether
 * the cache takes it, compute its key (image ID, steps, env, mount specs, bind sources' content, the
 * digests of the outputs it mounts), and look the key up. A hit runs nothing: the job's outputs are the
 * result's sealed volumes, exported as declared. A miss runs the job with a fresh volume per output and,
 * once every step passed, seals them: their content digests, then the result in the store. A job that
 * fails or is cancelled leaves no output behind.
 *
 * Results the run uses are pinned until the run ends ({@link CachingJobExecutor.close}), so that a
 * `kiln prune` meanwhile never takes one from under a job that mounts it. The outputs of a job the cache
 * does not take (a secret, `cache: false`) live for the run only.
 */
import { hostname } from 'node:os';
import { cancelledError } from '../errors.js';
import type { Emit } from '../events.js';
import type { CompiledJob, CompiledOutput } from '../graph/types.js';
import type { LockOwner } from '../lock-files.js';
import { ReleaseStack } from '../release.js';
import {
  computeKey,
  missReasons,
  type KeyInputs,
  type LastInputs,
  type ResultStore,
  type SameKeyCause,
  type StoredResult,
  type TreeListing,
} from '../results/index.js';
import type { Engine } from '../runtime/engine.js';
import {
  createOutputVolume,
  createReaderContainer,
  digestContainerPath,
  exportContainerPath,
  listOutputVolumes,
  outputMount,
  removeOutputVolume,
} from '../runtime/output-volumes.js';
import type { JobContext, JobExecutor, JobOutcome, JobOutputRef } from '../scheduler/types.js';
import { outcomeOfError, type DockerJobExecutor } from './docker-job-executor.js';
import { cachePolicy, jobKeyInputs, SourceDigests } from './job-key.js';
import type { JobPlan } from './plan-job.js';

export interface CachingJobExecutorOptions {
  /** Where results are kept. */
  readonly store: ResultStore;
  /** Run every job and record the new results (`kiln run --no-cache`). Default false. */
  readonly noCache?: boolean;
  /** `kiln run --reuse`: every container is reused, so no job is cached. Default false. */
  readonly reuse?: boolean;
}

/** What one run shares across its jobs; released when the run ends. */
interface RunScope {
  readonly runId: string;
  readonly sources: SourceDigests;
  /** Pins of the results the run uses, and the volumes of outputs that are not kept. */
  readonly stack: ReleaseStack;
  /** Output volumes on the engine when first asked, and those sealed since. */
  volumes?: Promise<Set<string>>;
}

export class CachingJobExecutor implements JobExecutor {
  readonly #inner: DockerJobExecutor;
  readonly #engine: Engine;
  readonly #store: ResultStore;
  readonly #noCache: boolean;
  readonly #reuse: boolean;
  #scope: RunScope | undefined;

  constructor(inner: DockerJobExecutor, engine: Engine, options: CachingJobExecutorOptions) {
    this.#inner = inner;
    this.#engine = engine;
    this.#store = options.store;
    this.#noCache = options.noCache ?? false;
    this.#reuse = options.reuse ?? false;
  }

  async execute(job: CompiledJob, context: JobContext): Promise<JobOutcome> {
    let plan: JobPlan;
    try {
      if (context.signal.aborted) throw cancelledError(context.signal);
      plan = await this.#inner.planJob(job, context);
    } catch (error) {
      return outcomeOfError(job, context, error);
    }
    const policy = cachePolicy(job, context.graph.projectDir, this.#reuse);
    if (!policy.cached) {
      emitCache(context.emit, job.name, { result: 'disabled', reasons: policy.reasons });
      return this.#run(plan, context, undefined);
    }
    const scope = this.#scopeOf(context);
    let keyed: { key: string; inputs: KeyInputs; listings: readonly TreeListing[] };
    try {
      const { inputs, listings } = await jobKeyInputs(
        plan,
        context.graph.projectDir,
        scope.sources,
        context.signal,
      );
      keyed = { key: computeKey(inputs), inputs, listings };
    } catch (error) {
      return outcomeOfError(job, context, error);
    }
    const { key, inputs } = keyed;
    if (this.#noCache) {
      emitCache(context.emit, job.name, { key, result: 'disabled', reasons: ['kiln run --no-cache'] });
      return this.#run(plan, context, keyed);
    }
    const found = await this.#lookup(key, job.name, context);
    if (found.kind === 'hit') {
      emitCache(context.emit, job.name, { key, result: 'hit', reasons: [], source: 'local' });
      return this.#hit(plan, context, found.result, inputs);
    }
    const last: { last?: LastInputs; warning?: string } = await this.#store
      .readLast(context.graph.project, job.name)
      .catch((error: unknown) => ({
        warning: `the last inputs of job ${job.name} cannot be read: ${String(error)}`,
      }));
    const listings = new Map<string, TreeListing>(keyed.listings.map((l) => [l.digest, l]));
    for (const bind of last.last?.inputs.binds ?? []) {
      if (listings.has(bind.digest)) continue;
      const listing = await this.#store.readListing(bind.digest);
      if (listing) listings.set(bind.digest, listing);
    }
    const reasons = missReasons(last.last?.inputs, inputs, {
      listings,
      sameKeyCause: found.cause,
    });
    if (last.warning) context.emit({ type: 'warning', job: job.name, message: last.warning });
    emitCache(context.emit, job.name, { key, result: 'miss', reasons });
    return this.#run(plan, context, keyed);
  }

  /** Releases what the run kept: pins of the results it used, the outputs of jobs not cached. */
  async close(): Promise<void> {
    const scope = this.#scope;
    this.#scope = undefined;
    await scope?.stack.release();
  }

  #scopeOf(context: Pick<JobContext, 'runId' | 'graph' | 'emit'>): RunScope {
    if (this.#scope?.runId !== context.runId) {
      this.#scope = {
        runId: context.runId,
        sources: new SourceDigests(this.#store.dir, context.graph.projectDir),
        // Released after the run's last event: failures are not told (a pin of a dead run is no pin).
        stack: new ReleaseStack(),
      };
    }
    return this.#scope;
  }

  #owner(job: string, context: Pick<JobContext, 'runId'>): LockOwner {
    return { pid: process.pid, host: hostname(), runId: context.runId, job };
  }

  /** The key's result, pinned for the run, when it is sound and its volumes are all there. */
  async #lookup(
    key: string,
    job: string,
    context: JobContext,
  ): Promise<{ kind: 'hit'; result: StoredResult } | { kind: 'miss'; cause?: SameKeyCause }> {
    const found = await this.#store.acquire(key, this.#owner(job, context), context.signal);
    if (found.kind === 'miss') {
      if (found.warning) context.emit({ type: 'warning', job, message: found.warning });
      return found.damaged ? { kind: 'miss', cause: 'damaged' } : { kind: 'miss' };
    }
    const scope = this.#scopeOf(context);
    scope.volumes ??= listOutputVolumes(this.#engine).then((all) => new Set(all.map((v) => v.name)));
    const present = await scope.volumes;
    const gone = found.result.outputs.filter((o) => !present.has(o.volume));
    if (gone.length > 0) {
      await found.pin.release();
      context.emit({
        type: 'warning',
        job,
        message: `the result ${key.slice(0, 19)}… lost ${gone.map((o) => `the volume of output ${o.path}`).join(', ')} (removed outside kiln): the job runs again`,
      });
      return { kind: 'miss', cause: 'volume-gone' };
    }
    const pin = found.pin;
    scope.stack.push('pin', key, () => pin.release());
    return { kind: 'hit', result: found.result };
  }

  async #hit(
    plan: JobPlan,
    context: JobContext,
    result: StoredResult,
    inputs: KeyInputs,
  ): Promise<JobOutcome> {
    const { job } = plan;
    try {
      await this.#store.touch(result.key);
      await this.#store.recordLast(context.graph.project, job.name, result.key, inputs);
      const outputs = refsOf(result);
      await this.#exportHit(plan, context, outputs);
      return { status: 'cached', steps: [], outputs };
    } catch (error) {
      return outcomeOfError(job, context, error);
    }
  }

  /** Exports a hit's outputs through a container that is never started and mounts them. */
  async #exportHit(
    plan: JobPlan,
    context: JobContext,
    outputs: ReadonlyMap<string, JobOutputRef>,
  ): Promise<void> {
    const exported = plan.job.outputs.filter((o) => o.export !== undefined);
    if (exported.length === 0) return;
    const reader = await createReaderContainer(this.#engine, {
      image: plan.imageId,
      runId: context.runId,
      project: context.graph.project,
      job: plan.job.name,
      mounts: exported.map((o) => ({ volume: outputs.get(o.path)!.volume, target: o.path })),
    });
    try {
      for (const output of exported) await this.#export(reader.id, output, plan.job.name, context);
    } finally {
      await reader.remove();
    }
  }

  async #export(
    containerId: string,
    output: CompiledOutput,
    job: string,
    context: JobContext,
  ): Promise<void> {
    const done = await exportContainerPath(this.#engine, containerId, output.path, {
      destination: output.export!,
      projectDir: context.graph.projectDir,
      allowOutsideProject: output.allowOutsideProject,
      job,
      output: output.path,
      signal: context.signal,
    });
    for (const warning of done.warnings) {
      context.emit({ type: 'warning', job, message: `export of output ${output.path}: ${warning}` });
    }
  }

  /**
   * Runs the job with a fresh volume per output. With a key, the outputs are sealed as the key's result
   * once the steps passed; without one (the cache does not take the job), they live for the run only.
   */
  #run(
    plan: JobPlan,
    context: JobContext,
    keyed: { key: string; inputs: KeyInputs; listings: readonly TreeListing[] } | undefined,
  ): Promise<JobOutcome> {
    const { job } = plan;
    const { project } = context.graph;
    const scope = this.#scopeOf(context);
    const volumes = new Map<string, string>();
    /** Volumes that outlive the job: sealed in the store, or handed to the run. */
    const kept = new Set<string>();
    return this.#inner.run(job, context, {
      plan,
      acquireMounts: async (stack) => {
        if (keyed) await Promise.all(keyed.listings.map((l) => this.#store.storeListing(l).catch(() => {})));
        const mounts = [];
        for (const output of job.outputs) {
          const volume = await createOutputVolume(this.#engine, {
            project,
            job: job.name,
            runId: context.runId,
            key: keyed?.key ?? 'none',
            path: output.path,
          });
          stack.push('volume', volume, async () => {
            if (!kept.has(volume)) await removeOutputVolume(this.#engine, volume);
          });
          volumes.set(output.path, volume);
          mounts.push(outputMount(volume, output.path, false));
        }
        return mounts;
      },
      afterSteps: async (containerId) => {
        const outputs = new Map<string, JobOutputRef>();
        const sealed = [];
        for (const output of job.outputs) {
          const volume = volumes.get(output.path)!;
          const listing = await digestContainerPath(this.#engine, containerId, output.path, context.signal);
          for (const warning of listing.warnings) {
            context.emit({ type: 'warning', job: job.name, message: `output ${output.path}: ${warning}` });
          }
          outputs.set(output.path, { path: output.path, volume, digest: listing.digest });
          sealed.push({ path: output.path, volume, digest: listing.digest, size: listing.size });
        }
        let refs: ReadonlyMap<string, JobOutputRef> = outputs;
        if (keyed) {
          const owner = this.#owner(job.name, context);
          const outcome = await this.#store.seal(
            {
              key: keyed.key,
              project,
              job: job.name,
              outputs: sealed,
              producedBy: context.runId,
              createdAt: new Date().toISOString(),
              inputs: keyed.inputs,
            },
            owner,
          );
          const result = outcome.outcome === 'sealed' ? outcome.result : outcome.winner;
          if (outcome.outcome === 'sealed') {
            for (const volume of volumes.values()) kept.add(volume);
            const present = await (scope.volumes ?? Promise.resolve(undefined));
            for (const volume of volumes.values()) present?.add(volume);
          }
          const pin = await this.#store.pin(keyed.key, owner);
          scope.stack.push('pin', keyed.key, () => pin.release());
          await this.#store.recordLast(project, job.name, keyed.key, keyed.inputs);
          refs = refsOf(result);
        } else {
          for (const volume of volumes.values()) {
            kept.add(volume);
            scope.stack.push('volume', volume, () => removeOutputVolume(this.#engine, volume).then(() => {}));
          }
        }
        for (const output of job.outputs) {
          if (output.export !== undefined) await this.#export(containerId, output, job.name, context);
        }
        return refs;
      },
    });
  }
}

/** A result's outputs as the jobs after it see them. */
function refsOf(result: StoredResult): ReadonlyMap<string, JobOutputRef> {
  return new Map(result.outputs.map((o) => [o.path, { path: o.path, volume: o.volume, digest: o.digest }]));
}

function emitCache(
  emit: Emit,
  job: string,
  event: {
    readonly key?: string;
    readonly result: 'hit' | 'miss' | 'disabled';
    readonly reasons: readonly string[];
    readonly source?: 'local';
  },
): void {
  emit({ type: 'job.cache', job, ...event });
}
