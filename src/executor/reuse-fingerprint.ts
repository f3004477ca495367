/**
 * The fingerprint of a reused container's config: a later run reuses the container only while it
 * matches. Digested from a canonical encoding (fixed key order, see results/canonical.ts), so that it
 * depends on the config alone, never on the order in which it was put together.
 */
import { digestHex, digestOf } from '../results/canonical.js';
import type { DockerMount } from '../runtime/containers.js';

export interface FingerprintInput {
  readonly imageId: string;
  readonly mounts: readonly DockerMount[];
  readonly tmpfs: Readonly<Record<string, string>>;
  readonly network?: string;
  readonly user?: string;
  readonly kilnVersion: string;
}

/** 32 hex digits, for the container's `dev.kiln.fingerprint` label. */
export function reuseFingerprint(input: FingerprintInput): string {
  const config = {
    image: input.imageId,
    mounts: input.mounts,
    tmpfs: input.tmpfs,
    network: input.network ?? 'default',
    user: input.user ?? '',
    kiln: input.kilnVersion,
  };
  return digestHex(digestOf(config)).slice(0, 32);
}
