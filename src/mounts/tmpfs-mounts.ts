/**
 * tmpfs mounts. Docker mounts a tmpfs given in `HostConfig.Mounts` with `noexec`, and API 1.41 has no
 * way to lift it there (`TmpfsOptions` holds only size and mode), so a build folder on it could not
 * run the binaries it builds. kiln therefore gives tmpfs mounts in `HostConfig.Tmpfs`, whose option
 * string can say `exec`; Docker still adds `nosuid,nodev`, and orders them among the other mounts by
 * depth, so parents are mounted first.
 */
import type { CompiledTmpfsMount } from '../graph/types.js';

/** The `HostConfig.Tmpfs` option string of a tmpfs mount: `exec[,size=<bytes>],mode=<octal>`. */
export function tmpfsOptions(mount: Pick<CompiledTmpfsMount, 'sizeBytes' | 'mode'>): string {
  const options = ['exec'];
  if (mount.sizeBytes !== undefined) options.push(`size=${mount.sizeBytes}`);
  options.push(`mode=${mount.mode.toString(8)}`);
  return options.join(',');
}
