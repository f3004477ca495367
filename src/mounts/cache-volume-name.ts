/**
 * Names of cache volumes: `kiln-cache-<project>-<id>`, and `...-private-<n>` for the extra slots of a
 * `private` cache. Names follow Docker's rule `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
 */
import { createHash } from 'node:crypto';

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const INVALID_CHARACTERS = /[^a-zA-Z0-9_.-]+/g;

export const CACHE_VOLUME_PREFIX = 'kiln-cache-';

/** Is `name` a name Docker accepts for a volume? */
export function isValidVolumeName(name: string): boolean {
  return VOLUME_NAME.test(name);
}

/**
 * Makes a part of a volume name valid: each run of characters Docker refuses becomes `-`. When that
 * changed anything, a short hash of the original is appended, so that two ids that differ only in
 * refused characters (`a/b`, `a:b`) still get different volumes.
 */
export function sanitizeNamePart(part: string): string {
  const sanitized = part.replace(INVALID_CHARACTERS, '-');
  if (sanitized === part && part.length > 0) return part;
  const hash = createHash('sha256').update(part).digest('hex').slice(0, 8);
  return sanitized.length > 0 ? `${sanitized}-${hash}` : hash;
}

/**
 * The volume of a cache: slot 0 is the cache itself (the only one for `shared` and `locked`); slots
 * 1, 2, ... are the extra volumes a `private` cache gives to concurrent users.
 */
export function cacheVolumeName(project: string, id: string, slot = 0): string {
  const base = `${CACHE_VOLUME_PREFIX}${sanitizeNamePart(project)}-${sanitizeNamePart(id)}`;
  return slot === 0 ? base : `${base}-private-${slot}`;
}
