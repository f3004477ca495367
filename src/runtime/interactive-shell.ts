/**
 * The interactive shell kiln opens in a job's container (`kiln run --debug`, `kiln shell`): `/bin/bash`
 * when the image has it, else `/bin/sh`, on a TTY exec (see tty-exec.ts). Environment variables that
 * carry secrets are read from their files on the container's tmpfs by a short prelude, as the step
 * wrapper does, so that a value is never in the exec's config.
 */
import { InfrastructureError } from '../errors.js';
import type { ExecRuntime } from './exec.js';
import type { TerminalSize, TtyProcess } from './tty-exec.js';

/** Exports the secret variables (`$1` of them, as NAME=path pairs), then runs the best shell there is. */
export const SHELL_PRELUDE = `n=$1; shift
while [ "$n" -gt 0 ]; do
  if v=$(cat "\${1#*=}"); then export "\${1%%=*}=$v"
  else echo "kiln: cannot read the secret for \${1%%=*} as this user" >&2
  fi
  shift; n=$((n - 1))
done
if [ -x /bin/bash ]; then exec /bin/bash; fi
exec /bin/sh`;

export interface ShellSpec {
  readonly env: Readonly<Record<string, string>>;
  /** Env vars whose values the prelude reads from files in the container (secrets): name -> path. */
  readonly envFromFiles?: Readonly<Record<string, string>>;
  readonly workdir: string;
  readonly user?: string;
  readonly size: TerminalSize;
}

/** The exec argv of the shell. */
export function shellArgv(envFromFiles: Readonly<Record<string, string>> = {}): string[] {
  const pairs = Object.entries(envFromFiles).map(([name, path]) => `${name}=${path}`);
  return ['/bin/sh', '-c', SHELL_PRELUDE, 'kiln-shell', String(pairs.length), ...pairs];
}

/** Starts the shell in the container. */
export function startShell(exec: ExecRuntime, containerId: string, spec: ShellSpec): Promise<TtyProcess> {
  if (!exec.startTty) {
    return Promise.reject(new InfrastructureError('this engine cannot open an interactive shell'));
  }
  return exec.startTty(containerId, {
    argv: shellArgv(spec.envFromFiles),
    env: spec.env,
    workdir: spec.workdir,
    ...(spec.user ? { user: spec.user } : {}),
    size: spec.size,
    description: 'a shell',
  });
}
