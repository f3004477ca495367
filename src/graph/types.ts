/**
 * The compiled, immutable graph that the scheduler runs. Everything is resolved: defaults merged,
 * paths absolute, durations in milliseconds, mounts sorted parents first.
 */
import type { SecretSource } from '../definition/types.js';
import type { MatrixInstance } from './matrix.js';
import type {
  CompiledCacheMount,
  CompiledContainerMount,
  CompiledStepMount,
  CompiledTmpfsMount,
} from './mount-kinds/index.js';

/**
 * The compiled mounts, one type per kind (each declared in its module under mount-kinds/, see
 * docs/architecture.md), and their unions, derived from the list of kinds: the container's mounts
 * (bind, cache, tmpfs, outputs of other jobs) and the steps' (secret, ssh).
 */
export type {
  CompiledBindMount,
  CompiledCacheMount,
  CompiledContainerMount,
  CompiledMount,
  CompiledOutputMount,
  CompiledSecretMount,
  CompiledSshMount,
  CompiledStepMount,
  CompiledTmpfsMount,
} from './mount-kinds/index.js';

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
  /**
   * When it runs, if not only while its job has not failed (`success()`, the default): `failure` once a
   * step of its job has failed, `always` in any case, also after the job was cancelled or timed out.
   */
  readonly if?: 'failure' | 'always';
  /** Run again when it fails: at most `attempts` in all, only on the exit codes `on` when given. */
  readonly retry?: CompiledRetry;
}

export interface CompiledRetry {
  /** Attempts in all, the first included: 2 to 10. */
  readonly attempts: number;
  /** The exit codes that make it run again; absent: any failure (a timed-out attempt too). */
  readonly on?: readonly number[];
  /** Waited before each new attempt, in ms; 0 when none. */
  readonly delayMs: number;
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

/** A service's health check, Docker's healthcheck semantics (see compile-services.ts for the defaults). */
export interface CompiledServiceHealth {
  /** Exec'd in the service: exit 0 when ready. */
  readonly argv: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

/** A container beside a job, on the job's own network; it sees nothing of the job's env or secrets. */
export interface CompiledService {
  /** Its host name on the job's network. */
  readonly name: string;
  readonly image: string;
  readonly env: Readonly<Record<string, string>>;
  /** Its argv (a string command is already `/bin/sh -c`); absent: the image's. */
  readonly command?: readonly string[];
  /** Replaces the image's entrypoint; absent: the image's. */
  readonly entrypoint?: readonly string[];
  readonly user?: string;
  readonly tmpfs: readonly CompiledTmpfsMount[];
  /** Cache volumes it mounts, shared with the project's jobs. */
  readonly caches: readonly CompiledCacheMount[];
  /** More host names it answers to on the job's network. */
  readonly aliases: readonly string[];
  /** TCP ports that, without `health`, must accept a connection before the job's first step. */
  readonly ports: readonly number[];
  readonly health?: CompiledServiceHealth;
}

export interface CompiledJob {
  readonly name: string;
  readonly image: string;
  readonly workdir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly shell: readonly string[];
  readonly network?: string;
  /** Services started beside the job, in declaration order (the defaults' first); absent when none. */
  readonly services?: readonly CompiledService[];
  readonly needs: readonly string[];
  /** `always`: the job runs once every job it needs has ended, whatever its status. Default: once all passed. */
  readonly if?: 'always';
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
  /** For an instance of a matrix job: its group (the job's name as written), values and `fail-fast`. */
  readonly matrix?: MatrixInstance;
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
