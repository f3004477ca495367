/**
 * The stable name of a project, used in labels and reused container names.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

/**
 * The most characters of the folder's name a project name keeps: it becomes part of container, volume
 * and lock file names, which a file system limits to 255 bytes, and the hash keeps names apart anyway.
 */
export const MAX_PROJECT_BASE = 40;

/**
 * `<folder name>-<8 hex>`: the project folder's base name, lower-cased with every character outside
 * `[a-z0-9_.-]` replaced by `-` (`project` when nothing is left) and cut to MAX_PROJECT_BASE
 * characters, then the first 8 hex digits of the SHA-256 of the absolute folder path, so two folders
 * with one name stay apart: `app-1a2b3c4d`.
 */
export function projectName(projectDir: string): string {
  const absolute = path.resolve(projectDir);
  const base =
    path
      .basename(absolute)
      .toLowerCase()
      .replace(/[^a-z0-9_.-]/g, '-')
      .replace(/^[_.-]+/, '')
      .slice(0, MAX_PROJECT_BASE) || 'project';
  const hash = createHash('sha256').update(absolute).digest('hex').slice(0, 8);
  return `${base}-${hash}`;
}
