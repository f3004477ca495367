/**
 * Where kiln keeps its state on this machine: cache locks and the logs of runs.
 * `KILN_STATE_DIR`, else `$XDG_STATE_HOME/kiln`, else `~/.local/state/kiln`.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KILN_STATE_DIR) return env.KILN_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'kiln');
  return join(homedir(), '.local', 'state', 'kiln');
}
