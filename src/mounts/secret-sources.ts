/**
 * Where secret values come from: `{ env: NAME }` reads an environment variable of kiln's process,
 * `{ file: PATH }` reads a file as bytes (`~` is the home folder; relative paths resolve against the
 * project folder).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { SecretSource } from '../definition/types.js';
import { expandHome, homeDir } from '../home-path.js';

export type SecretResolution =
  | { readonly found: true; readonly value: Buffer }
  /** The source is absent (unset variable, missing file); `reason` says so in words a user can act on. */
  | { readonly found: false; readonly reason: string };

export interface SecretSourceContext {
  readonly projectDir: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Expands a leading `~` and resolves against the project folder. */
export function secretFilePath(path: string, context: SecretSourceContext): string {
  return resolve(context.projectDir, expandHome(path, homeDir(context.env)));
}

/**
 * Reads a secret's value. An absent source is a `found: false` result (the caller decides whether
 * the secret was required); a file that exists but cannot be read throws.
 */
export async function resolveSecretSource(
  source: SecretSource,
  context: SecretSourceContext,
): Promise<SecretResolution> {
  if ('env' in source) {
    const value = context.env[source.env];
    if (value === undefined) return { found: false, reason: `environment variable ${source.env} is not set` };
    return { found: true, value: Buffer.from(value) };
  }
  const path = secretFilePath(source.file, context);
  try {
    return { found: true, value: await readFile(path) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const shown = path === source.file ? path : `${source.file} (resolved ${path})`;
      return { found: false, reason: `file ${shown} does not exist` };
    }
    throw error;
  }
}
