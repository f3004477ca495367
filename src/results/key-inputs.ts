/**
 * A job's key inputs: everything that can change what the job produces, as plain data. The key is the
 * digest of their canonical encoding (canonical.ts), less what is kept only to explain a miss in words
 * (step names, how an image or a bind source was written). Stored with each result and as the last
 * inputs of each job, so that the next miss can say what changed (miss-reasons.ts).
 *
 * Not in the key, as in BuildKit: what cache mounts and tmpfs mounts hold, secret values (a secret's id
 * is in it), timeouts, the worker slot (`KILN_WORKER`), a job's `if:`, a step's `retry:` and how many
 * attempts it took.
 */
import { digestOf } from './canonical.js';

/**
 * The version of the key inputs' shape and meaning. Bump it whenever what goes into a key changes, so
 * that no key of an older kiln can match.
 */
export const KEY_FORMAT = 1;

/** A mount's spec, without what it holds: `type` and `target`, then the fields that define it. */
export interface MountInput {
  readonly type: string;
  readonly target: string;
  readonly [field: string]: string | number | boolean | undefined;
}

export interface StepInput {
  /** For messages only (a renamed step does not change the key). */
  readonly name: string;
  /** The argv executed (a `run` string is already wrapped in the shell). */
  readonly argv: readonly string[];
  /** The step's whole environment (defaults, job, step). */
  readonly env: Readonly<Record<string, string>>;
  readonly workdir: string;
  readonly user?: string;
  readonly allowFailure: boolean;
  /**
   * `failure()` when the step runs only after a failure; absent otherwise. A result is kept only from a
   * job that passed, where `success()` and `always()` steps both ran and `failure()` ones did not, so
   * only `failure()` changes what the job makes. (Absent rather than `success()`, so that the keys of
   * step files written before `if:` existed do not change.) `retry:` is not in the key: it decides how
   * often a step may be tried, not what it makes once it passes.
   */
  readonly if?: 'failure()';
  /** Its secret and ssh mounts: ids and targets, never values. */
  readonly mounts: readonly MountInput[];
}

export interface BindInput {
  readonly target: string;
  /** The source as the user knows it (`./src`, or an absolute path outside the project). For messages only. */
  readonly source: string;
  readonly readonly: boolean;
  /** The source's content digest (tree-format.ts); also the name its listing is stored under. */
  readonly digest: string;
  /** The mount's `exclude:` patterns, for messages (their effect is in the digest). */
  readonly exclude?: readonly string[];
}

export interface ConsumedOutputInput {
  /** The job that produced it. */
  readonly job: string;
  /** Its path in that job. */
  readonly path: string;
  /** Where this job mounts it. */
  readonly target: string;
  /** Its content digest. */
  readonly digest: string;
}

export interface KeyInputs {
  readonly format: number;
  /** `ref` as written (messages only), `id` as the engine resolved it. */
  readonly image: { readonly ref: string; readonly id: string };
  /** The job's env (each step's env is in its step). */
  readonly env: Readonly<Record<string, string>>;
  readonly workdir: string;
  readonly user?: string;
  readonly shell: readonly string[];
  readonly network?: string;
  readonly steps: readonly StepInput[];
  /** The container mounts other than binds: cache (id, sharing, readonly), tmpfs (size, mode). */
  readonly mounts: readonly MountInput[];
  readonly binds: readonly BindInput[];
  /** Outputs of other jobs that this job mounts. */
  readonly consumed: readonly ConsumedOutputInput[];
  /** The job's own output paths. */
  readonly outputs: readonly string[];
  /** The job's services as compiled (a job with services is cached only with `cache: true`). */
  readonly services?: readonly unknown[];
}

/** What the key covers: the inputs less what is there only for messages. */
export function keyMaterial(inputs: KeyInputs): unknown {
  return {
    format: inputs.format,
    image: inputs.image.id,
    env: inputs.env,
    workdir: inputs.workdir,
    user: inputs.user,
    shell: inputs.shell,
    network: inputs.network,
    steps: inputs.steps.map(stepMaterial),
    mounts: sortedMounts(inputs.mounts),
    binds: [...inputs.binds]
      .map((b) => ({ target: b.target, readonly: b.readonly, digest: b.digest }))
      .sort((a, b) => compare(a.target, b.target)),
    consumed: [...inputs.consumed]
      .map((c) => ({ job: c.job, path: c.path, target: c.target, digest: c.digest }))
      .sort((a, b) => compare(a.target, b.target)),
    outputs: [...inputs.outputs].sort(compare),
    ...(inputs.services ? { services: inputs.services } : {}),
  };
}

/** A step as the key sees it (without its name). */
export function stepMaterial(step: StepInput): unknown {
  return {
    argv: step.argv,
    env: step.env,
    workdir: step.workdir,
    user: step.user,
    allowFailure: step.allowFailure,
    if: step.if,
    mounts: sortedMounts(step.mounts),
  };
}

/** The job's key: `sha256:` of the canonical encoding of its key material. */
export function computeKey(inputs: KeyInputs): string {
  return digestOf(keyMaterial(inputs));
}

function sortedMounts(mounts: readonly MountInput[]): MountInput[] {
  return [...mounts].sort((a, b) => compare(a.target, b.target) || compare(a.type, b.type));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
