/**
 * The connection to a container engine: one implementation per concern kiln uses (see system.ts,
 * images.ts, containers.ts, exec.ts, volumes.ts), bundled. createEngine makes the Docker ones; nothing
 * outside runtime/ knows Docker's API, and code that takes an Engine can be given other implementations
 * (in-memory ones in unit tests). kiln joins job containers to a network by name, or makes one bridge
 * network per job with services (networks.ts).
 */
import type DockerType from 'dockerode';
import Docker from './dockerode.js';
import { EngineUnavailableError } from '../errors.js';
import { dockerConnection } from './docker-connection.js';
import { DockerContainers } from './docker-containers.js';
import { isNetworkEndpoint, markAnswered } from './docker-errors.js';
import { DockerExec } from './docker-exec.js';
import { DockerImages } from './docker-images.js';
import { DockerKeepers } from './docker-keepers.js';
import { DockerNetworks } from './docker-networks.js';
import { DockerSystem } from './docker-system.js';
import { DockerVolumes } from './docker-volumes.js';
import type { ContainerRuntime } from './containers.js';
import type { ExecRuntime } from './exec.js';
import type { ImageRuntime } from './images.js';
import type { KeeperRuntime } from './keepers.js';
import type { NetworkRuntime } from './networks.js';
import type { EngineInfo, SystemRuntime } from './system.js';
import type { VolumeRuntime } from './volumes.js';

export type { EngineInfo } from './system.js';

export interface EngineOptions {
  /** Defaults to DOCKER_HOST, else the local socket /var/run/docker.sock. */
  readonly dockerHost?: string;
  /**
   * Whether the engine shares this host's filesystem. Default: KILN_ENGINE_REMOTE when it is `1` or `0`,
   * otherwise remote for a `tcp://` or `ssh://` DOCKER_HOST and local for a unix socket.
   */
  readonly remote?: boolean;
}

export interface Engine {
  /** Where the engine was looked for, for messages (`unix:///var/run/docker.sock`). */
  readonly endpoint: string;
  /** The unix socket of a local engine: a bind may never hand it out without opting in. */
  readonly socketPath?: string;
  /**
   * The engine does not see this host's files (another machine): host paths cannot be bind-mounted, so
   * bind sources travel to it as volumes and what jobs write back travels back.
   */
  readonly remote: boolean;
  readonly system: SystemRuntime;
  readonly images: ImageRuntime;
  readonly containers: ContainerRuntime;
  readonly exec: ExecRuntime;
  readonly volumes: VolumeRuntime;
  readonly networks: NetworkRuntime;
  /**
   * Keepers of runs and lock containers, on an engine many hosts share (keepers.ts). Absent: runs keep
   * no keeper (an engine that only tells of this host's processes, e.g. one in a unit test).
   */
  readonly keepers?: KeeperRuntime;
}

export function describeEndpoint(dockerHost: string | undefined): string {
  if (!dockerHost) return 'unix:///var/run/docker.sock';
  return dockerHost;
}

/** Whether an engine at `host` (a DOCKER_HOST value) is on another machine; see EngineOptions.remote. */
export function isRemoteHost(host: string | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const flag = env.KILN_ENGINE_REMOTE?.trim();
  if (flag === '1' || flag === 'true') return true;
  if (flag === '0' || flag === 'false') return false;
  return host !== undefined && isNetworkEndpoint(host);
}

export function createEngine(options: EngineOptions = {}): Engine {
  const host = options.dockerHost ?? process.env.DOCKER_HOST;
  const remote = options.remote ?? isRemoteHost(host);
  const endpoint = describeEndpoint(host);
  const connection = dockerConnection(host);
  const socketPath = connection.socketPath;
  let docker: DockerType;
  try {
    // Every option given, undefined ones too: docker-modem starts from its own reading of process.env and
    // lays these over it, which must not leave a tcp host of the environment under a socket given here.
    docker = new Docker({
      socketPath: undefined,
      host: undefined,
      port: undefined,
      protocol: undefined,
      ca: undefined,
      cert: undefined,
      key: undefined,
      ...connection,
    } as DockerType.DockerOptions);
  } catch (error) {
    // docker-modem reads the environment's DOCKER_HOST and DOCKER_CERT_PATH itself, and throws on them.
    throw new EngineUnavailableError(
      `cannot connect to the Docker engine at ${endpoint}: ${(error as Error).message}. ` +
        'Check DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.',
      endpoint,
      error,
    );
  }
  return {
    endpoint,
    ...(socketPath ? { socketPath } : {}),
    remote,
    system: new DockerSystem(docker, endpoint),
    images: new DockerImages(docker, endpoint),
    containers: new DockerContainers(docker, endpoint),
    exec: new DockerExec(docker, endpoint),
    volumes: new DockerVolumes(docker, endpoint),
    networks: new DockerNetworks(docker, endpoint),
    keepers: new DockerKeepers(docker, endpoint),
  };
}

export interface CheckEngineOptions {
  /** How long to wait for the engine's first answer, ms. Default 15 000. */
  readonly timeoutMs?: number;
}

/** Pings the engine; throws EngineUnavailableError (exit 3) with what to do when it does not answer. */
export async function checkEngine(engine: Engine, options: CheckEngineOptions = {}): Promise<EngineInfo> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  // A timer raced with the ping, not AbortSignal.timeout: the ping takes no signal, and an engine that
  // accepts the connection and never answers must still end in this message.
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new EngineUnavailableError(
            `the Docker engine at ${engine.endpoint} did not answer within ${timeoutMs / 1000} s. ` +
              `Check that it runs and is not overloaded (docker info), or point DOCKER_HOST at another engine.`,
            engine.endpoint,
          ),
        ),
      timeoutMs,
    );
    timer.unref();
  });
  try {
    await Promise.race([engine.system.ping(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
  markAnswered(engine.endpoint);
  return engine.system.version();
}

/** runc before 1.1.12 leaks a host fd into containers (CVE-2024-21626): a container can escape. */
export function runcWarning(info: EngineInfo): string | undefined {
  if (!info.runcVersion) return undefined;
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(info.runcVersion);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const old = major < 1 || (major === 1 && (minor < 1 || (minor === 1 && patch < 12)));
  if (!old) return undefined;
  return (
    `the engine's runc is ${info.runcVersion}, older than 1.1.12: it is open to CVE-2024-21626 ` +
    `(a container can escape through a leaked file descriptor). Upgrade runc (or Docker) on the engine's host.`
  );
}
