/**
 * The job cache's decision for one planned job, shared by `kiln run` (the caching executor) and
 * `kiln plan`: is the job cached at all (its policy), what is its key, and does the key have a sound
 * result whose volumes are all on the engine. A miss says why, comparing the key's inputs with the last
 * ones the job had on this machine.
 */
import { hostname } from 'node:os';
import type { Emit } from '../events.js';
import type { BuildGraph } from '../graph/types.js';
import type { LockOwner } from '../lock-files.js';
import {
  computeKey,
  missReasons,
  type KeyInputs,
  type LastInputs,
  type RemoteEntry,
  type ResultPin,
  type ResultStore,
  type SameKeyCause,
  type StoredResult,
  type TreeListing,
} from '../results/index.js';
import type { Engine } from '../runtime/engine.js';
import { listOutputVolumes } from '../runtime/output-volumes.js';
import type { RemoteResults } from './remote-results.js';
import { cachePolicy, jobKeyInputs, SourceDigests } from './job-key.js';
import type { JobPlan } from './plan-job.js';

/** A job's key and what it was computed from. */
export interface KeyedJob {
  readonly key: string;
  readonly inputs: KeyInputs;
  /** The listings of its bind sources. */
  readonly listings: readonly TreeListing[];
}

export type CacheDecision =
  /** Not looked up: the policy says so (`keyed` absent), or `--no-cache` (keyed: the result is recorded). */
  | { readonly result: 'disabled'; readonly reasons: readonly string[]; readonly keyed?: KeyedJob }
  /** `pin`: set when the lookup pinned the result (release it once nothing mounts it any more). */
  | {
      readonly result: 'hit';
      readonly source: 'local';
      readonly reasons: readonly string[];
      readonly keyed: KeyedJob;
      readonly stored: StoredResult;
      readonly pin?: ResultPin;
      /** The result was downloaded from the shared cache just now (the event says `source: 'remote'`). */
      readonly downloaded?: boolean;
    }
  /** In the shared cache only: `entry` is still to be downloaded (a run) or only looked at (a plan). */
  | {
      readonly result: 'hit';
      readonly source: 'remote';
      readonly reasons: readonly string[];
      readonly keyed: KeyedJob;
      readonly entry: RemoteEntry;
      /** Why the local store missed, should the download fail. */
      readonly localCause?: SameKeyCause;
    }
  | { readonly result: 'miss'; readonly reasons: readonly string[]; readonly keyed: KeyedJob };

export interface JobCacheOptions {
  readonly engine: Engine;
  readonly store: ResultStore;
  readonly graph: BuildGraph;
  /** The run (or plan) the decisions are for: the owner of pins. */
  readonly runId: string;
  /** Look nothing up: every cached job is `disabled` with its key (`kiln run --no-cache`). Default false. */
  readonly noCache?: boolean;
  /** `--reuse`: no job is cached. Default false. */
  readonly reuse?: boolean;
  /** Pin each hit (a run) or only look (a plan). Default true. */
  readonly pin?: boolean;
  /** Warnings (a damaged result file, a lost volume). */
  readonly emit: Emit;
  /** The shared cache, looked up after a local miss. Default none. */
  readonly remote?: RemoteResults;
}

/** The decisions of one run or plan: bind sources and the engine's output volumes are read once. */
export class JobCache {
  readonly #options: JobCacheOptions;
  readonly #sources: SourceDigests;
  #volumes: Promise<Set<string>> | undefined;

  constructor(options: JobCacheOptions) {
    this.#options = options;
    this.#sources = new SourceDigests(options.store.dir, options.graph.projectDir);
  }

  /** This machine's name, asked once (the owner of every pin and lock of the run). */
  readonly #host = hostname();

  owner(job: string): LockOwner {
    return { pid: process.pid, host: this.#host, runId: this.#options.runId, job };
  }

  /** Tells the cache that these volumes hold a result sealed now (a later hit need not ask the engine). */
  async sealed(volumes: Iterable<string>): Promise<void> {
    if (this.#volumes === undefined) return;
    const present = await this.#volumes;
    for (const volume of volumes) present.add(volume);
  }

  /** Whether every volume of a result is on the engine (as far as this run knows). */
  async hasVolumes(result: StoredResult): Promise<boolean> {
    const present = await this.#present();
    return result.outputs.every((o) => present.has(o.volume));
  }

  #present(): Promise<Set<string>> {
    this.#volumes ??= listOutputVolumes(this.#options.engine).then((all) => new Set(all.map((v) => v.name)));
    return this.#volumes;
  }

  /** `emit`: where the job's warnings go. Default the options' emit. */
  async decide(plan: JobPlan, signal?: AbortSignal, emit: Emit = this.#options.emit): Promise<CacheDecision> {
    const { job } = plan;
    const { graph, store } = this.#options;
    const policy = cachePolicy(job, graph.projectDir, this.#options.reuse ?? false);
    if (!policy.cached) return { result: 'disabled', reasons: policy.reasons };
    const { inputs, listings } = await jobKeyInputs(plan, graph.projectDir, this.#sources, signal);
    const keyed: KeyedJob = { key: computeKey(inputs), inputs, listings };
    if (this.#options.noCache) return { result: 'disabled', reasons: ['kiln run --no-cache'], keyed };
    const found = await this.#lookup(keyed.key, job.name, signal, emit);
    if (found.kind === 'hit') {
      return {
        result: 'hit',
        source: 'local',
        reasons: [],
        keyed,
        stored: found.result,
        ...(found.pin ? { pin: found.pin } : {}),
      };
    }
    const entry = await this.#options.remote?.lookup(keyed.key, job.name, signal);
    if (entry !== undefined) {
      return {
        result: 'hit',
        source: 'remote',
        reasons: [],
        keyed,
        entry,
        ...(found.cause ? { localCause: found.cause } : {}),
      };
    }
    const reasons = await this.missReasons(job.name, keyed, found.cause, emit);
    return { result: 'miss', reasons, keyed };
  }

  /** The key's result when it is sound and its volumes are all there (pinned when the options say so). */
  async #lookup(
    key: string,
    job: string,
    signal: AbortSignal | undefined,
    emit: Emit,
  ): Promise<
    { kind: 'hit'; result: StoredResult; pin?: ResultPin } | { kind: 'miss'; cause?: SameKeyCause }
  > {
    const { store } = this.#options;
    const pinning = this.#options.pin ?? true;
    const found = pinning ? await store.acquire(key, this.owner(job), signal) : await store.lookup(key);
    if (found.kind === 'miss') {
      if (found.warning) emit({ type: 'warning', job, message: found.warning });
      return found.damaged ? { kind: 'miss', cause: 'damaged' } : { kind: 'miss' };
    }
    const pin: ResultPin | undefined = 'pin' in found ? (found.pin as ResultPin) : undefined;
    const present = await this.#present();
    const gone = found.result.outputs.filter((o) => !present.has(o.volume));
    if (gone.length > 0) {
      await pin?.release();
      // The result can never serve again: it goes, so that this job's run seals the key afresh (a plan
      // only looks). Another run pinning it keeps it; then this run's seal loses and uses its own.
      if (pinning) await store.remove(key, this.owner(job), signal).catch(() => {});
      emit({
        type: 'warning',
        job,
        message: `the result ${key.slice(0, 19)}… lost ${gone.map((o) => `the volume of output ${o.path}`).join(', ')} (removed outside kiln): the job runs again`,
      });
      return { kind: 'miss', cause: 'volume-gone' };
    }
    return { kind: 'hit', result: found.result, ...(pin ? { pin } : {}) };
  }

  /** Why a job with this key missed, against the last inputs it had on this machine. */
  async missReasons(
    job: string,
    keyed: KeyedJob,
    cause: SameKeyCause | undefined,
    emit: Emit = this.#options.emit,
  ): Promise<string[]> {
    const { store, graph } = this.#options;
    const last: { last?: LastInputs; warning?: string } = await store
      .readLast(graph.project, job)
      .catch((error: unknown) => ({
        warning: `the last inputs of job ${job} cannot be read: ${String(error)}`,
      }));
    if (last.warning) emit({ type: 'warning', job, message: last.warning });
    const listings = new Map<string, TreeListing>(keyed.listings.map((l) => [l.digest, l]));
    for (const bind of last.last?.inputs.binds ?? []) {
      if (listings.has(bind.digest)) continue;
      const listing = await store.readListing(bind.digest);
      if (listing) listings.set(bind.digest, listing);
    }
    return missReasons(last.last?.inputs, keyed.inputs, {
      listings,
      ...(cause ? { sameKeyCause: cause } : {}),
    });
  }
}
