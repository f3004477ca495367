/** SystemRuntime on a Docker engine. */
import type Docker from 'dockerode';
import { dockerCall, unreachableError } from './docker-errors.js';
import type { EngineInfo, SystemRuntime } from './system.js';

export class DockerSystem implements SystemRuntime {
  constructor(
    private readonly docker: Docker,
    private readonly endpoint: string,
  ) {}

  /** Any failure of the first call to an engine means it cannot be reached, whatever answered before. */
  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw unreachableError(this.endpoint, error, { answeredBefore: false });
    }
  }

  async version(): Promise<EngineInfo> {
    const v = (await dockerCall('asking the engine its version', this.endpoint, () =>
      this.docker.version(),
    )) as unknown as {
      Version: string;
      ApiVersion: string;
      Components?: Array<{ Name: string; Version: string }>;
    };
    const runc = v.Components?.find((c) => c.Name.toLowerCase() === 'runc');
    return { version: v.Version, apiVersion: v.ApiVersion, ...(runc ? { runcVersion: runc.Version } : {}) };
  }
}
