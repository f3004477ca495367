/**
 * The fingerprint of a reused container's config: a later run reuses the container only while it
 * matches.
 */
import { createHash } from 'node:crypto';
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
  const parts = {
    image: input.imageId,
    mounts: JSON.stringify(input.mounts),
    tmpfs: JSON.stringify(input.tmpfs),
    network: input.network ?? 'default',
    user: input.user ?? '',
    kiln: input.kilnVersion,
  };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}
