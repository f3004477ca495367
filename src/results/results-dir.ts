/**
 * Where the job cache keeps its files on this machine: `<stateDir>/results/` (see state-dir.ts), with
 * one folder per kind of file.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { stateDir } from '../state-dir.js';

/** `<stateDir>/results`. */
export function resultsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'results');
}

/** A short name of a result store (its folder on this host), for the labels of its output volumes. */
export function storeId(results: string): string {
  return createHash('sha256').update(`${hostname()}\u0000${results}`).digest('hex').slice(0, 16);
}

/** The stat index of one bind source (by its real path). */
export function statIndexPath(results: string, rootRealPath: string): string {
  const name = createHash('sha256').update(rootRealPath).digest('hex').slice(0, 32);
  return join(results, 'stat-index', `${name}.idx`);
}
