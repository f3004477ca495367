/**
 * Names of cache volumes: `kiln-cache-<project>-<id>`, and `...-private-<n>` for the extra slots of a
 * `private` cache. Each part is kept to Docker's name alphabet by safeName (names.ts).
 */
import { safeName } from '../names.js';

export const CACHE_VOLUME_PREFIX = 'kiln-cache-';

/**
 * The volume of a cache: slot 0 is the cache itself (the only one for `shared` and `locked`); slots
 * 1, 2, ... are the extra volumes a `private` cache gives to concurrent users.
 */
export function cacheVolumeName(project: string, id: string, slot = 0): string {
  const base = `${CACHE_VOLUME_PREFIX}${safeName(project)}-${safeName(id)}`;
  return slot === 0 ? base : `${base}-private-${slot}`;
}
