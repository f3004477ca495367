/**
 * What the compiler knows of one mount kind: how a spec of it compiles, where the compiled mount lives,
 * how messages name it, and which targets it refuses beyond those every mount refuses. One module per
 * kind implements it; `index.ts` lists them, and the compiler looks a kind up there instead of switching
 * on `type`.
 */
import type { MountSpec } from '../../definition/types.js';
import type { MountEntry } from './entry.js';

/** The fields every compiled mount has. */
export interface CompiledMountShape {
  readonly type: string;
  /** Absolute, normalised path in the container. */
  readonly target: string;
}

/**
 * `container`: a mount of the job's container, made once (declared on a step, it is hoisted to the job);
 * `step`: exists only while a step that declares it runs (and can be no default for every job).
 */
export type MountLife = 'container' | 'step';

export interface GraphMountKind<
  M extends CompiledMountShape,
  Life extends MountLife = MountLife,
  Compiled extends CompiledMountShape = M,
> {
  /** The compiled mount's `type`. */
  readonly type: M['type'];
  readonly life: Life;
  /**
   * Compiles a spec whose `type` is this kind's, reporting every problem on the entry; undefined when
   * there was one. Absent for a kind no spec names by its type (an output is a bind with `from`).
   */
  readonly compile?: (
    spec: Extract<MountSpec, { readonly type: M['type'] }>,
    entry: MountEntry,
  ) => Compiled | undefined;
  /** A short description for the compiler's messages: `bind /home/me/app`, `cache 'npm'`, `tmpfs`. */
  readonly describe: (mount: M) => string;
  /** Why this (absolute, normalised) target is refused, beyond what every mount refuses; or undefined. */
  readonly refuseTarget?: (target: string) => string | undefined;
}

/** The compiled mount of a kind (or of each kind of a union). */
export type MountOf<K> = K extends GraphMountKind<infer M, MountLife, CompiledMountShape> ? M : never;

/**
 * Declares a kind whose compiled mount is `M`: `defineGraphMountKind<CompiledTmpfsMount>()({ ... })`.
 * (The compiled mount types, and so the unions of index.ts, are read from the kinds' declared types.)
 */
export function defineGraphMountKind<
  M extends CompiledMountShape,
  Compiled extends CompiledMountShape = M,
>() {
  return <const Life extends MountLife>(
    kind: GraphMountKind<M, Life, Compiled>,
  ): GraphMountKind<M, Life, Compiled> => kind;
}
