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
import { cancelledError, InfrastructureError } from '../errors.js';
import type { CompiledJob } from '../graph/types.js';
import { ReleaseStack } from '../release.js';
import type {
  KeyInputs,
  RemoteSettings,
  ResultOutput,
  ResultStore,
  StoredResult,
  TarListing,
} from '../results/index.js';
import { Label } from '../labels.js';
import type { Engine } from '../runtime/engine.js';
import {
  createOutputVolume,
  digestContainerPath,
  outputMount,
  removeOutputVolume,
} from '../runtime/output-volumes.js';
import type { JobContext, JobExecutor, JobOutcome, JobOutputRef, PreparedJob } from '../scheduler/types.js';
import { outcomeOfError, type DockerJobExecutor } from './docker-job-executor.js';
import { exportHitOutputs, exportOutputs, exportsAny } from './export-outputs.js';
import { isLazyVolume, outputRefsOf, remoteOutcome } from './hit-outcomes.js';
import { JobCache, type CacheDecision, type KeyedJob } from './job-cache.js';
import { RemoteResults, type Packed } from './remote-results.js';
import type { JobPlan } from './plan-job.js';

export interface CachingJobExecutorOptions {
  /** Where results are kept. */
  readonly store: ResultStore;
  /** Run every job and record the new results (`kiln run --no-cache`). Default false. */
  readonly noCache?: boolean;
  /** `kiln run --reuse`: every container is reused, so no job is cached. Default false. */
  readonly reuse?: boolean;
  /** The shared cache: looked up after a local miss, and sent what the run seals. Default none. */
  readonly remote?: RemoteSettings;
}

/** A job's plan and cache decision, made before it takes a slot ({@link CachingJobExecutor.prepare}). */
type Decided = { readonly plan: JobPlan; readonly decision: CacheDecision } | { readonly error: unknown };

/** What one run shares across its jobs; released when the run ends. */
interface RunScope {
  readonly runId: string;
  readonly cache: JobCache;
  /** The shared cache, when the run has one. */
  readonly remote?: RemoteResults;
  /** Each job's key in this run, for dropping a result whose volume vanished. */
  readonly keys: Map<string, string>;
  /** Hits in the shared cache not downloaded yet, by job; `download` once one is asked for. */
  readonly lazy: Map<
    string,
    {
      readonly plan: JobPlan;
      readonly decision: Extract<CacheDecision, { source: 'remote' }>;
      download?: Promise<StoredResult | undefined>;
    }
  >;
  /** Each prepared job's plan and decision, until it is executed. */
  readonly decided: Map<string, Decided>;
  /** Pins of the results the run uses, and the volumes of outputs that are not kept. */
  readonly stack: ReleaseStack;
}

export class CachingJobExecutor implements JobExecutor {
  readonly #inner: DockerJobExecutor;
  readonly #engine: Engine;
  readonly #store: ResultStore;
  readonly #noCache: boolean;
  readonly #reuse: boolean;
  readonly #remote: RemoteSettings | undefined;
  #scope: RunScope | undefined;

  constructor(inner: DockerJobExecutor, engine: Engine, options: CachingJobExecutorOptions) {
    this.#inner = inner;
    this.#engine = engine;
    this.#store = options.store;
    this.#noCache = options.noCache ?? false;
    this.#reuse = options.reuse ?? false;
    this.#remote = options.remote;
  }

  /**
   * Plans the job and decides its cache key and lookup before it takes a slot: a local hit needs none
   * (it runs nothing), unless it exports an output (a container copies it out). A hit's pin is held
   * from here until the run ends.
   */
  async prepare(job: CompiledJob, context: JobContext): Promise<PreparedJob> {
    const decided = await this.#decide(job, context);
    this.#scopeOf(context).decided.set(job.name, decided);
    const hit =
      'decision' in decided && decided.decision.result === 'hit' && decided.decision.source === 'local';
    return { slot: !hit || exportsAny(job) };
  }

  async #decide(job: CompiledJob, context: JobContext): Promise<Decided> {
    const scope = this.#scopeOf(context);
    try {
      if (context.signal.aborted) throw cancelledError(context.signal);
      const plan = await this.#inner.planJob(job, context);
      const decision = await scope.cache.decide(plan, context.signal, context.emit);
      if (decision.result === 'hit' && decision.source === 'local') holdPin(scope, decision);
      return { plan, decision };
    } catch (error) {
      return { error };
    }
  }

  async execute(job: CompiledJob, context: JobContext): Promise<JobOutcome> {
    const scope = this.#scopeOf(context);
    const decided = scope.decided.get(job.name) ?? (await this.#decide(job, context));
    scope.decided.delete(job.name);
    if ('error' in decided) return outcomeOfError(job, context, decided.error);
    let { plan, decision } = decided;
    if (decision.result === 'hit' && decision.source === 'remote') {
      // Downloaded now only when exported; otherwise when (and if) a job that runs mounts an output.
      if (exportsAny(job)) decision = await this.#download(plan, context, decision);
      else return this.#lazyHit(plan, context, decision);
    }
    if (decision.result !== 'hit') {
      try {
        plan = await this.#materialize(plan, context);
      } catch (error) {
        return outcomeOfError(job, context, error);
      }
    }
    const { result, reasons, keyed } = decision;
    if (keyed) scope.keys.set(job.name, keyed.key);
    context.emit({
      type: 'job.cache',
      job: job.name,
      ...(keyed ? { key: keyed.key } : {}),
      result,
      reasons,
      ...(decision.result === 'hit'
        ? {
            source:
              decision.source === 'remote' || decision.downloaded ? ('remote' as const) : ('local' as const),
          }
        : {}),
    });
    if (decision.result === 'hit' && decision.source === 'local') {
      return this.#hit(plan, context, decision.stored, decision.keyed.inputs);
    }
    return this.#run(plan, context, keyed);
  }

  /**
   * A hit in the shared cache that is not downloaded yet: the jobs after it are keyed by its outputs'
   * digests, which its entry holds, and only a job that runs and mounts one of them makes it download
   * ({@link #materialize}). A run where everything after it hits too downloads nothing of it.
   */
  async #lazyHit(
    plan: JobPlan,
    context: JobContext,
    decision: Extract<CacheDecision, { source: 'remote' }>,
  ): Promise<JobOutcome> {
    const scope = this.#scopeOf(context);
    const { job } = plan;
    scope.keys.set(job.name, decision.keyed.key);
    scope.lazy.set(job.name, { plan, decision });
    context.emit({
      type: 'job.cache',
      job: job.name,
      key: decision.keyed.key,
      result: 'hit',
      reasons: [],
      source: 'remote',
    });
    await this.#store.recordLast(context.graph.project, job.name, decision.keyed.key, decision.keyed.inputs);
    return remoteOutcome(job.name, decision.entry);
  }

  /**
   * The plan with the outputs it mounts that are still in the shared cache downloaded (each result once
   * per run, however many jobs mount it). A download that cannot be used fails the job, and the key's
   * entry in the shared cache is not used again on this machine, so that the next run builds it.
   */
  async #materialize(plan: JobPlan, context: JobContext): Promise<JobPlan> {
    if (!plan.mounts.container.some((m) => m.kind === 'output' && isLazyVolume(m.volume))) return plan;
    const scope = this.#scopeOf(context);
    const container = [];
    for (const planned of plan.mounts.container) {
      if (planned.kind !== 'output' || !isLazyVolume(planned.volume)) {
        container.push(planned);
        continue;
      }
      const lazy = scope.lazy.get(planned.mount.job);
      if (lazy === undefined) {
        throw new InfrastructureError(
          `job ${plan.job.name}: the output ${planned.mount.path} of job ${planned.mount.job} is in the shared cache only, and this run has no download of it`,
        );
      }
      lazy.download ??= this.#download(lazy.plan, context, lazy.decision).then((decided) => {
        if (decided.result === 'hit' && decided.source === 'local') return decided.stored;
        scope.remote?.refuse(lazy.decision.keyed.key);
        return undefined;
      });
      const stored = await lazy.download;
      const output = stored?.outputs.find((o) => o.path === planned.mount.path);
      if (output === undefined) {
        throw new InfrastructureError(
          `job ${plan.job.name}: the output ${planned.mount.path} of job ${planned.mount.job} could not be downloaded from the shared cache (see the warning); run again, and job ${planned.mount.job} runs`,
        );
      }
      container.push({ ...planned, volume: output.volume });
    }
    return { ...plan, mounts: { ...plan.mounts, container } };
  }

  /**
   * Downloads a result of the shared cache and seals it here: a hit (its source stays `remote`), or,
   * when the download cannot be used, a miss with the reasons the local store gives. A hit's pin is
   * held until the run ends, whichever job asked for the download.
   */
  async #download(
    plan: JobPlan,
    context: JobContext,
    decision: Extract<CacheDecision, { source: 'remote' }>,
  ): Promise<CacheDecision> {
    const { cache, remote } = this.#scopeOf(context);
    const { job } = plan;
    const owner = cache.owner(job.name);
    const pin = await this.#store.pin(decision.keyed.key, owner);
    const stored = await remote!.download(
      decision.entry,
      { project: context.graph.project, job: job.name, runId: context.runId, imageId: plan.imageId, owner },
      context.signal,
    );
    if (stored === undefined) {
      await pin.release();
      const reasons = await cache.missReasons(job.name, decision.keyed, decision.localCause);
      return { result: 'miss', reasons, keyed: decision.keyed };
    }
    await cache.sealed(stored.outputs.map((o: { volume: string }) => o.volume));
    const hit = {
      result: 'hit',
      source: 'local',
      reasons: [],
      keyed: decision.keyed,
      stored,
      pin,
      downloaded: true,
    } as const;
    holdPin(this.#scopeOf(context), hit);
    return hit;
  }

  /** Waits for the run's uploads to the shared cache (before `run.end`). */
  async finish(runId: string): Promise<void> {
    if (this.#scope?.runId === runId) await this.#scope.remote?.flush();
  }

  /** Releases what the run kept: pins of the results it used, the outputs of jobs not cached. */
  async close(): Promise<void> {
    const scope = this.#scope;
    this.#scope = undefined;
    await scope?.stack.release();
  }

  #scopeOf(context: Pick<JobContext, 'runId' | 'graph' | 'emit'>): RunScope {
    if (this.#scope?.runId !== context.runId) {
      const remote = this.#remote
        ? new RemoteResults({
            engine: this.#engine,
            store: this.#store,
            settings: this.#remote,
            emit: context.emit,
          })
        : undefined;
      this.#scope = {
        runId: context.runId,
        cache: new JobCache({
          engine: this.#engine,
          store: this.#store,
          graph: context.graph,
          runId: context.runId,
          noCache: this.#noCache,
          reuse: this.#reuse,
          emit: context.emit,
          ...(remote ? { remote } : {}),
        }),
        ...(remote ? { remote } : {}),
        keys: new Map(),
        lazy: new Map(),
        decided: new Map(),
        // Released after the run's last event: failures are not told (a pin of a dead run is no pin).
        stack: new ReleaseStack(),
      };
    }
    return this.#scope;
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
      const outputs = outputRefsOf(result);
      await exportHitOutputs(this.#engine, plan, outputs, context);
      return { status: 'cached', steps: [], outputs };
    } catch (error) {
      return outcomeOfError(job, context, error);
    }
  }

  /**
   * Runs the job with a fresh volume per output. With a key, the outputs are sealed as the key's result
   * once the steps passed; without one (the cache does not take the job), they live for the run only.
   */
  #run(plan: JobPlan, context: JobContext, keyed: KeyedJob | undefined): Promise<JobOutcome> {
    const { job } = plan;
    const volumes = new Map<string, string>();
    /** Volumes that outlive the job: sealed in the store, or handed to the run. */
    const kept = new Set<string>();
    return this.#inner.run(job, context, {
      plan,
      acquireMounts: async (stack) => {
        await this.#checkConsumed(plan, context);
        if (keyed) await Promise.all(keyed.listings.map((l) => this.#store.storeListing(l).catch(() => {})));
        const mounts = [];
        for (const output of job.outputs) {
          const volume = await createOutputVolume(this.#engine, {
            project: context.graph.project,
            job: job.name,
            runId: context.runId,
            key: keyed?.key ?? 'none',
            store: this.#store.id,
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
        const outputs = await this.#digestOutputs(job, containerId, volumes, context, keyed !== undefined);
        let refs: ReadonlyMap<string, JobOutputRef> = new Map(
          outputs.map(({ path, volume, digest }) => [path, { path, volume, digest }]),
        );
        if (keyed) refs = (await this.#seal(job, keyed, outputs, context, kept)) ?? refs;
        else this.#keepForRun(volumes.values(), kept, this.#scopeOf(context));
        await exportOutputs(this.#engine, containerId, job, context);
        return refs;
      },
    });
  }

  /**
   * The digest of each output the job's steps filled, read in its container; with a shared cache to
   * send the result to, each output is packed for it from the same read (`packed`).
   */
  async #digestOutputs(
    job: CompiledJob,
    containerId: string,
    volumes: ReadonlyMap<string, string>,
    context: JobContext,
    sealing: boolean,
  ): Promise<Array<ResultOutput & { packed?: Packed }>> {
    const remote = this.#scopeOf(context).remote;
    const outputs: Array<ResultOutput & { packed?: Packed }> = [];
    for (const output of job.outputs) {
      const volume = volumes.get(output.path)!;
      let read: { listing: TarListing; packed?: Packed };
      if (sealing && remote?.uploading) {
        try {
          const archive = await this.#engine.containers.archive(containerId, output.path);
          read = await remote.digestAndPack(archive, context.signal);
        } catch (error) {
          for (const o of outputs) if (o.packed) remote.discard([o.packed]);
          throw error;
        }
      } else {
        read = { listing: await digestContainerPath(this.#engine, containerId, output.path, context.signal) };
      }
      const { listing, packed } = read;
      for (const warning of listing.warnings) {
        context.emit({ type: 'warning', job: job.name, message: `output ${output.path}: ${warning}` });
      }
      outputs.push({
        path: output.path,
        volume,
        digest: listing.digest,
        size: listing.size,
        ...(packed ? { packed } : {}),
      });
    }
    return outputs;
  }

  /**
   * Seals the outputs as the key's result and returns the outputs the key now has, or undefined when
   * the job's own outputs are to be used (for this run only).
   */
  async #seal(
    job: CompiledJob,
    keyed: KeyedJob,
    outputs: ReadonlyArray<ResultOutput & { packed?: Packed }>,
    context: JobContext,
    kept: Set<string>,
  ): Promise<ReadonlyMap<string, JobOutputRef> | undefined> {
    const { project } = context.graph;
    const scope = this.#scopeOf(context);
    const owner = scope.cache.owner(job.name);
    const volumes = outputs.map((o) => o.volume);
    // Pinned before it is sealed, so that no prune can take it between the two.
    const pin = await this.#store.pin(keyed.key, owner);
    scope.stack.push('pin', keyed.key, () => pin.release());
    const outcome = await this.#store.seal(
      {
        key: keyed.key,
        project,
        job: job.name,
        outputs,
        producedBy: context.runId,
        createdAt: new Date().toISOString(),
        inputs: keyed.inputs,
      },
      owner,
    );
    let refs: ReadonlyMap<string, JobOutputRef> | undefined;
    if (outcome.outcome === 'sealed') {
      for (const volume of volumes) kept.add(volume);
      await scope.cache.sealed(volumes);
      refs = outputRefsOf(outcome.result);
      // Sent in the background (finish() waits for it), from what #digestOutputs packed.
      const packed = outputs.flatMap((o) => (o.packed ? [{ ...o, packed: o.packed }] : []));
      if (scope.remote && packed.length === outputs.length) {
        scope.remote.upload({ key: keyed.key, job: job.name, inputs: keyed.inputs, outputs: packed });
      }
    } else if (await scope.cache.hasVolumes(outcome.winner)) {
      // Another kiln sealed the key first: its result is the key's; this run's volumes go.
      refs = outputRefsOf(outcome.winner);
    } else {
      // The winner lost a volume and another run still pins it: this run uses its own outputs.
      this.#keepForRun(volumes, kept, scope);
    }
    if (outcome.outcome !== 'sealed') {
      scope.remote?.discard(outputs.flatMap((o) => (o.packed ? [o.packed] : [])));
    }
    await this.#store.recordLast(project, job.name, keyed.key, keyed.inputs);
    return refs;
  }

  /**
   * Checks, just before the job's container is made, that the output volumes it mounts are still there:
   * the engine would otherwise make a missing one afresh, empty, and the job would read nothing. A volume
   * removed behind kiln's back fails the job, and its result is dropped so that the next run rebuilds it.
   */
  async #checkConsumed(plan: JobPlan, context: JobContext): Promise<void> {
    for (const planned of plan.mounts.container) {
      if (planned.kind !== 'output') continue;
      const info = await this.#engine.volumes.inspect(planned.volume);
      if (info !== undefined && info.labels[Label.scope] === 'result') continue;
      const key = this.#scopeOf(context).keys.get(planned.mount.job);
      if (key)
        await this.#store.remove(key, this.#scopeOf(context).cache.owner(plan.job.name)).catch(() => {});
      throw new InfrastructureError(
        `job ${plan.job.name}: the output ${planned.mount.path} of job ${planned.mount.job} (volume ${planned.volume}) was removed from the engine outside kiln; run again to rebuild it`,
      );
    }
  }

  /** Output volumes that outlive their job but not the run (the job is not cached). */
  #keepForRun(volumes: Iterable<string>, kept: Set<string>, scope: RunScope): void {
    for (const volume of volumes) {
      kept.add(volume);
      scope.stack.push('volume', volume, async () => {
        await removeOutputVolume(this.#engine, volume);
      });
    }
  }
}

/** Holds a local hit's pin, if the lookup took one, until the run ends (the run's stack). */
function holdPin(scope: RunScope, hit: Extract<CacheDecision, { source: 'local' }>): void {
  const { pin } = hit;
  if (pin) scope.stack.push('pin', hit.keyed.key, () => pin.release());
}
