/**
 * Names kiln derives from names it is given (projects, jobs, cache ids, hosts, run ids): of containers,
 * volumes, lock files and secret files. They keep to Docker's name alphabet, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`,
 * which is safe in a file name too.
 */
import { createHash } from 'node:crypto';

/** The longest name {@link safeName} returns by default (a file name may have 255 bytes). */
export const MAX_NAME_LENGTH = 200;

/** Is `name` in Docker's name alphabet (what it accepts for a container or a volume)? */
export function isSafeName(name: string): boolean {
  return /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name);
}

/**
 * `raw` in Docker's name alphabet, at most `maxLength` characters: each run of other characters becomes
 * `-`, and what leads up to the first letter or digit is dropped. A name that had to be changed ends
 * with `-` and 8 hex digits of the SHA-256 of `raw` (or is only those, when nothing was left), so that
 * two names that differ only in what was replaced or cut off stay apart. A name that needed no change is
 * returned as it is.
 */
export function safeName(raw: string, maxLength: number = MAX_NAME_LENGTH): string {
  const s = raw.replace(/[^a-zA-Z0-9_.-]+/g, '-').replace(/^[^a-zA-Z0-9]+/, '');
  if (s === raw && s.length > 0 && s.length <= maxLength) return s;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  const kept = s.slice(0, maxLength - hash.length - 1);
  return kept ? `${kept}-${hash}` : hash;
}
