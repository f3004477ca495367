/**
 * Reuse mode: a stable container name per project, job and worker slot, and a fingerprint of the
 * container's config that decides whether a running container may be reused.
 */
import { createHash } from 'node:crypto';
import type { DockerMount } from '../mounts/types.js';

/** Docker's container name alphabet. */
export function sanitizeName(raw: string): string {
  const s = raw.replace(/[^a-zA-Z0-9_.-]+/g, '-').replace(/^[^a-zA-Z0-9]+/, '');
  return s.slice(0, 200) || 'kiln';
}

/** `kiln-<project>-<job>-w<slot>`; the project name already carries a hash of its folder. */
export function reuseName(project: string, job: string, worker: string): string {
  return sanitizeName(`kiln-${project}-${job}-w${worker}`);
}

export interface FingerprintInput {
  readonly imageId: string;
  readonly mounts: readonly DockerMount[];
  readonly tmpfs: Readonly<Record<string, string>>;
  readonly network?: string;
  readonly user?: string;
  readonly kilnVersion: string;
}

/** What a reused container must match, in words, for the warning when it does not. */
export function describeFingerprint(input: FingerprintInput): Record<string, string> {
  return {
    image: input.imageId,
    mounts: JSON.stringify(input.mounts),
    tmpfs: JSON.stringify(input.tmpfs),
    network: input.network ?? 'default',
    user: input.user ?? '',
    kiln: input.kilnVersion,
  };
}

export function fingerprint(input: FingerprintInput): string {
  const parts = describeFingerprint(input);
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}
