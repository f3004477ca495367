/**
 * The types a user declares, in a step file (`kiln.yaml`) or with the builder API. Field names are the
 * camelCase of the step file's kebab-case keys (`default-mounts` -> `defaultMounts`). Both paths produce
 * a Definition and go through one compiler. `schema/kiln.schema.json` is the source of truth for the file.
 */
import type { SourcePosition } from '../errors.js';

/**
 * The mounts, one spec per kind (each declared in its module under mount-kinds/, with its field table
 * and its default-mount form), and `MountSpec`, their union, derived from the list of kinds.
 */
export type {
  BindMountSpec,
  CacheMountSpec,
  CacheSharing,
  MountSpec,
  MountType,
  SecretMountSpec,
  SshMountSpec,
  TmpfsMountSpec,
} from './mount-kinds/index.js';
export { MOUNT_TYPES } from './mount-kinds/index.js';
import type { CacheMountSpec, MountSpec, TmpfsMountSpec } from './mount-kinds/index.js';

/** Where a secret's value comes from; values never live in the step file. */
export type SecretSource = { readonly env: string } | { readonly file: string };

/**
 * When a step runs: `success()` (the default) while no earlier step of its job has failed, `failure()`
 * only once one has, `always()` in both cases, and also when the job is cancelled or times out.
 */
export type StepCondition = 'success()' | 'failure()' | 'always()';

/**
 * When a job runs: `success()` (the default) once every job it needs has passed, `always()` once every
 * job it needs has ended, whatever its status (failed, skipped...).
 */
export type JobCondition = 'success()' | 'always()';

/** Runs a failing step again. */
export interface RetrySpec {
  /** How many attempts in all, the first included: 2 to 10. */
  readonly attempts: number;
  /** Only a step that exits with one of these codes runs again. Default: any failure. */
  readonly on?: readonly number[];
  /** How long to wait before each new attempt (a duration). Default: none. */
  readonly delay?: string | number;
}

/** `run` as a string runs through the job's shell; as a list it is argv, no shell. */
export type RunCommand = string | readonly string[];

export interface StepSpec {
  readonly name?: string;
  readonly run: RunCommand;
  readonly env?: Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly user?: string;
  /** The shell for a string `run`, as the job's `shell` (which it replaces for this step). Default: the job's. */
  readonly shell?: string | readonly string[];
  readonly mounts?: readonly MountSpec[];
  /** A duration: `500ms`, `90s`, `10m`, `1h30m`, or a number of seconds. */
  readonly timeout?: string | number;
  /** The step's failure does not fail the job. Default false. */
  readonly allowFailure?: boolean;
  /** When the step runs. Default `success()`. */
  readonly if?: StepCondition;
  /** Runs the step again when it fails. Default: once. */
  readonly retry?: RetrySpec;
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

/**
 * How to tell a service is ready, as Docker's healthcheck: `run` is exec'd in the service every
 * `interval`; the first check that exits 0 makes it ready; `retries` failures in a row after the
 * `start-period` (or the service exiting) fail the job.
 */
export interface ServiceHealthSpec {
  /** The check: a string runs through `/bin/sh -c`, a list is the argv. */
  readonly run: RunCommand;
  /** Between the start of one check and the next (a duration). Default 1 s. */
  readonly interval?: string | number;
  /** A check that takes longer has failed (a duration). Default 5 s. */
  readonly timeout?: string | number;
  /** Failed checks in a row, after the start period, before the service has failed. Default 30. */
  readonly retries?: number;
  /** Failed checks during this time after the start do not count (a duration). Default 0. */
  readonly startPeriod?: string | number;
}

/**
 * A container beside a job (a database, a cache server): started before the job's container on a
 * network of the job's own, reachable by its name and `aliases`, ready before the first step, removed
 * after the job. It sees none of the job's env or secrets.
 */
export interface ServiceSpec {
  readonly image: string;
  /** The service's own environment. Default: none (the image's). */
  readonly env?: Readonly<Record<string, string>>;
  /** What it runs: a string through `/bin/sh -c`, a list as argv. Default: the image's command. */
  readonly command?: RunCommand;
  /** Replaces the image's entrypoint: a program, or an argv (`[]` clears it). Default: the image's. */
  readonly entrypoint?: string | readonly string[];
  /** The user it runs as. Default: the image's. */
  readonly user?: string;
  /** tmpfs mounts, and cache volumes shared with the project's jobs (`sharing: shared`); absolute targets. */
  readonly mounts?: readonly (TmpfsMountSpec | CacheMountSpec)[];
  /** More host names it answers to on the job's network, besides its name. */
  readonly aliases?: readonly string[];
  /** TCP ports it listens on: without `health`, it is ready once each accepts a connection. */
  readonly ports?: readonly number[];
  /** How to tell it is ready (wins over `ports`). Default: ready once it runs (or its ports answer). */
  readonly health?: ServiceHealthSpec;
}

/** `true`: reuse under the stable name kiln derives; `{ name }`: under that explicit name. */
export type ReuseSpec = boolean | { readonly name: string };

export interface JobSpec {
  readonly image?: string;
  readonly workdir?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly user?: string;
  /**
   * The shell for string `run`s. Default: the defaults', else `["/bin/sh", "-e", "-c"]` (a failing line
   * fails the step; `["/bin/sh", "-c"]` opts out). `sh` is that default, `bash` is
   * `["bash", "-e", "-o", "pipefail", "-c"]`, another string is split on spaces, a list is used as given.
   */
  readonly shell?: string | readonly string[];
  readonly network?: string;
  /** Services beside the job, by name (merged by name over the defaults'). Default: none. */
  readonly services?: Readonly<Record<string, ServiceSpec>>;
  readonly needs?: readonly string[];
  /** When the job runs. Default `success()`. */
  readonly if?: JobCondition;
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
  /**
   * Runs the job once per combination of the axes' values, each instance named `build (cc=gcc, opt=O2)`
   * and seeing its values as `matrix.<axis>` and `KILN_MATRIX_<AXIS>`. Default: one job.
   */
  readonly matrix?: MatrixSpec;
  /** With `matrix`: false keeps the run going when an instance fails. Default true. */
  readonly failFast?: boolean;
}

/** A matrix value: text, a number or a boolean (used as text). */
export type MatrixValue = string | number | boolean;

/** Axes (each a list of values) plus combinations to add or remove. */
export type MatrixSpec = {
  readonly include?: readonly Readonly<Record<string, MatrixValue>>[];
  readonly exclude?: readonly Readonly<Record<string, MatrixValue>>[];
} & {
  readonly [axis: string]:
    readonly MatrixValue[] | readonly Readonly<Record<string, MatrixValue>>[] | undefined;
};

export interface Defaults {
  readonly image?: string;
  readonly workdir?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly shell?: string | readonly string[];
  readonly mounts?: readonly MountSpec[];
  readonly network?: string;
  /** Services of every job, by name; a job's are merged over these by name. */
  readonly services?: Readonly<Record<string, ServiceSpec>>;
}

/** A JSON pointer into the definition (`/jobs/build/steps/0/run`) mapped to where it stands in the file. */
export type SourceMap = ReadonlyMap<string, SourcePosition>;

export interface Definition {
  readonly version: 1;
  readonly defaults?: Defaults;
  readonly secrets?: Readonly<Record<string, SecretSource>>;
  /** Host environment variables `${{ env.NAME }}` may read (others come only from `kiln run --env`). */
  readonly envPassthrough?: readonly string[];
  readonly jobs: Readonly<Record<string, JobSpec>>;
  /** The folder relative paths resolve against: the step file's folder, or the builder's choice. */
  readonly projectDir: string;
  /** The step file it was loaded from, absolute; absent for a definition built in code. */
  readonly file?: string;
  /** Positions of values in the step file, for diagnostics. */
  readonly sourceMap?: SourceMap;
}
