/** ContainerRuntime on a Docker engine. */
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { dockerCall, isConflict, isNotFound, unlessMissing } from './docker-errors.js';
import type { ContainerRuntime, ContainerSpec, ContainerState, ContainerSummary } from './containers.js';
import { Demuxer } from './demux.js';
import type { ChunkListener } from './exec.js';

const short = (id: string) => id.slice(0, 12);

export class DockerContainers implements ContainerRuntime {
  constructor(
    private readonly docker: Docker,
    private readonly endpoint: string,
  ) {}

  async create(spec: ContainerSpec): Promise<string> {
    const container = await dockerCall(`creating ${spec.description ?? 'a container'}`, this.endpoint, () =>
      this.docker.createContainer({
        Image: spec.image,
        ...(spec.name ? { name: spec.name } : {}),
        ...(spec.entrypoint ? { Entrypoint: [...spec.entrypoint] } : {}),
        ...(spec.cmd ? { Cmd: [...spec.cmd] } : {}),
        ...(spec.env ? { Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`) } : {}),
        ...(spec.user ? { User: spec.user } : {}),
        Labels: { ...spec.labels },
        Tty: false,
        OpenStdin: false,
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        ...(spec.stopTimeoutS !== undefined ? { StopTimeout: spec.stopTimeoutS } : {}),
        ...(spec.networkDisabled ? { NetworkDisabled: true } : {}),
        HostConfig: {
          Mounts: spec.mounts.map((m) => ({ ...m })) as Docker.MountSettings[],
          ...(spec.tmpfs ? { Tmpfs: { ...spec.tmpfs } } : {}),
          ...(spec.network ? { NetworkMode: spec.network } : {}),
          Init: false,
        },
        ...(spec.network && spec.networkAliases?.length
          ? {
              NetworkingConfig: {
                EndpointsConfig: { [spec.network]: { Aliases: [...spec.networkAliases] } },
              },
            }
          : {}),
      }),
    );
    return container.id;
  }

  async start(id: string, description = `container ${short(id)}`): Promise<void> {
    await dockerCall(`starting ${description}`, this.endpoint, () => this.docker.getContainer(id).start());
  }

  async inspect(idOrName: string): Promise<ContainerState | undefined> {
    const info = await unlessMissing(`inspecting container ${idOrName}`, this.endpoint, () =>
      this.docker.getContainer(idOrName).inspect(),
    );
    if (!info) return undefined;
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      imageId: info.Image,
      imageReference: info.Config.Image,
      running: info.State.Running,
      labels: info.Config.Labels ?? {},
      ...(!info.State.Running && info.State.FinishedAt && !info.State.FinishedAt.startsWith('0001')
        ? { exitCode: info.State.ExitCode }
        : {}),
    };
  }

  async stop(id: string, timeoutS: number): Promise<void> {
    await dockerCall(`stopping container ${short(id)}`, this.endpoint, () =>
      this.docker.getContainer(id).stop({ t: timeoutS }),
    );
  }

  async remove(id: string, description = `container ${short(id)}`): Promise<'removed' | 'missing'> {
    try {
      await dockerCall(`removing ${description}`, this.endpoint, () =>
        this.docker.getContainer(id).remove({ force: true, v: true }),
      );
      return 'removed';
    } catch (error) {
      // Gone already, or another client is removing it at this moment (409 "removal already in progress").
      if (isNotFound(error) || (isConflict(error) && /already in progress/i.test((error as Error).message)))
        return 'missing';
      throw error;
    }
  }

  async list(labels: readonly string[]): Promise<ContainerSummary[]> {
    const containers = await dockerCall('listing containers', this.endpoint, () =>
      this.docker.listContainers({ all: true, filters: { label: [...labels] } }),
    );
    return containers.map((c) => ({
      id: c.Id,
      name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''),
      labels: c.Labels ?? {},
    }));
  }

  async follow(id: string, listener: ChunkListener, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const stream = (await dockerCall(`reading the output of container ${short(id)}`, this.endpoint, () =>
      this.docker.getContainer(id).logs({ follow: true, stdout: true, stderr: true }),
    )) as unknown as Readable;
    const demux = new Demuxer(listener);
    await new Promise<void>((resolve) => {
      const stop = () => stream.destroy();
      signal.addEventListener('abort', stop, { once: true });
      stream.on('data', (chunk: Buffer) => demux.push(chunk));
      stream.on('close', () => {
        signal.removeEventListener('abort', stop);
        resolve();
      });
      stream.on('end', () => stream.destroy());
      stream.on('error', () => stream.destroy());
    });
  }

  async archive(id: string, path: string): Promise<Readable> {
    return dockerCall(`reading ${path} out of container ${short(id)}`, this.endpoint, async () => {
      return (await this.docker.getContainer(id).getArchive({ path })) as unknown as Readable;
    });
  }

  async putArchive(id: string, path: string, tar: Readable): Promise<void> {
    await dockerCall(`writing into ${path} of container ${short(id)}`, this.endpoint, async () => {
      await this.docker.getContainer(id).putArchive(tar as never, { path });
    });
  }
}
