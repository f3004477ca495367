/**
 * What is said when a shell opens in a job's container (`debug.shell`): which step failed and how, what
 * the shell sees, and how to leave. The plain view prints it under the job's prefix; `kiln shell` prints
 * it alone.
 */
import type { DebugShellEvent } from '../events.js';
import { visible } from '../visible-text.js';

/** The banner's lines, without a prefix or a newline. */
export function debugBanner(event: Omit<DebugShellEvent, 'time' | 'type'>): string[] {
  const job = visible(event.job);
  if (event.step === undefined) {
    return [
      `a shell in a fresh container of job ${job}: its mounts and the outputs of its needs, its workdir and env; no step has run`,
      event.secrets
        ? "the job's secrets are mounted"
        : 'secrets are not mounted (kiln shell --secrets mounts them)',
      'leave with exit or Ctrl-D: the container and what was mounted for it are then released',
    ];
  }
  const how =
    event.status === 'timed-out'
      ? 'timed out'
      : event.exitCode === null || event.exitCode === undefined
        ? 'failed'
        : `failed with exit code ${event.exitCode}`;
  return [
    `step ${visible(event.step)} ${how}: a shell in the job's container as the step left it, in its workdir with its env`,
    event.secrets
      ? "the step's secrets are mounted again"
      : 'secrets are not mounted (kiln run --debug=secrets mounts them)',
    'leave with exit or Ctrl-D: the job then ends failed and its container is released',
  ];
}
