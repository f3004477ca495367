/**
 * Containers, as kiln uses them: made from an image by ID with typed mounts and labels, started, looked
 * up by name (reuse), stopped as a last resort, removed with their anonymous volumes, and listed by label
 * (sweep, prune).
 */
import type { Readable } from 'node:stream';
import type { ChunkListener } from './exec.js';

/** A typed mount of a container (Docker's `HostConfig.Mounts` entry); never the `-v` string form. */
export interface DockerMount {
  readonly Type: 'bind' | 'volume' | 'tmpfs';
  readonly Target: string;
  /** Host path (bind) or volume name (volume). */
  readonly Source?: string;
  readonly ReadOnly?: boolean;
  readonly BindOptions?: { readonly Propagation?: string };
  readonly VolumeOptions?: { readonly NoCopy?: boolean; readonly Labels?: Record<string, string> };
  readonly TmpfsOptions?: { readonly SizeBytes?: number; readonly Mode?: number };
}

export interface ContainerSpec {
  /** The image, best by ID, so that the container runs what was resolved. */
  readonly image: string;
  /** A fixed name (reuse mode). Default: the engine picks one. */
  readonly name?: string;
  /** Absent: the image's. `['']` clears it. */
  readonly entrypoint?: readonly string[];
  /** Absent: the image's. */
  readonly cmd?: readonly string[];
  /** `NAME=value` pairs baked into the container (services only: a job's env is given per exec). */
  readonly env?: Readonly<Record<string, string>>;
  /** The user its processes run as. Default: the image's. */
  readonly user?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Parents first. */
  readonly mounts: readonly DockerMount[];
  /** tmpfs mounts, target -> options (`rw,exec,size=...`): unlike `mounts`, these can be `exec`. */
  readonly tmpfs?: Readonly<Record<string, string>>;
  /** The network to join. Default: the engine's default network. */
  readonly network?: string;
  /** More names the container answers to on `network` (user-defined networks only). Default none. */
  readonly networkAliases?: readonly string[];
  /** No network at all. Default false. */
  readonly networkDisabled?: boolean;
  /** Seconds the engine waits after TERM before KILL when the container is stopped. Default the engine's. */
  readonly stopTimeoutS?: number;
  /** The container as named in messages. Default `a container`. */
  readonly description?: string;
}

/** A container as the engine describes it now. */
export interface ContainerState {
  readonly id: string;
  readonly name: string;
  /** The ID of the image it runs. */
  readonly imageId: string;
  /** The image as it was named when the container was made. */
  readonly imageReference: string;
  readonly running: boolean;
  readonly labels: Readonly<Record<string, string>>;
  /** Its exit code, once it has run and stopped. */
  readonly exitCode?: number;
}

/** A container as a listing shows it. */
export interface ContainerSummary {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ContainerRuntime {
  /** Creates the container (not started); returns its ID. */
  create(spec: ContainerSpec): Promise<string>;
  /** Starts it; `description` names it in messages. */
  start(id: string, description?: string): Promise<void>;
  /** The container of that ID or name, or undefined when there is none. */
  inspect(idOrName: string): Promise<ContainerState | undefined>;
  /** Stops it: TERM, then KILL after `timeoutS`. */
  stop(id: string, timeoutS: number): Promise<void>;
  /**
   * Removes it, running or not, with its anonymous volumes. `missing` when it was gone already or another
   * client is removing it at this moment.
   */
  remove(id: string, description?: string): Promise<'removed' | 'missing'>;
  /** Every container, running or not, that has all these labels (`key=value`). */
  list(labels: readonly string[]): Promise<ContainerSummary[]>;
  /**
   * Follows its output (stdout and stderr apart) from its start, handing each chunk to `listener`, until
   * it stops or `signal` aborts; resolves then.
   */
  follow(id: string, listener: ChunkListener, signal: AbortSignal): Promise<void>;
  /** A tar archive of a path in the container, as a stream. */
  archive(id: string, path: string): Promise<Readable>;
  /** Extracts a tar stream into a folder of the container (which need not be running). */
  putArchive(id: string, path: string, tar: Readable): Promise<void>;
}
