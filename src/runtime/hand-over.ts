/**
 * Handing a reused container over, at the end of a run and before the next: no process of a run lives
 * on, and no secret either. And what kiln says when an image has no `/bin/sh`, which every job
 * container needs (PID 1, the step wrapper, the secrets protocol and the hand-over are shell scripts).
 */
import { ExitCode, KilnError } from '../errors.js';
import { KILN_SECRETS_DIR, SECRET_MANIFEST } from './container-secrets.js';
import { runExec } from './run-exec.js';
import type { Engine } from './engine.js';

/**
 * Kills every process but PID 1 (`kill -KILL -1`), removes the secrets (the targets of the manifest,
 * kiln's own copies), then makes the workdirs (as PID 1 makes them, a workdir that cannot be made is left
 * to the step to report). Exits non-zero when a secret could not be removed.
 */
const HAND_OVER = `kill -KILL -1 2>/dev/null
rc=0
m=${SECRET_MANIFEST}
if [ -f "$m" ]; then
  while IFS= read -r p; do
    if [ -L "$p" ] || [ -f "$p" ]; then rm -f "$p" || rc=1; fi
  done < "$m"
  [ "$rc" -ne 0 ] || rm -f "$m" || rc=1
fi
rm -rf ${KILN_SECRETS_DIR} || rc=1
[ $# -eq 0 ] || mkdir -p "$@" 2>/dev/null
exit "$rc"`;

export interface HandOverResult {
  readonly code: number;
  /** The container has no usable `/bin/sh` (a step removed or replaced it). */
  readonly lacksShell: boolean;
  /** What the hand-over printed, at most about 2000 characters. */
  readonly output: string;
}

/** Runs the hand-over in a reused container. */
export async function handOver(
  engine: Pick<Engine, 'exec'>,
  containerId: string,
  workdirs: readonly string[],
): Promise<HandOverResult> {
  let output = '';
  const code = await runExec(engine.exec, containerId, {
    argv: ['/bin/sh', '-c', HAND_OVER, 'kiln-hand-over', ...workdirs],
    onOutput: (_stream, chunk) => {
      if (output.length < 2000) output += chunk.toString();
    },
  });
  output = output.trim();
  return { code, lacksShell: code !== 0 && lacksShell(output), output };
}

/** Does this message (of a failed start or exec) say that the image has no `/bin/sh`? */
export function lacksShell(message: string): boolean {
  return (
    /\/bin\/sh/.test(message) &&
    /no such file or directory|not found|permission denied|exec format/i.test(message)
  );
}

export function noShellError(image: string, job: string): KilnError {
  return new KilnError(
    `image ${image} (job ${job}) has no usable /bin/sh: kiln needs /bin/sh in the image to run ` +
      `steps (it keeps the container alive and runs each step under a POSIX shell wrapper); use an image ` +
      `that has a shell (for a distroless image, its debug variant), or add one (e.g. busybox)`,
    { code: 'E_IMAGE_NO_SHELL', exitCode: ExitCode.usage },
  );
}
