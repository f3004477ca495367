/** VolumeRuntime on a Docker engine. */
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { dockerCall, dockerMessage, isConflict, isNotFound, unlessMissing } from './docker-errors.js';
import type { VolumeInfo, VolumeRuntime, VolumeUsage } from './volumes.js';

/** How long `usage()` waits, in all, for another client's disk usage operation to end. */
const DISK_USAGE_PATIENCE_MS = 30_000;

function toVolumeInfo(volume: Docker.VolumeInspectInfo): VolumeInfo {
  const createdAt = (volume as { CreatedAt?: string }).CreatedAt;
  return { name: volume.Name, labels: volume.Labels ?? {}, ...(createdAt ? { createdAt } : {}) };
}

export class DockerVolumes implements VolumeRuntime {
  constructor(
    private readonly docker: Docker,
    private readonly endpoint: string,
  ) {}

  async inspect(name: string): Promise<VolumeInfo | undefined> {
    const volume = await unlessMissing(`inspecting volume ${name}`, this.endpoint, () =>
      this.docker.getVolume(name).inspect(),
    );
    return volume && toVolumeInfo(volume);
  }

  async create(
    name: string,
    labels: Readonly<Record<string, string>>,
    description = `volume ${name}`,
  ): Promise<'created' | 'existing'> {
    try {
      await dockerCall(`creating ${description}`, this.endpoint, () =>
        this.docker.createVolume({ Name: name, Labels: { ...labels } }),
      );
      return 'created';
    } catch (error) {
      if (isConflict(error)) return 'existing';
      throw error;
    }
  }

  async list(labels: readonly string[]): Promise<VolumeInfo[]> {
    const { Volumes } = await dockerCall('listing volumes', this.endpoint, () =>
      this.docker.listVolumes({ filters: { label: [...labels] } }),
    );
    return (Volumes ?? []).map(toVolumeInfo);
  }

  async remove(name: string): Promise<'removed' | 'missing' | 'in-use'> {
    try {
      await dockerCall(`removing volume ${name}`, this.endpoint, () => this.docker.getVolume(name).remove());
      return 'removed';
    } catch (error) {
      if (isNotFound(error)) return 'missing';
      if (isConflict(error)) return 'in-use';
      throw error;
    }
  }

  async usage(): Promise<ReadonlyMap<string, VolumeUsage>> {
    const df = await dockerCall('reading the disk usage of volumes', this.endpoint, () => this.#diskUsage());
    const usage = new Map<string, VolumeUsage>();
    for (const volume of df.Volumes ?? []) {
      const data = volume.UsageData;
      if (!data) continue;
      usage.set(volume.Name, {
        ...(data.Size >= 0 ? { sizeBytes: data.Size } : {}),
        containers: data.RefCount,
      });
    }
    return usage;
  }

  /**
   * The engine's disk usage. An engine that is computing it for another client refuses a second request
   * (moby 20.10: "a disk usage operation is already running"); that request is tried again until the
   * first is done.
   */
  async #diskUsage(): Promise<{ Volumes?: Docker.VolumeInspectInfo[] | null }> {
    const until = Date.now() + DISK_USAGE_PATIENCE_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.docker.df()) as { Volumes?: Docker.VolumeInspectInfo[] | null };
      } catch (error) {
        const busy = /disk usage operation is already running/i.test(dockerMessage(error));
        if (!busy || Date.now() > until) throw error;
        await delay(Math.min(50 * 2 ** attempt, 500));
      }
    }
  }
}
