/**
 * An interactive command in a running container: a TTY exec with stdin attached, as `docker exec -it`
 * makes. The container's pseudo-terminal turns the bytes typed into the command's input and its output
 * into one raw stream (no stdout/stderr split, no multiplexing); the terminal's size is told at the start
 * and again whenever it changes. docker-tty-exec.ts makes it on a Docker engine.
 */
import type { ExecSpec } from './exec.js';

/** A terminal's size in character cells. */
export interface TerminalSize {
  readonly columns: number;
  readonly rows: number;
}

export interface TtyExecSpec extends ExecSpec {
  /** The size of the user's terminal, told to the container's pseudo-terminal once the command runs. */
  readonly size: TerminalSize;
}

/** A started TTY exec. */
export interface TtyProcess {
  /** Hands each chunk the command writes to its terminal to `listener`; resolves when the output ends. */
  read(listener: (chunk: Buffer) => void): Promise<void>;
  /** Bytes typed by the user: the command's terminal input. Ignored once the command ended. */
  write(data: Buffer | string): void;
  /** Tells the command's terminal its new size (SIGWINCH reaches the command). */
  resize(size: TerminalSize): Promise<void>;
  /** The exit code, once the output has ended. */
  exitCode(): Promise<number>;
  /** Lets go of the connection: the engine hangs the terminal up, and the command gets SIGHUP. */
  close(): void;
}

export interface TtyExecRuntime {
  startTty(containerId: string, spec: TtyExecSpec): Promise<TtyProcess>;
}
