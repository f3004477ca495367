/**
 * Every mount kind a definition can declare, one module each, in the order messages list them
 * (`bind, cache, tmpfs, secret, ssh`). `MountSpec` is derived from this list.
 */
import { bindMount } from './bind.js';
import { cacheMount } from './cache.js';
import type { DefinitionMountKind, SpecOf } from './kind.js';
import { secretMount } from './secret.js';
import { sshMount } from './ssh.js';
import { tmpfsMount } from './tmpfs.js';

export const DEFINITION_MOUNT_KINDS = [bindMount, cacheMount, tmpfsMount, secretMount, sshMount] as const;

export type MountSpec = SpecOf<(typeof DEFINITION_MOUNT_KINDS)[number]>;
export type MountType = MountSpec['type'];

/** The step file's mount types, in order. */
export const MOUNT_TYPES: readonly MountType[] = DEFINITION_MOUNT_KINDS.map((kind) => kind.type);

/** A kind looked up by a type known only at run time. */
export type AnyDefinitionMountKind = DefinitionMountKind<MountSpec>;

const BY_TYPE: ReadonlyMap<string, AnyDefinitionMountKind> = new Map(
  DEFINITION_MOUNT_KINDS.map((kind) => [kind.type, kind as AnyDefinitionMountKind]),
);

/** The kind of a mount type, if there is one. */
export function definitionMountKind(type: string): AnyDefinitionMountKind | undefined {
  return BY_TYPE.get(type);
}

export type { BindMountSpec } from './bind.js';
export type { CacheMountSpec, CacheSharing } from './cache.js';
export type { SecretMountSpec } from './secret.js';
export type { SshMountSpec } from './ssh.js';
export type { TmpfsMountSpec } from './tmpfs.js';
