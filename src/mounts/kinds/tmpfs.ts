/** A tmpfs, given to the engine in `HostConfig.Tmpfs` (see tmpfs-mounts.ts); its size and mode are in the key. */
import type { CompiledTmpfsMount } from '../../graph/types.js';
import { tmpfsOptions } from '../tmpfs-mounts.js';
import type { ContainerMountKind } from './kind.js';

/** `options`: the `HostConfig.Tmpfs` option string (see tmpfs-mounts.ts). */
export interface PlannedTmpfsMount {
  readonly kind: 'tmpfs';
  readonly mount: CompiledTmpfsMount;
  readonly options: string;
}

export const tmpfsKind: ContainerMountKind<CompiledTmpfsMount, PlannedTmpfsMount> = {
  type: 'tmpfs',
  life: 'container',
  event: 'tmpfs',
  describe: (mount) => `tmpfs ${mount.target}`,
  plan: (mount) => ({ kind: 'tmpfs', mount, options: tmpfsOptions(mount) }),
  acquire: async () => (planned) => ({ tmpfs: planned.options }),
  key: ({ mount }) => ({
    mount: {
      type: 'tmpfs',
      target: mount.target,
      mode: mount.mode,
      ...(mount.sizeBytes !== undefined ? { size: mount.sizeBytes } : {}),
    },
  }),
};
