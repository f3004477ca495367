/**
 * The terminal side of `kiln run --debug` and `kiln shell`: the user's terminal handed to a shell in a
 * container and taken back. While the shell owns it, stdin is in raw mode and goes to the shell byte for
 * byte (Ctrl-C included: it reaches the shell, not kiln), the shell's output goes to stdout, and the
 * terminal's size goes to the shell at the start and on each SIGWINCH. Raw mode and the listeners are
 * undone on every path: the shell's exit, a hang-up, an engine fault, and the process exiting.
 *
 * kiln's own progress (the plain view) is written through a HeldOutput: held while a shell is open and
 * written out once it closed, so that it never lands in the middle of the shell's screen. While it is
 * held, what waits in it grows until the reporter holds the run's OutputPressure, which stops kiln from
 * reading the other jobs' output: they go on, and block on their writes only if they print a lot.
 */
import { Writable } from 'node:stream';
import { UsageError } from '../errors.js';
import type { ShellTerminal } from '../executor/debug-shell.js';
import type { TerminalSize, TtyProcess } from '../runtime/tty-exec.js';

/** Refuses at once, with what to do, when stdin or stdout is not a terminal: a shell would hang there. */
export function requireTerminal(
  command: string,
  streams: { readonly stdin: { isTTY?: boolean }; readonly stdout: { isTTY?: boolean } } = process,
): void {
  if (streams.stdin.isTTY && streams.stdout.isTTY) return;
  const which = !streams.stdin.isTTY
    ? !streams.stdout.isTTY
      ? 'stdin and stdout are'
      : 'stdin is'
    : 'stdout is';
  throw new UsageError(
    `${command} needs a terminal: it opens an interactive shell, and ${which} not a terminal here ` +
      `(a pipe, a file or CI). Run it in a terminal${command.startsWith('kiln run') ? ', or without --debug' : ''}.`,
  );
}

/** A stream to stdout that can be held: what is written meanwhile waits, in order, until release. */
export class HeldOutput extends Writable {
  readonly #target: NodeJS.WritableStream;
  #held = false;
  #waiting: Array<() => void> = [];

  constructor(target: NodeJS.WritableStream = process.stdout) {
    super({ decodeStrings: false });
    this.#target = target;
  }

  override _write(
    chunk: Buffer | string,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ) {
    const go = () => {
      this.#target.write(chunk, (error?: Error | null) => callback(error ?? null));
    };
    if (this.#held) this.#waiting.push(go);
    else go();
  }

  /** Resolves once what was written before has reached the target; later writes wait. */
  async hold(): Promise<void> {
    // Polled: the target (a terminal) takes what is written at once unless the user paused it.
    while (this.writableLength > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    this.#held = true;
  }

  /** Writes out what waited, and lets later writes through. */
  release(): void {
    this.#held = false;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const go of waiting) go();
  }
}

/** What a shell that kiln hung up counts as: killed by SIGHUP. */
const HUNG_UP = 129;

type TtyIn = NodeJS.ReadStream & { setRawMode?: (mode: boolean) => unknown; isRaw?: boolean };
type TtyOut = NodeJS.WriteStream;

/** The process's terminal, handed to one shell at a time (the executor sees to one at a time). */
export class ProcessTerminal implements ShellTerminal {
  readonly #output: HeldOutput | undefined;
  readonly #stdin: TtyIn;
  readonly #stdout: TtyOut;

  constructor(options: { output?: HeldOutput; stdin?: TtyIn; stdout?: TtyOut } = {}) {
    this.#output = options.output;
    this.#stdin = options.stdin ?? process.stdin;
    this.#stdout = options.stdout ?? process.stdout;
  }

  #size(): TerminalSize {
    const [columns, rows] = this.#stdout.getWindowSize?.() ?? [80, 24];
    return { columns: columns || 80, rows: rows || 24 };
  }

  async attach(start: (size: TerminalSize) => Promise<TtyProcess>, signal: AbortSignal): Promise<number> {
    const stdin = this.#stdin;
    const stdout = this.#stdout;
    await this.#output?.hold();
    let shell: TtyProcess | undefined;
    const onData = (data: Buffer) => shell?.write(data);
    const onResize = () => {
      if (shell) void shell.resize(this.#size()).catch(() => {});
    };
    const onAbort = () => shell?.close();
    const restore = () => {
      stdin.off('data', onData);
      if (stdin.isRaw) stdin.setRawMode?.(false);
      stdin.pause();
      process.off('SIGWINCH', onResize);
      process.off('exit', restore);
      signal.removeEventListener('abort', onAbort);
    };
    try {
      shell = await start(this.#size());
      process.once('exit', restore);
      stdin.setRawMode?.(true);
      stdin.on('data', onData);
      stdin.resume();
      process.on('SIGWINCH', onResize);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      await shell
        .read((chunk) => stdout.write(chunk))
        .catch((error: unknown) => {
          if (!signal.aborted) throw error;
        });
      // Hung up: the shell's end is not waited for; removing its container ends it.
      return signal.aborted ? HUNG_UP : await shell.exitCode();
    } finally {
      restore();
      shell?.close();
      this.#output?.release();
    }
  }
}
