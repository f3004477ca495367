/**
 * The compiled, immutable graph that the scheduler runs. Everything is resolved: defaults merged,
 * paths absolute, durations in milliseconds, mounts sorted parents first.
 */
import type { CacheSharing, SecretSource } from '../definition/types.js';

export interface CompiledBindMount {
  readonly type: 'bind';
  /** Absolute host path as written (resolved against the project folder), not yet through symlinks. */
  readonly source: string;
  /** Absolute path in the container. */
  readonly target: string;
  readonly readonly: boolean;
  readonly allowOutsideProject: boolean;
  readonly allowDockerSocket: boolean;
  /** gitignore-style patterns, relative to the source, left out of the job's key (and still mounted). */
  readonly exclude: readonly string[];
}
/** An output of another job (`type: bind` with `from`), mounted read-only. */
export interface CompiledOutputMount {
  readonly type: 'output';
  /** The job that produces it (one of this job's `needs`). */
  readonly job: string;
  /** The output's path in that job's container, as that job compiles it (absolute). */
  readonly path: string;
  /** Absolute path in this job's container. */
  readonly target: string;
}
export interface CompiledCacheMount {
  readonly type: 'cache';
  readonly id: string;
  readonly target: string;
  readonly sharing: CacheSharing;
  readonly readonly: boolean;
}
export interface CompiledTmpfsMount {
  readonly type: 'tmpfs';
  readonly target: string;
  /** Bytes; undefined leaves the engine's default. */
  readonly sizeBytes?: number;
  /** Numeric mode (e.g. 0o1777). */
  readonly mode: number;
}
export interface CompiledSecretMount {
  readonly type: 'secret';
  readonly id: string;
  readonly target: string;
  readonly env?: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly required: boolean;
}
export interface CompiledSshMount {
  readonly type: 'ssh';
  readonly id: string;
  readonly target: string;
  readonly required: boolean;
}

/** Mounts of the job's container (bind, cache, tmpfs, outputs of other jobs). */
export type CompiledContainerMount =
  CompiledBindMount | CompiledCacheMount | CompiledTmpfsMount | CompiledOutputMount;
export type CompiledStepMount = CompiledSecretMount | CompiledSshMount;
export type CompiledMount = CompiledContainerMount | CompiledStepMount;

export interface CompiledStep {
  /** 0-based position in the job. */
  readonly index: number;
  /** The user's name, or `step-<n>` (1-based). Unique within the job. */
  readonly name: string;
  /** The argv to exec: a string `run` is already wrapped in the job's shell. */
  readonly argv: readonly string[];
  /** The command as the user wrote it, for display. */
  readonly display: string;
  /** Defaults' env, then the job's, then the step's. */
  readonly env: Readonly<Record<string, string>>;
  readonly workdir: string;
  readonly user?: string;
  /**
   * Mounts scoped to this step: secret and ssh. (Bind, cache and tmpfs mounts written on a step are
   * hoisted to the job's container, which is created once.)
   */
  readonly mounts: readonly CompiledStepMount[];
  readonly timeoutMs?: number;
  readonly allowFailure: boolean;
}

/** A job's output: a fresh volume at `path`, sealed when the job passes. */
export interface CompiledOutput {
  /** Absolute path in the job's container. */
  readonly path: string;
  /** Absolute host folder the output is copied to after the job passes or hits the cache. */
  readonly export?: string;
  /** The export may land outside the project folder. */
  readonly allowOutsideProject: boolean;
}

export interface CompiledJob {
  readonly name: string;
  readonly image: string;
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly shell: readonly string[];
  readonly network?: string;
  readonly needs: readonly string[];
  /** Container mounts, defaults included (unless opted out), hoisted step mounts too, sorted parents first. */
  readonly mounts: readonly CompiledContainerMount[];
  readonly steps: readonly CompiledStep[];
  readonly timeoutMs?: number;
  /** False, or reuse with an optional explicit container name. */
  readonly reuse: false | { readonly name?: string };
  /** The job's outputs, in declaration order. */
  readonly outputs: readonly CompiledOutput[];
  /** `cache:` as the job says it; undefined leaves it to the job cache's defaults. */
  readonly cache?: boolean;
}

export interface BuildGraph {
  /** Absolute project folder. */
  readonly projectDir: string;
  /** Stable project name: folder name plus a short hash of its absolute path (`app-1a2b3c4d`). */
  readonly project: string;
  readonly file?: string;
  readonly secrets: Readonly<Record<string, SecretSource>>;
  readonly jobs: ReadonlyMap<string, CompiledJob>;
  /** Job names in a topological order (a job after all it needs), ties in declaration order. */
  readonly order: readonly string[];
}
