/**
 * One exec into a running container: started, its output demultiplexed and handed on as it comes, its
 * exit code read when it ends. Steps run under the step wrapper (step-wrapper.ts) with stdin kept open
 * as a control channel, so that cancellation can reach them.
 */
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import type { OutputPressure } from '../output-pressure.js';
import { Demuxer, type ChunkListener } from './demux.js';
import { translate } from './docker-errors.js';
import { Control, wrapStep } from './step-wrapper.js';

export interface ExecOptions {
  readonly argv: readonly string[];
  /** `NAME=value` pairs for this exec only. */
  readonly env?: Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly user?: string;
  readonly onOutput?: ChunkListener;
  /** Bytes written to the exec's stdin, then stdin is closed. (Not with `wrapped`.) */
  readonly stdin?: Buffer;
}

export interface StepExecOptions extends Omit<ExecOptions, 'stdin'> {
  /** Env vars whose values the wrapper reads from files in the container (secrets). */
  readonly envFromFiles?: Readonly<Record<string, string>>;
  /** Files the wrapper removes if kiln goes away while the step runs (its secret files). Default none. */
  readonly removeWhenAbandoned?: readonly string[];
  /** Aborted: SIGTERM to the step's processes, then after `graceMs` SIGKILL. */
  readonly signal?: AbortSignal;
  /** Aborted: SIGKILL now. */
  readonly killSignal?: AbortSignal;
  /** Grace period between SIGTERM and SIGKILL, ms. Default 10 000. */
  readonly graceMs?: number;
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

async function startExec(
  container: Docker.Container,
  options: ExecOptions,
  endpoint: string,
): Promise<{ exec: Docker.Exec; stream: Duplex }> {
  const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
  try {
    const exec = await container.exec({
      Cmd: [...options.argv],
      Env: env,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      ...(options.workdir ? { WorkingDir: options.workdir } : {}),
      ...(options.user ? { User: options.user } : {}),
    });
    const stream = (await exec.start({ hijack: true, stdin: true, Tty: false })) as unknown as Duplex;
    return { exec, stream };
  } catch (error) {
    throw translate(error, `starting a command in container ${container.id.slice(0, 12)}`, endpoint);
  }
}

async function exitCodeOf(exec: Docker.Exec, endpoint: string): Promise<number> {
  // The stream can end a moment before the engine records the exit code.
  for (let attempt = 0; ; attempt++) {
    let info: Docker.ExecInspectInfo;
    try {
      info = await exec.inspect();
    } catch (error) {
      throw translate(error, 'reading an exit code', endpoint);
    }
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    await new Promise((r) => setTimeout(r, Math.min(5 * 2 ** attempt, 100)));
  }
}

/**
 * Reads an exec's multiplexed output to its end. While `pressure` is held, reading pauses: the engine
 * stops reading the process's pipes in turn, and the process blocks on its writes. `pressure` is
 * consulted at each chunk, so a getter that returns undefined ends the flow control.
 */
function pump(
  stream: Duplex,
  onOutput: ChunkListener | undefined,
  pressure: () => OutputPressure | undefined = () => undefined,
): Promise<void> {
  const demux = new Demuxer(onOutput ?? (() => {}));
  return new Promise<void>((resolve, reject) => {
    stream.on('data', (data: Buffer) => {
      demux.push(data);
      const current = pressure();
      if (current?.held && !stream.isPaused()) {
        stream.pause();
        void current.whenClear().then(() => stream.resume());
      }
    });
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', reject);
  });
}

/** Runs a plain exec to its end (kiln's own housekeeping commands, secret writes). */
export async function runExec(
  container: Docker.Container,
  options: ExecOptions,
  endpoint: string,
): Promise<number> {
  const { exec, stream } = await startExec(container, options, endpoint);
  const done = pump(stream, options.onOutput);
  if (options.stdin) stream.write(options.stdin);
  stream.end();
  await done.catch((error) => {
    throw translate(error, 'reading a command output', endpoint);
  });
  return exitCodeOf(exec, endpoint);
}

/** Runs a step under the wrapper, relaying cancellation as SIGTERM, then SIGKILL after the grace period. */
export async function runStepExec(
  container: Docker.Container,
  options: StepExecOptions,
  endpoint: string,
): Promise<ExecResult> {
  const graceMs = options.graceMs ?? 10_000;
  const argv = wrapStep({
    argv: options.argv,
    ...(options.envFromFiles ? { envFromFiles: options.envFromFiles } : {}),
    ...(options.removeWhenAbandoned ? { removeWhenAbandoned: options.removeWhenAbandoned } : {}),
  });
  const env = { ...options.env, KILN_GRACE_S: String(Math.max(1, Math.ceil(graceMs / 1000))) };
  const { exec, stream } = await startExec(container, { ...options, argv, env }, endpoint);
  let cancelled: ExecResult['cancelled'] = 'no';
  // Once a step is being killed, its last output is read whatever the readers' pace, so that the step
  // ends and its job's resources are released even when nobody reads kiln's output any more.
  const done = pump(stream, options.onOutput, () => (cancelled === 'kill' ? undefined : options.pressure));

  let graceTimer: NodeJS.Timeout | undefined;
  let stuckTimer: NodeJS.Timeout | undefined;
  const send = (line: string) => {
    if (!stream.destroyed && stream.writable) stream.write(line);
  };
  const kill = () => {
    if (cancelled === 'kill') return;
    cancelled = 'kill';
    if (graceTimer) clearTimeout(graceTimer);
    send(Control.kill);
    stream.resume();
    // Last resort: the exec did not end within 5 s of SIGKILL.
    stuckTimer = setTimeout(() => void options.onStuck?.().catch(() => {}), 5_000);
  };
  const term = () => {
    if (cancelled !== 'no') return;
    cancelled = 'term';
    send(Control.term);
    graceTimer = setTimeout(kill, graceMs);
  };
  const onAbort = () => term();
  const onKill = () => {
    term();
    kill();
  };
  if (options.signal?.aborted) term();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.killSignal?.aborted) onKill();
  else options.killSignal?.addEventListener('abort', onKill, { once: true });

  try {
    await done;
  } catch (error) {
    throw translate(error, 'reading a step output', endpoint);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    options.killSignal?.removeEventListener('abort', onKill);
    if (graceTimer) clearTimeout(graceTimer);
    if (stuckTimer) clearTimeout(stuckTimer);
    stream.destroy();
  }
  return { exitCode: await exitCodeOf(exec, endpoint), cancelled };
}
