/**
 * Every mount kind a job's mounts can be of, one module each, in the order their step mounts are told
 * (`mount.prepare`). Planning, acquiring, keying and describing look a kind up here by the compiled
 * mount's `type`; the planned container mount type is derived from this list.
 */
import type { CompiledMount, CompiledStepMount } from '../../graph/types.js';
import { bindKind, type PlannedBindMount } from './bind.js';
import { cacheKind, type PlannedCacheMount } from './cache.js';
import type { ContainerMountKind, StepMountKind } from './kind.js';
import { outputKind, type PlannedOutputMount } from './output.js';
import { secretKind } from './secret.js';
import { sshKind } from './ssh.js';
import { tmpfsKind, type PlannedTmpfsMount } from './tmpfs.js';

export const CONTAINER_MOUNT_KINDS = [bindKind, cacheKind, tmpfsKind, outputKind] as const;
export const STEP_MOUNT_KINDS = [secretKind, sshKind] as const;

type PlannedOf<K> = K extends ContainerMountKind<infer _M, infer P> ? P : never;

/** A container mount, planned: `kind` is its compiled mount's type. */
export type PlannedMount = PlannedOf<(typeof CONTAINER_MOUNT_KINDS)[number]>;

// A kind looked up by a type known only at run time takes the mounts of its own type alone, which the
// type system cannot tie to the lookup: these are typed loosely (`any`) for that reason only.
export type AnyContainerMountKind = ContainerMountKind<any, any>;
export type AnyStepMountKind = StepMountKind<any, 'secrets' | 'ssh'>;

const BY_TYPE = new Map<string, AnyContainerMountKind | AnyStepMountKind>([
  ...CONTAINER_MOUNT_KINDS.map((kind) => [kind.type, kind as AnyContainerMountKind] as const),
  ...STEP_MOUNT_KINDS.map((kind) => [kind.type, kind as AnyStepMountKind] as const),
]);

/** The kind of a compiled mount (or of a planned one's `kind`). */
export function mountKind(type: CompiledMount['type']): AnyContainerMountKind | AnyStepMountKind {
  return BY_TYPE.get(type)!;
}

/** The kind of a container mount. */
export function containerMountKind(type: PlannedMount['kind']): AnyContainerMountKind {
  return BY_TYPE.get(type) as AnyContainerMountKind;
}

/** The kind of a step mount. */
export function stepMountKind(type: CompiledStepMount['type']): AnyStepMountKind {
  return BY_TYPE.get(type) as AnyStepMountKind;
}

export type { PlannedBindMount, PlannedCacheMount, PlannedOutputMount, PlannedTmpfsMount };
export type { AcquireMountsContext, EngineMount, KeyContext, KeyContribution } from './kind.js';
