/**
 * When each cache volume was last used, for `kiln prune`: one small JSON file per volume under
 * `<stateDir>/caches/<volume>.json` holding `{ lastUsed, project, id }`, rewritten on every use.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface CacheUsage {
  /** ISO 8601 time of the last use. */
  readonly lastUsed: string;
  readonly project: string;
  /** The cache id. */
  readonly id: string;
}

export function cacheUsageDir(stateDirectory: string): string {
  return join(stateDirectory, 'caches');
}

export function cacheUsagePath(stateDirectory: string, volume: string): string {
  return join(cacheUsageDir(stateDirectory), `${volume}.json`);
}

/** Records that `volume` is used now. Written to a temporary file and renamed, so readers never see half. */
export async function recordCacheUse(
  stateDirectory: string,
  volume: string,
  usage: Omit<CacheUsage, 'lastUsed'>,
  now: Date = new Date(),
): Promise<void> {
  const path = cacheUsagePath(stateDirectory, volume);
  await mkdir(cacheUsageDir(stateDirectory), { recursive: true });
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const record: CacheUsage = { lastUsed: now.toISOString(), project: usage.project, id: usage.id };
  await writeFile(temporary, JSON.stringify(record) + '\n');
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** The recorded use of `volume`, or undefined when there is no readable record. */
export async function readCacheUse(stateDirectory: string, volume: string): Promise<CacheUsage | undefined> {
  let text: string;
  try {
    text = await readFile(cacheUsagePath(stateDirectory, volume), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as Partial<CacheUsage>;
    if (typeof value.lastUsed !== 'string' || Number.isNaN(Date.parse(value.lastUsed))) return undefined;
    return { lastUsed: value.lastUsed, project: String(value.project ?? ''), id: String(value.id ?? '') };
  } catch {
    return undefined;
  }
}

export async function forgetCacheUse(stateDirectory: string, volume: string): Promise<void> {
  await rm(cacheUsagePath(stateDirectory, volume), { force: true });
}
