/**
 * ExecRuntime on a Docker engine. A non-TTY exec's output is one multiplexed stream (see demux.ts); its
 * exit code is read by inspecting the exec once the stream has ended.
 */
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { Demuxer } from './demux.js';
import { dockerCall, translate } from './docker-errors.js';
import type { ChunkListener, ExecProcess, ExecRuntime, ExecSpec } from './exec.js';
import { startDockerTty } from './docker-tty-exec.js';
import type { TtyExecSpec, TtyProcess } from './tty-exec.js';

class DockerExecProcess implements ExecProcess {
  constructor(
    private readonly exec: Docker.Exec,
    private readonly stream: Duplex,
    private readonly description: string,
    private readonly endpoint: string,
  ) {}

  read(listener: ChunkListener): Promise<void> {
    const demux = new Demuxer(listener);
    const done = new Promise<void>((resolve, reject) => {
      this.stream.on('data', (data: Buffer) => demux.push(data));
      this.stream.once('end', resolve);
      this.stream.once('close', resolve);
      this.stream.once('error', reject);
    });
    return done.catch((error: unknown) => {
      throw translate(error, `reading the output of ${this.description}`, this.endpoint);
    });
  }

  write(data: string | Buffer): void {
    if (!this.stream.destroyed && this.stream.writable) this.stream.write(data);
  }

  closeInput(): void {
    this.stream.end();
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  get paused(): boolean {
    return this.stream.isPaused();
  }

  exitCode(): Promise<number> {
    return execExitCode(this.exec, this.endpoint);
  }

  close(): void {
    this.stream.destroy();
  }
}

/** An exec's exit code, once the engine has recorded it: its stream can end a moment before. */
export async function execExitCode(exec: Docker.Exec, endpoint: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const info = await dockerCall('reading an exit code', endpoint, () => exec.inspect());
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    await delay(Math.min(5 * 2 ** attempt, 100));
  }
}

/**
 * Creates and starts the exec of `spec` in a container, stdin, stdout and stderr attached, hijacked: the
 * exec and its one stream, both ways (multiplexed unless `tty`). `description` names it in errors.
 */
export function startAttachedExec(
  docker: Docker,
  endpoint: string,
  containerId: string,
  spec: ExecSpec,
  description: string,
  tty: boolean,
): Promise<{ readonly exec: Docker.Exec; readonly stream: Duplex }> {
  const env = Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`);
  return dockerCall(
    `starting ${description} in container ${containerId.slice(0, 12)}`,
    endpoint,
    async () => {
      const exec = await docker.getContainer(containerId).exec({
        Cmd: [...spec.argv],
        Env: env,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: tty,
        ...(spec.workdir ? { WorkingDir: spec.workdir } : {}),
        ...(spec.user ? { User: spec.user } : {}),
      });
      const stream = (await exec.start({ hijack: true, stdin: true, Tty: tty })) as unknown as Duplex;
      return { exec, stream };
    },
  );
}

export class DockerExec implements ExecRuntime {
  constructor(
    private readonly docker: Docker,
    private readonly endpoint: string,
  ) {}

  async start(containerId: string, spec: ExecSpec): Promise<ExecProcess> {
    const description = spec.description ?? 'a command';
    const started = await startAttachedExec(
      this.docker,
      this.endpoint,
      containerId,
      spec,
      description,
      false,
    );
    return new DockerExecProcess(started.exec, started.stream, description, this.endpoint);
  }

  startTty(containerId: string, spec: TtyExecSpec): Promise<TtyProcess> {
    return startDockerTty(this.docker, this.endpoint, containerId, spec);
  }
}
