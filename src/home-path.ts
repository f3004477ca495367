/** `~` in paths a user writes (secret files, bind sources, default mounts): the home folder. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The home folder: `HOME` of this environment, else the user's. */
export function homeDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env.HOME || homedir();
}

/** `path` with a leading `~` (alone, or followed by `/`) replaced by `home`; any other path as it is. */
export function expandHome(path: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return path;
}

/**
 * A path as a user wrote it in a definition: a leading `~` expanded to `home` (and left as that gives
 * it), any other path resolved against `base` (the project folder).
 */
export function resolveUserPath(path: string, base: string, home: string): string {
  if (path === '~' || path.startsWith('~/')) return expandHome(path, home);
  return resolve(base, path);
}
