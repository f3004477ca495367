/**
 * Commands exec'd into a running container: started with stdin open, their output handed on as it comes
 * (stdout and stderr apart), their exit code read when they end. run-exec.ts runs kiln's own commands and
 * steps on top of this.
 */
import type { TtyExecSpec, TtyProcess } from './tty-exec.js';

export type OutputStream = 'stdout' | 'stderr';
export type ChunkListener = (stream: OutputStream, chunk: Buffer) => void;

export interface ExecSpec {
  readonly argv: readonly string[];
  /** `NAME=value` pairs for this exec only. */
  readonly env?: Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly user?: string;
  /** The command as named in messages. Default `a command`. */
  readonly description?: string;
}

/** A started exec. */
export interface ExecProcess {
  /** Reads the output to its end, handing each chunk to `listener`; resolves when it ends. Call once. */
  read(listener: ChunkListener): Promise<void>;
  /** Writes to the command's stdin while it is open; ignored once it is closed. */
  write(data: string | Buffer): void;
  /** Closes the command's stdin. */
  closeInput(): void;
  /** Stops reading the output for now: the command blocks on its writes once the pipes are full. */
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /** The exit code, once the output has ended. */
  exitCode(): Promise<number>;
  /** Lets go of the connection (the command's stdin closes). */
  close(): void;
}

export interface ExecRuntime {
  start(containerId: string, spec: ExecSpec): Promise<ExecProcess>;
  /** An interactive command on a pseudo-terminal (see tty-exec.ts), where the engine can make one. */
  startTty?(containerId: string, spec: TtyExecSpec): Promise<TtyProcess>;
}
