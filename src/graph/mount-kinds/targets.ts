/** The container paths no mount may have as its target, and the rules each kind adds. */
import type { GraphMountKind, CompiledMountShape } from './kind.js';

/**
 * The kernel's and the engine's folders in every container. /proc and /sys are the kernel's
 * interfaces: nothing can be mounted or written under them (the engine fails to start the container, or
 * the file cannot be made). /dev holds the container's device nodes: a mount on /dev itself hides them
 * (the container cannot start); a folder mounted under it works (`/dev/shm` is a common tmpfs), but a
 * step's file or socket there could replace a device (`/dev/null`) for every later step.
 */
const KERNEL_FOLDERS = ['/proc', '/sys'] as const;

/** The longest path of a Unix socket (sun_path holds 108 bytes with its final NUL). */
export const MAX_SOCKET_PATH = 107;

/** Is the container path `path` the folder `folder` or inside it? Both absolute and normalised. */
export function under(path: string, folder: string): boolean {
  return path === folder || path.startsWith(`${folder}/`);
}

/** What a kind's target rules are read from. */
export type TargetRules = Pick<GraphMountKind<CompiledMountShape>, 'life' | 'refuseTarget'>;

/** Why a mount with these rules cannot have this (absolute, normalised) target, or undefined. */
export function refusedTargetOf(rules: TargetRules, target: string): string | undefined {
  if (target === '/') return 'cannot mount on / (the container root); choose a folder';
  const kernel = KERNEL_FOLDERS.find((folder) => under(target, folder));
  if (kernel !== undefined) {
    return `cannot mount on ${target}: ${kernel} belongs to the kernel, and nothing can be mounted or written under it; choose another target`;
  }
  if (rules.life === 'container' && target === '/dev') {
    return "cannot mount on /dev: it would hide the container's devices, and the container could not start; mount a folder under it (e.g. /dev/shm) or elsewhere";
  }
  return rules.refuseTarget?.(target);
}

/** A step mount's refusal of /dev and what is under it; `what` names what it puts there (`a secret`). */
export function refusedUnderDev(what: string, target: string): string | undefined {
  if (!under(target, '/dev')) return undefined;
  return `cannot put ${what} at ${target}: /dev holds the container's devices, which it could replace; choose another target (the default is under /run)`;
}
