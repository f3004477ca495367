/**
 * TtyExecRuntime on a Docker engine (see tty-exec.ts): an exec created with `Tty: true` and stdin
 * attached, started hijacked, so that one raw stream carries both ways. Engines before API 1.42 take no
 * size at the start, so the size is sent with the exec resize call as soon as the command runs (the
 * engine refuses it for a moment after the start, hence a few tries), and again on each change.
 */
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { dockerCall, translate } from './docker-errors.js';
import { execExitCode, startAttachedExec } from './docker-exec.js';
import type { TerminalSize, TtyExecSpec, TtyProcess } from './tty-exec.js';

/** Tries of the first resize while the engine has not started the command yet. */
const FIRST_RESIZE_TRIES = 10;

class DockerTtyProcess implements TtyProcess {
  constructor(
    private readonly exec: Docker.Exec,
    private readonly stream: Duplex,
    private readonly endpoint: string,
  ) {}

  read(listener: (chunk: Buffer) => void): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.stream.on('data', (data: Buffer) => listener(data));
      this.stream.once('end', resolve);
      this.stream.once('close', resolve);
      this.stream.once('error', reject);
    });
    return done.catch((error: unknown) => {
      throw translate(error, 'reading the output of a shell', this.endpoint);
    });
  }

  write(data: string | Buffer): void {
    if (!this.stream.destroyed && this.stream.writable) this.stream.write(data);
  }

  async resize(size: TerminalSize): Promise<void> {
    await dockerCall('resizing the terminal of a shell', this.endpoint, () =>
      this.exec.resize({ h: Math.max(1, size.rows), w: Math.max(1, size.columns) }),
    );
  }

  /** The first resize, retried while the engine says the command has not started yet. */
  async firstResize(size: TerminalSize): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.resize(size);
      } catch (error) {
        if (attempt >= FIRST_RESIZE_TRIES) throw error;
        await delay(10 * attempt);
      }
    }
  }

  exitCode(): Promise<number> {
    return execExitCode(this.exec, this.endpoint);
  }

  close(): void {
    this.stream.destroy();
  }
}

export async function startDockerTty(
  docker: Docker,
  endpoint: string,
  containerId: string,
  spec: TtyExecSpec,
): Promise<TtyProcess> {
  const description = spec.description ?? 'a shell';
  const { exec, stream } = await startAttachedExec(docker, endpoint, containerId, spec, description, true);
  const started = new DockerTtyProcess(exec, stream, endpoint);
  // A shell that cannot learn its size still works (at 80x24): that is no reason to fail.
  await started.firstResize(spec.size).catch(() => {});
  return started;
}
