/**
 * What prepareMounts hands to the runtime: the container's Docker mounts, and per step the secrets and
 * ssh agents that exist only while that step runs.
 */

/** A typed Docker mount (`HostConfig.Mounts` entry); never the `-v` string form. */
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

/** A secret resolved to its value, to be written as a file on a tmpfs for one step. */
export interface PreparedSecret {
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
  readonly value: Buffer;
}

/** An ssh agent socket reachable in the container, to announce as SSH_AUTH_SOCK for one step. */
export interface PreparedSsh {
  readonly id: string;
  /** The socket's path in the container. */
  readonly target: string;
}

export interface PreparedStepMounts {
  readonly secrets: readonly PreparedSecret[];
  readonly ssh: readonly PreparedSsh[];
}

export interface PreparedMounts {
  /** The container's mounts, parents first. */
  readonly mounts: readonly DockerMount[];
  /** Indexed by step index. */
  readonly steps: readonly PreparedStepMounts[];
  /** Every secret value of the job, for masking output. */
  readonly secretValues: readonly Buffer[];
}

/** The runtime's private tmpfs in every job container (step control files, secrets). */
export const KILN_RUN_DIR = '/run/kiln';
/** Where secret files are written (on the KILN_RUN_DIR tmpfs); a target elsewhere links here. */
export const KILN_SECRETS_DIR = '/run/kiln/secrets';
