/**
 * Reuse mode: a stable container name per project, job and worker slot, and a fingerprint of the
 * container's config that decides whether a running container may be reused.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { DockerMount } from '../mounts/types.js';

/** The longest container name kiln derives. */
export const MAX_NAME_LENGTH = 200;

/**
 * Docker's container name alphabet, at most {@link MAX_NAME_LENGTH} characters. A name that had to be
 * changed (a character Docker refuses, or too long) ends with `-` and 8 hex digits of the SHA-256 of
 * the original, so that two names that differ only in what was cut off or replaced stay apart.
 */
export function sanitizeName(raw: string): string {
  const s = raw.replace(/[^a-zA-Z0-9_.-]+/g, '-').replace(/^[^a-zA-Z0-9]+/, '');
  if (s === raw && s.length > 0 && s.length <= MAX_NAME_LENGTH) return s;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  const kept = s.slice(0, MAX_NAME_LENGTH - hash.length - 1);
  return kept ? `${kept}-${hash}` : `kiln-${hash}`;
}

/** `kiln-<project>-<job>-w<slot>`; the project name already carries a hash of its folder. */
export function reuseName(project: string, job: string, worker: string): string {
  return sanitizeName(`kiln-${project}-${job}-w${worker}`);
}

/**
 * The lock file that gives a reused container one user at a time:
 * `<stateDir>/locks/containers/<name>.lock` (a name too long for a file name is cut and hashed).
 */
export function containerLockPath(stateDirectory: string, name: string): string {
  return join(stateDirectory, 'locks', 'containers', `${sanitizeName(name)}.lock`);
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
