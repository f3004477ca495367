/** NetworkRuntime on a Docker engine. */
import type Docker from 'dockerode';
import { dockerCall, isConflict, isNotFound } from './docker-errors.js';
import type { NetworkRuntime, NetworkSummary } from './networks.js';

export class DockerNetworks implements NetworkRuntime {
  constructor(
    private readonly docker: Docker,
    private readonly endpoint: string,
  ) {}

  async create(name: string, labels: Readonly<Record<string, string>>): Promise<string> {
    const network = await dockerCall(`creating network ${name}`, this.endpoint, () =>
      this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: { ...labels },
      }),
    );
    return network.id;
  }

  async remove(idOrName: string): Promise<'removed' | 'missing' | 'in-use'> {
    try {
      await dockerCall(`removing network ${idOrName}`, this.endpoint, () =>
        this.docker.getNetwork(idOrName).remove(),
      );
      return 'removed';
    } catch (error) {
      if (isNotFound(error)) return 'missing';
      // 403 (Docker 20.10) or 409: "has active endpoints".
      if (isConflict(error) || /active endpoints/i.test((error as Error).message)) return 'in-use';
      throw error;
    }
  }

  async list(labels: readonly string[]): Promise<NetworkSummary[]> {
    const networks = await dockerCall('listing networks', this.endpoint, () =>
      this.docker.listNetworks({ filters: { label: [...labels] } }),
    );
    return networks.map((n) => ({ id: n.Id, name: n.Name, labels: n.Labels ?? {} }));
  }
}
