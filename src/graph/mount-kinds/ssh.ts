/** The host's ssh agent (or a named one), its socket bound into the container for the steps that ask. */
import { idOf, resolveTarget } from './entry.js';
import { defineGraphMountKind } from './kind.js';
import { MAX_SOCKET_PATH, refusedUnderDev } from './targets.js';

export interface CompiledSshMount {
  readonly type: 'ssh';
  readonly id: string;
  readonly target: string;
  readonly required: boolean;
}

export const sshMountKind = defineGraphMountKind<CompiledSshMount>()({
  type: 'ssh',
  life: 'step',
  compile(spec, entry) {
    const id = spec.id === undefined ? 'default' : idOf(entry, spec.id);
    if (id === undefined) return undefined;
    const target = resolveTarget(entry, spec.target ?? `/run/kiln/ssh-${id}.sock`, sshMountKind);
    if (target === undefined) return undefined;
    return { type: 'ssh', id, target, required: spec.required !== false };
  },
  describe: (mount) => `ssh '${mount.id}'`,
  refuseTarget(target) {
    const device = refusedUnderDev('an ssh socket', target);
    if (device !== undefined) return device;
    if (Buffer.byteLength(target) > MAX_SOCKET_PATH) {
      return `the socket path ${target} is ${Buffer.byteLength(target)} bytes long, longer than the ${MAX_SOCKET_PATH} a Unix socket's path can be; choose a shorter target`;
    }
    return undefined;
  },
});
