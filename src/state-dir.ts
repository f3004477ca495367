/**
 * Where kiln keeps its state on this machine: cache locks and the logs of runs.
 * `KILN_STATE_DIR`, else `$XDG_STATE_HOME/kiln`, else `~/.local/state/kiln`.
 */
import { accessSync, constants, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { InfrastructureError } from './errors.js';

export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KILN_STATE_DIR) return env.KILN_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'kiln');
  return join(homedir(), '.local', 'state', 'kiln');
}

/** Which setting gave the state folder, for messages. */
function stateDirSource(env: NodeJS.ProcessEnv): string {
  if (env.KILN_STATE_DIR) return 'KILN_STATE_DIR';
  if (env.XDG_STATE_HOME) return 'XDG_STATE_HOME/kiln';
  return 'the default ~/.local/state/kiln';
}

/**
 * Makes sure the state folder is a folder this process can write, creating it (and its missing
 * parents) where needed; returns its absolute path. Throws an InfrastructureError (exit 3) naming the
 * setting it came from when it cannot be used.
 *
 * Each missing folder is created by one `mkdir` of its own, from the nearest one that exists: Node's
 * recursive mkdir loops forever where a file system answers ENOENT under a folder that exists (as
 * `/proc` does), and a loop here could not even be interrupted.
 */
export function ensureStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = resolve(stateDir(env));
  const fail = (why: string, cause?: unknown): never => {
    throw new InfrastructureError(
      `kiln's state folder ${dir} (from ${stateDirSource(env)}) cannot be used: ${why}. kiln keeps its ` +
        `locks and step logs there: point KILN_STATE_DIR at a folder this user can write`,
      cause,
      'E_STATE_DIR',
    );
  };
  const reason = (error: unknown): string => {
    const e = error as NodeJS.ErrnoException;
    return e?.code ? `${e.code}${e.path ? ` on ${e.path}` : ''}` : String(error);
  };

  const missing: string[] = [];
  for (let path = dir; ;) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(path) !== path) {
        missing.push(path);
        path = dirname(path);
        continue;
      }
      return fail(code === 'ENOTDIR' ? 'a part of its path is not a folder' : reason(error), error);
    }
    if (!isDirectory) fail(path === dir ? 'it is not a folder' : `${path} is not a folder`);
    break;
  }
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      fail(`it cannot be created (${reason(error)})`, error);
    }
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    fail(`it is not writable (${reason(error)})`, error);
  }
  // Some file systems pass the access check and refuse writes all the same: try one.
  const probe = join(dir, `.probe-${process.pid}-${Date.now()}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (error) {
    fail(`nothing can be created in it (${reason(error)})`, error);
  }
  return dir;
}
