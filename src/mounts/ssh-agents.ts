/**
 * The host's ssh agents that a step can reach. The agent `default` is the one of `SSH_AUTH_SOCK`; any
 * other id names the variable `SSH_AUTH_SOCK_<ID>`, the id upper-cased with every character other than
 * a letter, digit or `_` turned into `_` (id `deploy-bot` -> `SSH_AUTH_SOCK_DEPLOY_BOT`).
 */
import { realpath, stat } from 'node:fs/promises';

export const DEFAULT_SSH_ID = 'default';

/** The environment variable that holds the socket path of agent `id`. */
export function sshSocketEnvName(id: string): string {
  if (id === DEFAULT_SSH_ID) return 'SSH_AUTH_SOCK';
  return `SSH_AUTH_SOCK_${id.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

export type SshSocketResolution =
  | { readonly found: true; readonly path: string; readonly realPath: string }
  | { readonly found: false; readonly reason: string };

/** Finds the socket of agent `id`: the variable must be set and name a unix socket. */
export async function resolveSshSocket(id: string, env: NodeJS.ProcessEnv): Promise<SshSocketResolution> {
  const variable = sshSocketEnvName(id);
  const path = env[variable];
  if (!path) {
    return {
      found: false,
      reason: `environment variable ${variable} is not set (start an ssh agent, or set it)`,
    };
  }
  let realPath: string;
  try {
    realPath = await realpath(path);
    if (!(await stat(realPath)).isSocket()) {
      return { found: false, reason: `${variable}=${path} is not a socket` };
    }
  } catch {
    return { found: false, reason: `${variable}=${path} does not exist (is the agent still running?)` };
  }
  return { found: true, path, realPath };
}
