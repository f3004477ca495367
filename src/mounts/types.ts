/**
 * What the mounts of a job become: first a plan (planMounts: every check made, every host path and
 * volume name worked out, nothing acquired), then, once acquired (acquireMounts), the container's mounts
 * and, per step, the secrets and ssh agents that exist only while that step runs.
 */
import type { DockerMount } from '../runtime/containers.js';
import type { PlannedMount } from './kinds/index.js';

export type { DockerMount } from '../runtime/containers.js';

/**
 * A container mount, planned (one type per kind, declared in its module under kinds/): a bind's host
 * path, a cache's volume, a tmpfs's options, another job's output's volume and digest.
 */
export type {
  PlannedBindMount,
  PlannedCacheMount,
  PlannedMount,
  PlannedOutputMount,
  PlannedTmpfsMount,
} from './kinds/index.js';

/** Where another job's output is: its sealed volume and content digest. */
export interface OutputRef {
  readonly volume: string;
  readonly digest: string;
}

/** A secret a step gets, planned: where it goes and how, not its value. */
export interface PlannedSecret {
  readonly id: string;
  /** The mount as named in errors: `secret npm-token -> /run/secrets/npm-token (step publish)`. */
  readonly mount?: string;
  /** Where the step sees the file. */
  readonly target: string;
  /** Environment variable that also carries the value, for this step's exec only. */
  readonly env?: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** A secret resolved to its value, to be written as a file on a tmpfs for one step. */
export interface PreparedSecret extends PlannedSecret {
  readonly value: Buffer;
}

/** An ssh agent socket reachable in the container, to announce as SSH_AUTH_SOCK for one step. */
export interface PreparedSsh {
  readonly id: string;
  /** The socket's path in the container. */
  readonly target: string;
}

export interface PlannedStepMounts {
  readonly secrets: readonly PlannedSecret[];
  readonly ssh: readonly PreparedSsh[];
}

export interface PreparedStepMounts {
  readonly secrets: readonly PreparedSecret[];
  readonly ssh: readonly PreparedSsh[];
}

/** An ssh agent of this host relayed to a socket in the container, on a remote engine. */
export interface SshRelay {
  readonly id: string;
  /** The socket's path in the container. */
  readonly target: string;
  /** The agent's socket on this host. */
  readonly socketPath: string;
  /** The mount as errors name it: `ssh default -> /run/kiln/ssh-default.sock`. */
  readonly mount: string;
}

/** The mounts of one job, planned: what a key of the job can be computed from. */
export interface MountPlan {
  /** The container's mounts in the compiler's order (parents first). */
  readonly container: readonly PlannedMount[];
  /** Binds of the ssh agents' sockets, one per target, after the container's mounts. */
  readonly sshBinds: readonly DockerMount[];
  /**
   * On a remote engine, instead of binds: the agents relayed into the container, one per target (see
   * executor/ssh-relay.ts). Absent on a local engine.
   */
  readonly sshRelays?: readonly SshRelay[];
  /** Indexed by step index. Optional secrets and agents that were not found are left out. */
  readonly steps: readonly PlannedStepMounts[];
}

export interface PreparedMounts {
  /** The container's mounts, parents first. */
  readonly mounts: readonly DockerMount[];
  /**
   * The tmpfs mounts, for `HostConfig.Tmpfs` (target -> options such as `exec,size=268435456,mode=1777`).
   * They are not in `mounts`: a tmpfs in `HostConfig.Mounts` is always `noexec` (see tmpfs-mounts.ts).
   */
  readonly tmpfs: Readonly<Record<string, string>>;
  /** Indexed by step index. */
  readonly steps: readonly PreparedStepMounts[];
  /**
   * Single files put into the container before it starts, instead of binds (a remote engine, which
   * cannot bind a file of this host: see kinds/bind.ts).
   */
  readonly files?: readonly ContainerFile[];
}

/** A bind of one host file on a remote engine: put into the container, and read back when writable. */
export interface ContainerFile {
  /** Where the container sees it. */
  readonly target: string;
  /** The host file, as this process sees it. */
  readonly hostPath: string;
  /** A tar stream of the file alone, named by its target (without the leading `/`). */
  readonly tar: () => import('node:stream').Readable;
  /** Read-write: what the job leaves there is written back over the host file when the job ends. */
  readonly writeBack?: { readonly listing: import('../results/tree-format.js').TreeListing };
}
