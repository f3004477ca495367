/**
 * kiln's own commands and its steps, exec'd into a job's container (see exec.ts). Steps run under the
 * step wrapper (step-wrapper.ts) with stdin kept open as a control channel, so that cancellation can
 * reach them.
 */
import type { OutputPressure } from '../output-pressure.js';
import type { ChunkListener, ExecProcess, ExecRuntime, ExecSpec } from './exec.js';
import { Control, wrapStep } from './step-wrapper.js';

export interface ExecOptions extends ExecSpec {
  readonly onOutput?: ChunkListener;
  /** Bytes written to the exec's stdin, then stdin is closed. */
  readonly stdin?: Buffer;
}

export interface StepExecOptions extends ExecSpec {
  readonly onOutput?: ChunkListener;
  /** Env vars whose values the wrapper reads from files in the container (secrets). */
  readonly envFromFiles?: Readonly<Record<string, string>>;
  /** Files the wrapper removes if kiln goes away while the step runs (its secret files). Default none. */
  readonly removeWhenAbandoned?: readonly string[];
  /** Aborted: SIGTERM to the step's processes, then after `graceMs` SIGKILL. */
  readonly signal?: AbortSignal;
  /** Aborted: SIGKILL now. */
  readonly killSignal?: AbortSignal;
  /** Grace period between SIGTERM and SIGKILL, ms: the run's. */
  readonly graceMs: number;
  /** Called when SIGKILL did not end the exec (the engine or the image misbehaves): stop the container. */
  readonly onStuck?: () => Promise<void>;
  /** While held, the step's output is left unread (the step blocks on its writes). Default: none. */
  readonly pressure?: OutputPressure;
}

export interface ExecResult {
  readonly exitCode: number;
  /** What cancellation did: nothing, SIGTERM only, or SIGKILL too. */
  readonly cancelled: 'no' | 'term' | 'kill';
}

/** How long after SIGKILL an exec that has not ended counts as stuck. */
const STUCK_AFTER_MS = 5_000;

/**
 * Reads an exec's output to its end. While `pressure` is held, reading pauses: the engine stops reading
 * the process's pipes in turn, and the process blocks on its writes. `pressure` is consulted at each
 * chunk, so a getter that returns undefined ends the flow control.
 */
function pump(
  command: ExecProcess,
  onOutput: ChunkListener | undefined,
  pressure: () => OutputPressure | undefined = () => undefined,
): Promise<void> {
  return command.read((stream, chunk) => {
    onOutput?.(stream, chunk);
    const current = pressure();
    if (current?.held && !command.paused) {
      command.pause();
      void current.whenClear().then(() => command.resume());
    }
  });
}

/** Runs a plain exec to its end (kiln's own housekeeping commands, secret writes); its exit code. */
export async function runExec(
  execs: ExecRuntime,
  containerId: string,
  options: ExecOptions,
): Promise<number> {
  const command = await execs.start(containerId, options);
  const done = pump(command, options.onOutput);
  if (options.stdin) command.write(options.stdin);
  command.closeInput();
  await done;
  return command.exitCode();
}

/** Runs a step under the wrapper, relaying cancellation as SIGTERM, then SIGKILL after the grace period. */
export async function runStepExec(
  execs: ExecRuntime,
  containerId: string,
  options: StepExecOptions,
): Promise<ExecResult> {
  const { graceMs } = options;
  const argv = wrapStep({
    argv: options.argv,
    ...(options.envFromFiles ? { envFromFiles: options.envFromFiles } : {}),
    ...(options.removeWhenAbandoned ? { removeWhenAbandoned: options.removeWhenAbandoned } : {}),
  });
  const env = { ...options.env, KILN_GRACE_S: String(Math.max(1, Math.ceil(graceMs / 1000))) };
  const command = await execs.start(containerId, { ...options, argv, env, description: 'a step' });
  let cancelled: ExecResult['cancelled'] = 'no';
  // Once a step is being killed, its last output is read whatever the readers' pace, so that the step
  // ends and its job's resources are released even when nobody reads kiln's output any more.
  const done = pump(command, options.onOutput, () => (cancelled === 'kill' ? undefined : options.pressure));

  let graceTimer: NodeJS.Timeout | undefined;
  let stuckTimer: NodeJS.Timeout | undefined;
  const kill = () => {
    if (cancelled === 'kill') return;
    cancelled = 'kill';
    if (graceTimer) clearTimeout(graceTimer);
    command.write(Control.kill);
    command.resume();
    // Last resort: the exec did not end within STUCK_AFTER_MS of SIGKILL.
    stuckTimer = setTimeout(() => void options.onStuck?.().catch(() => {}), STUCK_AFTER_MS);
  };
  const term = () => {
    if (cancelled !== 'no') return;
    cancelled = 'term';
    command.write(Control.term);
    graceTimer = setTimeout(kill, graceMs);
  };
  const onKill = () => {
    term();
    kill();
  };
  if (options.signal?.aborted) term();
  else options.signal?.addEventListener('abort', term, { once: true });
  if (options.killSignal?.aborted) onKill();
  else options.killSignal?.addEventListener('abort', onKill, { once: true });

  try {
    await done;
  } finally {
    options.signal?.removeEventListener('abort', term);
    options.killSignal?.removeEventListener('abort', onKill);
    if (graceTimer) clearTimeout(graceTimer);
    if (stuckTimer) clearTimeout(stuckTimer);
    command.close();
  }
  return { exitCode: await command.exitCode(), cancelled };
}
