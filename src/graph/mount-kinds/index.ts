/**
 * Every mount kind the compiler knows, one module each. A spec's `type` is looked up here (in this
 * order, which is also the order messages list the types in), and so is a compiled mount's, to describe
 * it or check a target; the compiled mount types are derived from this list.
 */
import type { MountSpec } from '../../definition/types.js';
import { bindMountKind } from './bind.js';
import { cacheMountKind } from './cache.js';
import type { MountEntry } from './entry.js';
import type { MountLife, MountOf } from './kind.js';
import { outputMountKind } from './output.js';
import { secretMountKind } from './secret.js';
import { sshMountKind } from './ssh.js';
import { tmpfsMountKind } from './tmpfs.js';

export const GRAPH_MOUNT_KINDS = [
  bindMountKind,
  cacheMountKind,
  tmpfsMountKind,
  secretMountKind,
  sshMountKind,
  outputMountKind,
] as const;

type Kind = (typeof GRAPH_MOUNT_KINDS)[number];

/** Any compiled mount. */
export type CompiledMount = MountOf<Kind>;
/** Mounts of the job's container. */
export type CompiledContainerMount = MountOf<Extract<Kind, { readonly life: 'container' }>>;
/** Mounts that exist only while their step runs. */
export type CompiledStepMount = MountOf<Extract<Kind, { readonly life: 'step' }>>;

/** A kind looked up by a type known only at run time. */
export interface AnyGraphMountKind {
  readonly type: string;
  readonly life: MountLife;
  readonly compile?: (spec: MountSpec, entry: MountEntry) => CompiledMount | undefined;
  readonly describe: (mount: CompiledMount) => string;
  readonly refuseTarget?: (target: string) => string | undefined;
}

const BY_TYPE: ReadonlyMap<string, AnyGraphMountKind> = new Map(
  GRAPH_MOUNT_KINDS.map((kind) => [kind.type, kind as unknown as AnyGraphMountKind]),
);

/** The kind of a compiled mount's type. */
export function graphMountKind(type: CompiledMount['type']): AnyGraphMountKind {
  return BY_TYPE.get(type)!;
}

/** The kind a spec's `type` names, if a spec can name it. */
export function specMountKind(type: unknown): Required<Pick<AnyGraphMountKind, 'compile'>> | undefined {
  const compile = typeof type === 'string' ? BY_TYPE.get(type)?.compile : undefined;
  return compile === undefined ? undefined : { compile };
}

/** The types a spec can name, in order: `bind, cache, tmpfs, secret, ssh`. */
export const SPEC_MOUNT_TYPES: readonly string[] = GRAPH_MOUNT_KINDS.flatMap((kind) =>
  kind.compile === undefined ? [] : [kind.type],
);

export type { CompiledBindMount } from './bind.js';
export type { CompiledCacheMount } from './cache.js';
export type { CompiledOutputMount } from './output.js';
export type { CompiledSecretMount } from './secret.js';
export type { CompiledSshMount } from './ssh.js';
export type { CompiledTmpfsMount } from './tmpfs.js';
export type { DeclaredOutputs, MountContext, MountEntry, MountScope } from './entry.js';
