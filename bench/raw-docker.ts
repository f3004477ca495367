/**
 * The raw ways, straight on dockerode: what a user would write without kiln. Everything they create is
 * labelled `dev.kiln.managed=true` and `dev.kiln.bench=1`, and removeBenchResources removes it all.
 *
 * They also carry the owner labels of a run-scoped resource (this process's pid and host, scope `run`):
 * a `kiln prune` or a kiln run's sweep elsewhere on the machine then leaves them alone while the bench
 * runs (it would otherwise remove them mid-measurement), and sweeps them if the bench dies.
 */
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { Label, ownerIsGone, ownerLabels } from '../src/labels.js';

export const BENCH_IMAGE = 'kiln-fixture/busybox:latest';

export const BENCH_LABELS: Readonly<Record<string, string>> = {
  ...ownerLabels(`bench-${process.pid}`),
  [Label.scope]: 'run',
  'dev.kiln.bench': '1',
};

/** PID 1 of a long-lived container: sleeps until stopped; TERM ends it at once. */
const KEEPALIVE = 'trap "exit 0" TERM INT; while :; do sleep 86400 & wait $!; done';

export interface KeepaliveOptions {
  /** `HostConfig.Mounts`. Default none. */
  readonly mounts?: readonly Docker.MountSettings[];
  readonly image?: string;
}

/** Creates and starts a container that stays up until removed. */
export async function startKeepalive(
  docker: Docker,
  options: KeepaliveOptions = {},
): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: options.image ?? BENCH_IMAGE,
    Entrypoint: ['/bin/sh', '-c', KEEPALIVE],
    Labels: { ...BENCH_LABELS },
    HostConfig: { ...(options.mounts ? { Mounts: [...options.mounts] } : {}) },
  });
  try {
    await container.start();
  } catch (error) {
    await container.remove({ force: true, v: true }).catch(() => {});
    throw error;
  }
  return container;
}

export interface ExecOutcome {
  readonly exitCode: number;
  /** Bytes read from the attach stream (frames with their 8-byte headers). */
  readonly bytes: number;
}

export interface ExecToEndOptions {
  /** Attach stdin and hold it open until the exec ends (kiln's step wrapper needs that). Default false. */
  readonly holdStdin?: boolean;
  /** `NAME=value` pairs. */
  readonly env?: readonly string[];
}

/** One exec: create, start, read the attach stream to its end, inspect until the exit code is known. */
export async function execToEnd(
  container: Docker.Container,
  argv: readonly string[],
  options: ExecToEndOptions = {},
): Promise<ExecOutcome> {
  const stdin = options.holdStdin ?? false;
  const exec = await container.exec({
    Cmd: [...argv],
    AttachStdin: stdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    ...(options.env ? { Env: [...options.env] } : {}),
  });
  const stream = (await exec.start({ hijack: true, stdin })) as unknown as Duplex;
  try {
    const bytes = await new Promise<number>((resolve, reject) => {
      let count = 0;
      stream.on('data', (chunk: Buffer) => {
        count += chunk.length;
      });
      stream.once('end', () => resolve(count));
      stream.once('close', () => resolve(count));
      stream.once('error', reject);
    });
    for (;;) {
      const info = await exec.inspect();
      if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) {
        return { exitCode: info.ExitCode, bytes };
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } finally {
    stream.destroy();
  }
}

/** A container for one command: create, start, wait, remove. Returns its exit code. */
export async function runContainerOnce(docker: Docker, argv: readonly string[]): Promise<number> {
  const container = await docker.createContainer({
    Image: BENCH_IMAGE,
    Cmd: [...argv],
    Labels: { ...BENCH_LABELS },
  });
  try {
    await container.start();
    const result = (await container.wait()) as { StatusCode: number };
    return result.StatusCode;
  } finally {
    await container.remove({ force: true, v: true });
  }
}

/** Creates a named volume; the engine answers with the existing one when it is there already. */
export async function ensureVolume(docker: Docker, name: string): Promise<void> {
  await docker.createVolume({ Name: name, Labels: { ...BENCH_LABELS } });
}

/**
 * Removes the containers and volumes the baselines of this process made; with `orphans`, instead those
 * that benches which died left behind (their owner process is gone).
 */
export async function removeBenchResources(
  docker: Docker,
  options: { readonly orphans?: boolean } = {},
): Promise<number> {
  const filters = {
    label: options.orphans ? ['dev.kiln.bench=1'] : [`${Label.run}=${BENCH_LABELS[Label.run]}`],
  };
  const chosen = (labels: Record<string, string> | undefined) => !options.orphans || ownerIsGone(labels);
  const containers = (await docker.listContainers({ all: true, filters })).filter((c) => chosen(c.Labels));
  await Promise.all(
    containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(ignoreGone)),
  );
  const volumes = ((await docker.listVolumes({ filters })).Volumes ?? []).filter((v) => chosen(v.Labels));
  await Promise.all(volumes.map((v) => docker.getVolume(v.Name).remove().catch(ignoreGone)));
  return containers.length + volumes.length;
}

/** Removes the volumes kiln made for a project (its caches, kept across runs by design). */
export async function removeProjectVolumes(docker: Docker, project: string): Promise<number> {
  const volumes =
    (await docker.listVolumes({ filters: { label: [`dev.kiln.project=${project}`] } })).Volumes ?? [];
  await Promise.all(volumes.map((v) => docker.getVolume(v.Name).remove().catch(ignoreGone)));
  return volumes.length;
}

/** Gone already (404), or being removed by someone else (409, e.g. a concurrent prune). */
function ignoreGone(error: unknown): void {
  const status = (error as { statusCode?: number }).statusCode;
  if (status !== 404 && status !== 409) throw error;
}
