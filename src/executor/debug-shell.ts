/**
 * The shell into a job's container: after a step failed (`kiln run --debug`), in the container as the
 * step left it, in the step's workdir with its env and user; or instead of the steps (`kiln shell`), in
 * a fresh container with the job's mounts, in the job's workdir with its env. The user's terminal is
 * the shell's until it exits; the core only starts the shell and says so (`debug.shell`), the terminal
 * side (raw mode, resizes) is the caller's ShellTerminal.
 *
 * One shell at a time in the whole process: a job that fails while another job's shell is open waits
 * for it to close, its container kept; other jobs go on meanwhile. The job ends (and fail-fast stops the
 * run) only once its shell closed. Secrets are written again for the shell only when asked; they are
 * removed when it closes. An interrupt that reaches kiln while a shell is open (a SIGTERM: the terminal's
 * Ctrl-C goes to the shell) hangs the shell up; a job's timeout does not.
 */
import type { Status } from '../events.js';
import type { CompiledJob, CompiledStep } from '../graph/types.js';
import type { PreparedSecret, PreparedStepMounts } from '../mounts/types.js';
import { ReleaseStack } from '../release.js';
import type { Engine } from '../runtime/engine.js';
import type { JobContainer } from '../runtime/job-container.js';
import { startShell } from '../runtime/interactive-shell.js';
import type { TerminalSize, TtyProcess } from '../runtime/tty-exec.js';
import type { CancelReason, JobContext, StepResult } from '../scheduler/types.js';

/** The terminal side of a shell. */
export interface ShellTerminal {
  /**
   * Gives the user's terminal to the shell `start` makes (given the terminal's size) until the shell
   * exits or `signal` aborts (the shell is then hung up), and takes it back on every path; resolves to
   * the shell's exit code.
   */
  attach(start: (size: TerminalSize) => Promise<TtyProcess>, signal: AbortSignal): Promise<number>;
}

export interface DebugShellOptions {
  readonly terminal: ShellTerminal;
  /** Write the step's secrets (for `kiln shell`, the job's) again for the shell. Default false. */
  readonly secrets?: boolean;
  /** TERM for the shell. Default `xterm`. */
  readonly term?: string;
}

/** The steps' statuses after which `kiln run --debug` opens a shell: a failure, not a cancel. */
const DEBUGGED: ReadonlySet<Status> = new Set(['failed', 'timed-out']);

/** The process-wide gate: each shell waits for the one before it to close. */
let gate: Promise<void> = Promise.resolve();

/** Runs `open` once every shell before it closed, unless `signal` aborts first (then undefined). */
async function oneAtATime<T>(signal: AbortSignal, open: () => Promise<T>): Promise<T | undefined> {
  const before = gate;
  let done!: () => void;
  gate = new Promise((resolve) => (done = resolve));
  try {
    await before;
    return signal.aborted ? undefined : await open();
  } finally {
    done();
  }
}

/** Aborted when the job is interrupted (not timed out) or killed: the shell is hung up then. */
function hangUpSignal(context: Pick<JobContext, 'signal' | 'killSignal'>): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const own = new AbortController();
  const onAbort = () => {
    const reason = context.signal.reason as CancelReason | undefined;
    if (reason?.kind !== 'timeout') own.abort(reason);
  };
  const onKill = () => own.abort(context.killSignal.reason);
  if (context.signal.aborted) onAbort();
  else context.signal.addEventListener('abort', onAbort, { once: true });
  if (context.killSignal.aborted) onKill();
  else context.killSignal.addEventListener('abort', onKill, { once: true });
  return {
    signal: own.signal,
    dispose: () => {
      context.signal.removeEventListener('abort', onAbort);
      context.killSignal.removeEventListener('abort', onKill);
    },
  };
}

export class DebugShell {
  readonly #engine: Pick<Engine, 'exec'>;
  readonly #options: DebugShellOptions;

  constructor(engine: Pick<Engine, 'exec'>, options: DebugShellOptions) {
    this.#engine = engine;
    this.#options = options;
  }

  /**
   * After a step ended: when it failed (or timed out) and the job was not cancelled, opens the shell in
   * the step's container, workdir, env and user, and returns once it closed.
   */
  async afterStep(failure: {
    readonly job: CompiledJob;
    readonly step: CompiledStep;
    readonly result: StepResult;
    readonly container: JobContainer;
    readonly mounts: PreparedStepMounts | undefined;
    readonly context: JobContext;
  }): Promise<void> {
    const { job, step, result, container, context } = failure;
    if (!DEBUGGED.has(result.status) || context.signal.aborted) return;
    const env: Record<string, string> = { ...step.env };
    for (const ssh of failure.mounts?.ssh ?? []) env.SSH_AUTH_SOCK = ssh.target;
    // A shell that cannot open is said, and the job ends with its step's failure all the same.
    await this.#open(context, {
      job: job.name,
      container,
      workdir: step.workdir,
      env,
      ...(step.user ? { user: step.user } : {}),
      secrets: (failure.mounts?.secrets ?? []).map((secret) => ({ secret, step: step.index })),
      event: {
        step: step.name,
        exitCode: result.exitCode,
        ...(result.status !== 'failed' ? { status: result.status } : {}),
      },
    }).catch((error: unknown) => {
      const message = `the debug shell could not open: ${(error as Error).message}`;
      context.emit({ type: 'warning', job: job.name, message });
    });
  }

  /**
   * Instead of the steps (`kiln shell`): the shell in the job's workdir with its env and user, and every
   * secret of its steps when asked; the shell's exit code (undefined when it never opened).
   */
  async insteadOfSteps(
    job: CompiledJob,
    container: JobContainer,
    steps: readonly PreparedStepMounts[],
    context: JobContext,
  ): Promise<number | undefined> {
    const seen = new Set<string>();
    const secrets: Array<{ secret: PreparedSecret; step: number }> = [];
    steps.forEach((mounts, step) => {
      for (const secret of mounts?.secrets ?? []) {
        if (seen.has(secret.target)) continue;
        seen.add(secret.target);
        secrets.push({ secret, step });
      }
    });
    const env: Record<string, string> = { ...job.env };
    const ssh = steps.flatMap((mounts) => mounts?.ssh ?? [])[0];
    if (ssh) env.SSH_AUTH_SOCK = ssh.target;
    return this.#open(context, {
      job: job.name,
      container,
      workdir: job.workdir,
      env,
      ...(job.user ? { user: job.user } : {}),
      secrets,
      event: {},
    });
  }

  async #open(
    context: JobContext,
    shell: {
      readonly job: string;
      readonly container: JobContainer;
      readonly workdir: string;
      readonly env: Readonly<Record<string, string>>;
      readonly user?: string;
      readonly secrets: ReadonlyArray<{ secret: PreparedSecret; step: number }>;
      readonly event: { step?: string; exitCode?: number | null; status?: Status };
    },
  ): Promise<number | undefined> {
    const withSecrets = this.#options.secrets === true;
    const hangUp = hangUpSignal(context);
    try {
      return await oneAtATime(hangUp.signal, async () => {
        const stack = new ReleaseStack({ emit: context.emit, job: shell.job });
        try {
          const envFromFiles: Record<string, string> = {};
          if (withSecrets) {
            for (const { secret, step } of shell.secrets) {
              const written = await shell.container.writeSecret(secret, step);
              stack.push('secret', secret.id, written.remove);
              if (secret.env) envFromFiles[secret.env] = written.path;
            }
          }
          context.emit({ type: 'debug.shell', job: shell.job, ...shell.event, secrets: withSecrets });
          const env = { ...shell.env, TERM: this.#options.term ?? 'xterm' };
          return await this.#options.terminal.attach(
            (size) =>
              startShell(this.#engine.exec, shell.container.id, {
                env,
                envFromFiles,
                workdir: shell.workdir,
                ...(shell.user ? { user: shell.user } : {}),
                size,
              }),
            hangUp.signal,
          );
        } finally {
          await stack.release();
        }
      });
    } finally {
      hangUp.dispose();
    }
  }
}
