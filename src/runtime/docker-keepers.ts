/** Keepers and lock containers on Docker (see keepers.ts). */
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { Label } from '../labels.js';
import { dockerCall, isConflict, isNotFound, unlessMissing } from './docker-errors.js';
import type { EngineLockHandle, Keeper, KeeperRuntime, KeeperSpec, LockContainerState } from './keepers.js';

export class DockerKeepers implements KeeperRuntime {
  constructor(
    private readonly docker: Docker,
    private readonly endpoint: string,
  ) {}

  async start(spec: KeeperSpec): Promise<Keeper> {
    const container = await dockerCall(`creating the run's keeper ${spec.name}`, this.endpoint, () =>
      this.docker.createContainer({
        name: spec.name,
        Image: spec.image,
        // The shell reads its script from stdin: nothing comes, and it exits when stdin ends.
        Entrypoint: ['/bin/sh'],
        Cmd: [],
        Labels: { ...spec.labels },
        Tty: false,
        OpenStdin: true,
        StdinOnce: true,
        AttachStdin: true,
        AttachStdout: false,
        AttachStderr: false,
        NetworkDisabled: true,
        HostConfig: { AutoRemove: true, NetworkMode: 'none', Init: false },
      }),
    );
    let stream: Duplex | undefined;
    const release = async (): Promise<void> => {
      stream?.end();
      stream?.destroy();
      stream = undefined;
      await this.#remove(container.id);
    };
    try {
      stream = (await dockerCall(`attaching to the run's keeper ${spec.name}`, this.endpoint, () =>
        container.attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true }),
      )) as unknown as Duplex;
      // A broken connection ends the keeper, which is what it is for; nothing to report here.
      stream.on('error', () => {});
      // Nothing comes back (no stdout is attached), but a stream that is not read never ends, and over
      // ssh its channel, and so the ssh connection, would then stay open after release.
      stream.resume();
      // The run keeps the process alive; its keeper's connection alone must not (a path that forgot to
      // release it would otherwise hang kiln's exit).
      (stream as Duplex & { unref?: () => void }).unref?.();
      await dockerCall(`starting the run's keeper ${spec.name}`, this.endpoint, () => container.start());
    } catch (error) {
      await release().catch(() => {});
      throw error;
    }
    return { name: spec.name, image: spec.image, release };
  }

  async live(): Promise<ReadonlySet<string>> {
    const running = await dockerCall('listing the keepers of runs', this.endpoint, () =>
      this.docker.listContainers({
        all: false,
        filters: { label: [`${Label.managed}=true`, `${Label.scope}=keeper`], status: ['running'] },
      }),
    );
    return new Set(running.flatMap((c) => c.Names.map((n) => n.replace(/^\//, ''))));
  }

  async createLock(
    name: string,
    image: string,
    labels: Readonly<Record<string, string>>,
  ): Promise<{ readonly held: EngineLockHandle } | { readonly taken: LockContainerState | undefined }> {
    let id: string;
    try {
      const container = await dockerCall(`taking the lock ${name}`, this.endpoint, () =>
        this.docker.createContainer({
          name,
          Image: image,
          Entrypoint: ['/bin/sh'],
          Cmd: [],
          Labels: { ...labels },
          NetworkDisabled: true,
          HostConfig: { NetworkMode: 'none' },
        }),
      );
      id = container.id;
    } catch (error) {
      if (!isConflict(error)) throw error;
      const info = await unlessMissing(`inspecting the lock ${name}`, this.endpoint, () =>
        this.docker.getContainer(name).inspect(),
      );
      return { taken: info ? { id: info.Id, labels: info.Config.Labels ?? {} } : undefined };
    }
    let released = false;
    return {
      held: {
        name,
        release: async () => {
          if (released) return;
          released = true;
          await this.#remove(id);
        },
      },
    };
  }

  async removeLock(id: string): Promise<void> {
    await this.#remove(id);
  }

  async #remove(id: string): Promise<void> {
    try {
      await dockerCall(`removing container ${id.slice(0, 12)}`, this.endpoint, () =>
        this.docker.getContainer(id).remove({ force: true, v: true }),
      );
    } catch (error) {
      // Gone already, or the engine is removing it (AutoRemove) at this moment.
      if (isNotFound(error) || isConflict(error)) return;
      throw error;
    }
  }
}
