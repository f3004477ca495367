/**
 * What running a job does with one mount kind: how errors name it, how it is planned (checked and worked
 * out, nothing acquired), acquired (volumes, locks, values), given to the engine, and what of it goes
 * into the job's key or keeps the job cache from taking the job. One module per kind implements it;
 * `index.ts` lists them, and planning, acquiring and keying look a kind up there.
 */
import type { Emit, MountPrepareEvent } from '../../events.js';
import type {
  CompiledContainerMount,
  CompiledJob,
  CompiledStep,
  CompiledStepMount,
  BuildGraph,
} from '../../graph/types.js';
import type { ReleaseStack } from '../../release.js';
import type { BindInput, ConsumedOutputInput, MountInput, TreeDigestResult } from '../../results/index.js';
import type { VolumeRuntime } from '../../runtime/volumes.js';
import type { DockerSockets, MountInfoEntry } from '../bind-sources.js';
import type { RunSecrets } from '../run-secrets.js';
import type { Engine } from '../../runtime/engine.js';
import type { Shipped } from '../../runtime/source-volumes.js';
import type {
  ContainerFile,
  DockerMount,
  OutputRef,
  PlannedStepMounts,
  PreparedStepMounts,
  SshRelay,
} from '../types.js';

/** What every kind has. */
interface KindBase<M extends { readonly type: string; readonly target: string }> {
  readonly type: M['type'];
  /** How errors name the mount: `bind ./src -> /src`, `cache ccache -> /root/.ccache`. */
  readonly describe: (mount: M, projectDir: string) => string;
  /** How `mount.prepare` names the kind (an output is mounted as a bind). */
  readonly event: MountPrepareEvent['mount'];
}

/** What planning a container mount can read. */
export interface ContainerPlanContext {
  readonly job: CompiledJob;
  readonly graph: BuildGraph;
  readonly env: NodeJS.ProcessEnv;
  /** The Docker sockets a bind may not expose without `allow-docker-socket`. */
  readonly dockerSocketPaths: readonly string[];
  readonly mountInfo?: Promise<readonly MountInfoEntry[]>;
  /** Those sockets as found once for the run. Default: found for each bind. */
  readonly sockets?: DockerSockets;
  /** Where the outputs of the jobs this job needs are. */
  readonly outputOf?: (job: string, path: string) => OutputRef | undefined;
  /** The engine does not see this host's files (Engine.remote). Default false. */
  readonly remote?: boolean;
}

/**
 * What shipping bind sources to a remote engine needs (see runtime/source-volumes.ts and
 * ship-binds.ts): the engine, an image on it for the containers that fill and read volumes, and the
 * sources' digests.
 */
export interface RemoteBinds {
  readonly engine: Engine;
  /** The job's image, by ID. */
  readonly image: string;
  /**
   * The digest and listing of a bind source as the job cache computes it (`exclude`, `.kilnignore`, the
   * state folder left out); `fresh` walks it again rather than take the run's earlier walk.
   */
  readonly digest: (
    realPath: string,
    exclude: readonly string[],
    fresh: boolean,
  ) => Promise<TreeDigestResult>;
  /**
   * The run's source volumes by digest, so that jobs of one run that mount the same content at once
   * upload it once (the others are told 0 bytes).
   */
  readonly shipped: Map<string, Promise<Shipped>>;
}

export interface AcquireMountsContext {
  /** Where cache volumes are made. */
  readonly volumes: VolumeRuntime;
  /** Gives the project folder and the project name. */
  readonly graph: BuildGraph;
  readonly runId: string;
  /** Receives `mount.prepare` per mount (and per step for secret and ssh), `mount.wait` while a lock is held. */
  readonly emit: Emit;
  /** Every release (cache locks, registrations) is pushed here. */
  readonly stack: ReleaseStack;
  /** Waiting for a cache lock stops with a CancelledError when this is aborted. */
  readonly signal: AbortSignal;
  /** For the state folder (`KILN_STATE_DIR`...). Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** The run's secrets, which planMounts read: their values. */
  readonly secrets: RunSecrets;
  /** Set when the engine is remote: binds are shipped to it instead of bound. */
  readonly remoteBinds?: RemoteBinds;
}

/**
 * How the engine gets an acquired container mount: in `HostConfig.Mounts` (and `source` for the
 * `mount.prepare` event), or as a `HostConfig.Tmpfs` option string.
 */
export type EngineMount =
  | {
      readonly mount: DockerMount;
      readonly source?: string;
      /** Bytes sent to a remote engine for it (0: its content was there already). */
      readonly uploadedBytes?: number;
    }
  | { readonly tmpfs: string }
  | { readonly file: ContainerFile; readonly source: string; readonly uploadedBytes: number };

/** What a container mount adds to the job's key inputs. */
export type KeyContribution =
  | { readonly mount: MountInput }
  | { readonly bind: Promise<{ readonly input: BindInput; readonly listing: TreeDigestResult }> }
  | { readonly consumed: ConsumedOutputInput };

export interface KeyContext {
  readonly projectDir: string;
  /** The content digest and listing of a bind source (its real path), with the mount's exclude patterns. */
  readonly digest: (realPath: string, exclude: readonly string[]) => Promise<TreeDigestResult>;
}

/** A kind of the job's container: bind, cache, tmpfs, output. `P` is its planned mount. */
export interface ContainerMountKind<
  M extends CompiledContainerMount,
  P extends { readonly kind: M['type']; readonly mount: M },
> extends KindBase<M> {
  readonly life: 'container';
  /** Checks the mount and works out what it will be, acquiring nothing; throws a MountError when refused. */
  readonly plan: (mount: M, ctx: ContainerPlanContext) => P | Promise<P>;
  /**
   * Acquires what the job's mounts of this kind need, all together (each release pushed on ctx.stack),
   * and says how the engine gets each of them.
   */
  readonly acquire: (
    planned: readonly P[],
    job: CompiledJob,
    ctx: AcquireMountsContext,
  ) => Promise<(planned: P) => EngineMount>;
  readonly key: (planned: P, ctx: KeyContext) => KeyContribution;
  /** Why this mount keeps the job cache from taking the job by default, or undefined. */
  readonly uncached?: (mount: M, projectDir: string) => string | undefined;
}

/** What planning a step's mounts can read. */
export interface StepPlanContext {
  readonly job: CompiledJob;
  readonly graph: BuildGraph;
  readonly env: NodeJS.ProcessEnv;
  /** The project folder through symlinks. */
  readonly projectRealPath: string;
  /** The engine does not see this host's files: ssh agents are relayed, not bound. Default false. */
  readonly remote?: boolean;
  readonly secrets: RunSecrets;
  /** A MountError naming the job, the mount and the step. */
  readonly fail: (step: CompiledStep, mount: CompiledStepMount, message: string, cause?: unknown) => Error;
}

/** A planned step mount: where it goes, and the id `mount.prepare` names (never a value). */
export interface PlannedStepEntry {
  readonly id: string;
  readonly target: string;
}

/** Plans one job's mounts of a kind, step by step, with what the steps share (an agent bound once). */
export interface StepKindPlanner<M extends CompiledStepMount, E extends PlannedStepEntry> {
  /** The planned mount; undefined when it is absent and not required. */
  readonly plan: (step: CompiledStep, mount: M) => Promise<E | undefined>;
  /** Binds the container needs for them, after its own mounts. */
  readonly binds?: () => readonly DockerMount[];
  /** On a remote engine: the agents to relay into the container instead of binds. */
  readonly relays?: () => readonly SshRelay[];
}

/** A kind that exists only while its step runs: secret, ssh. */
export interface StepMountKind<
  M extends CompiledStepMount,
  L extends keyof PlannedStepMounts & keyof PreparedStepMounts,
> extends KindBase<M> {
  readonly life: 'step';
  /** The list of a step's planned (and prepared) mounts this kind's go into. */
  readonly list: L;
  readonly planner: (ctx: StepPlanContext) => StepKindPlanner<M, PlannedStepMounts[L][number]>;
  /** A planned mount made ready for its step, when acquired (a secret's value read). */
  readonly prepare: (
    planned: PlannedStepMounts[L][number],
    ctx: AcquireMountsContext,
  ) => Promise<PreparedStepMounts[L][number]>;
  /** The mount as the key sees it: ids and targets, never a value. */
  readonly key: (mount: M) => MountInput;
  /** Why this mount keeps the job cache from taking the job by default, or undefined. */
  readonly uncached?: (mount: M) => string | undefined;
}

/** `description (step name)`, as errors name a mount of a step. */
export function inStep(description: string, step?: string): string {
  return step === undefined ? description : `${description} (step ${step})`;
}
