/**
 * Where the job cache keeps its files on this machine: `<stateDir>/results/` (see state-dir.ts), with
 * one folder per kind of file.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { stateDir } from '../state-dir.js';

/** `<stateDir>/results`. */
export function resultsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'results');
}

/** The stat index of one bind source (by its real path). */
export function statIndexPath(results: string, rootRealPath: string): string {
  const name = createHash('sha256').update(rootRealPath).digest('hex').slice(0, 32);
  return join(results, 'stat-index', `${name}.idx`);
}
