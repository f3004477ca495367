/**
 * The types a user declares, in a step file (`kiln.yaml`) or with the builder API. Field names are the
 * camelCase of the step file's kebab-case keys (`default-mounts` -> `defaultMounts`). Both paths produce
 * a Definition and go through one compiler. `schema/kiln.schema.json` is the source of truth for the file.
 */
import type { SourcePosition } from '../errors.js';

/** Files are read-write unless `readonly`. */
export interface BindMountSpec {
  readonly type: 'bind';
  /** Host path; relative paths resolve against the step file's folder. */
  readonly source: string;
  /** Path in the container; relative targets resolve against the workdir. */
  readonly target: string;
  readonly readonly?: boolean;
  /** Opt-in: allow a source that resolves (through symlinks) outside the project folder. Default false. */
  readonly allowOutsideProject?: boolean;
  /** Opt-in: allow binding the Docker socket (full control of the engine). Default false. */
  readonly allowDockerSocket?: boolean;
  /**
   * Mount an output of this job instead of a host path: `source` is then one of that job's `outputs`
   * paths, mounted read-only. Implies `needs`. (The builder takes the job's builder too.)
   */
  readonly from?: string;
  /** gitignore-style patterns, relative to `source`, left out of the job's key (not out of the mount). */
  readonly exclude?: readonly string[];
}

export type CacheSharing = 'shared' | 'private' | 'locked';

export interface CacheMountSpec {
  readonly type: 'cache';
  /** The cache's name; one named volume per project and id, kept across runs. */
  readonly id: string;
  readonly target: string;
  /** BuildKit's modes. Default `shared`. */
  readonly sharing?: CacheSharing;
  readonly readonly?: boolean;
}

export interface TmpfsMountSpec {
  readonly type: 'tmpfs';
  readonly target: string;
  /** Bytes, or a size with a unit: `256m`, `1g`, `512k`. Default: the engine's (half the memory). */
  readonly size?: string | number;
  /** Octal mode as a string (`"1777"`) or number. Default 1777. */
  readonly mode?: string | number;
}

export interface SecretMountSpec {
  readonly type: 'secret';
  /** A key of the definition's `secrets`. */
  readonly id: string;
  /** Default `/run/secrets/<id>`. */
  readonly target?: string;
  /** Also expose the value as this environment variable, for the declaring step only. */
  readonly env?: string;
  /** Octal file mode. Default 0400. */
  readonly mode?: string | number;
  readonly uid?: number;
  readonly gid?: number;
  /** Default true: a missing secret is an error. */
  readonly required?: boolean;
}

export interface SshMountSpec {
  readonly type: 'ssh';
  /** Default `default`: the host's `SSH_AUTH_SOCK`. */
  readonly id?: string;
  /** Socket path in the container. Default `/run/kiln/ssh-<id>.sock`. */
  readonly target?: string;
  /** Default true: a missing agent is an error. */
  readonly required?: boolean;
}

export type MountSpec = BindMountSpec | CacheMountSpec | TmpfsMountSpec | SecretMountSpec | SshMountSpec;
export type MountType = MountSpec['type'];
export const MOUNT_TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];

/** Where a secret's value comes from; values never live in the step file. */
export type SecretSource = { readonly env: string } | { readonly file: string };

/** `run` as a string runs through the job's shell; as a list it is argv, no shell. */
export type RunCommand = string | readonly string[];

export interface StepSpec {
  readonly name?: string;
  readonly run: RunCommand;
  readonly env?: Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly user?: string;
  readonly mounts?: readonly MountSpec[];
  /** A duration: `90s`, `10m`, `1h30m`, or a number of seconds. */
  readonly timeout?: string | number;
  /** The step's failure does not fail the job. Default false. */
  readonly allowFailure?: boolean;
}

/** A job output: a container path (absolute, or relative to the workdir), or the path with an export. */
export type OutputSpec =
  | string
  | {
      readonly path: string;
      /** A host folder (relative to the project folder) the output is copied to once the job passes. */
      readonly export?: string;
      /** Opt-in: allow an export outside the project folder. Default false. */
      readonly allowOutsideProject?: boolean;
    };

/** `true`: reuse under the stable name kiln derives; `{ name }`: under that explicit name. */
export type ReuseSpec = boolean | { readonly name: string };

export interface JobSpec {
  readonly image?: string;
  readonly workdir?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly user?: string;
  /** The shell for string `run`s. Default `["/bin/sh", "-c"]`. A string is split on spaces. */
  readonly shell?: string | readonly string[];
  readonly network?: string;
  readonly needs?: readonly string[];
  readonly mounts?: readonly MountSpec[];
  readonly timeout?: string | number;
  readonly reuse?: ReuseSpec;
  /** Default true: the default mounts apply to this job. */
  readonly defaultMounts?: boolean;
  /** Paths whose content, once the job passes, is its sealed output. */
  readonly outputs?: readonly OutputSpec[];
  /**
   * The job cache: `true` caches a job that would not be by default (a secret's value is not in the
   * key), `false` always runs it. Default: cached when all its inputs are content-addressed.
   */
  readonly cache?: boolean;
  readonly steps: readonly StepSpec[];
}

export interface Defaults {
  readonly image?: string;
  readonly workdir?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly shell?: string | readonly string[];
  readonly mounts?: readonly MountSpec[];
  readonly network?: string;
}

/** A JSON pointer into the definition (`/jobs/build/steps/0/run`) mapped to where it stands in the file. */
export type SourceMap = ReadonlyMap<string, SourcePosition>;

export interface Definition {
  readonly version: 1;
  readonly defaults?: Defaults;
  readonly secrets?: Readonly<Record<string, SecretSource>>;
  readonly jobs: Readonly<Record<string, JobSpec>>;
  /** The folder relative paths resolve against: the step file's folder, or the builder's choice. */
  readonly projectDir: string;
  /** The step file it was loaded from, absolute; absent for a definition built in code. */
  readonly file?: string;
  /** Positions of values in the step file, for diagnostics. */
  readonly sourceMap?: SourceMap;
}
