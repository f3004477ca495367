/** ImageRuntime on a Docker engine. */
import type Docker from 'dockerode';
import { dockerCall, unlessMissing } from './docker-errors.js';
import type { ImageRuntime } from './images.js';

export class DockerImages implements ImageRuntime {
  constructor(
    private readonly docker: Docker,
    private readonly endpoint: string,
  ) {}

  async idOf(reference: string): Promise<string | undefined> {
    const info = await unlessMissing(`inspecting image ${reference}`, this.endpoint, () =>
      this.docker.getImage(reference).inspect(),
    );
    return info?.Id;
  }

  /**
   * `docker.pull` resolves when the stream opens, and a failed pull arrives as an `error` line inside a
   * successful stream: the stream is read to its end and every line checked.
   */
  async pull(reference: string): Promise<void> {
    await dockerCall(`pulling image ${reference}`, this.endpoint, async () => {
      const stream = await this.docker.pull(reference);
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
          const failed = output?.find((line) => line.error);
          if (err || failed) reject(err ?? new Error(failed?.error));
          else resolve();
        });
      });
    });
  }
}
