/**
 * The connection to a Docker engine: which endpoint, whether it answers, and what it runs.
 */
import Docker from 'dockerode';
import { EngineUnavailableError } from '../errors.js';
import { markAnswered, translate, unreachableError } from './docker-errors.js';

export interface EngineOptions {
  /** Defaults to DOCKER_HOST, else the local socket /var/run/docker.sock. */
  readonly dockerHost?: string;
}

export interface Engine {
  readonly docker: Docker;
  /** Where the engine was looked for, for messages (`unix:///var/run/docker.sock`). */
  readonly endpoint: string;
}

export interface EngineInfo {
  readonly version: string;
  readonly apiVersion: string;
  /** The runc version, when the engine says it. */
  readonly runcVersion?: string;
}

export function describeEndpoint(dockerHost: string | undefined): string {
  if (!dockerHost) return 'unix:///var/run/docker.sock';
  return dockerHost;
}

export function createEngine(options: EngineOptions = {}): Engine {
  const host = options.dockerHost ?? process.env.DOCKER_HOST;
  let docker: Docker;
  if (host && host.startsWith('unix://')) docker = new Docker({ socketPath: host.slice('unix://'.length) });
  else if (host)
    docker = new Docker(); // dockerode reads DOCKER_HOST (tcp, ssh) and DOCKER_TLS_VERIFY itself
  else docker = new Docker({ socketPath: '/var/run/docker.sock' });
  return { docker, endpoint: describeEndpoint(host) };
}

export interface CheckEngineOptions {
  /** How long to wait for the engine's first answer, ms. Default 15 000. */
  readonly timeoutMs?: number;
}

/** Pings the engine; throws EngineUnavailableError (exit 3) with what to do when it does not answer. */
export async function checkEngine(engine: Engine, options: CheckEngineOptions = {}): Promise<EngineInfo> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  let timer: NodeJS.Timeout | undefined;
  try {
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
    await Promise.race([engine.docker.ping(), timedOut]);
  } catch (error) {
    if (error instanceof EngineUnavailableError) throw error;
    throw unreachableError(engine.endpoint, error, { answeredBefore: false });
  } finally {
    clearTimeout(timer);
  }
  markAnswered(engine.endpoint);
  try {
    const v = (await engine.docker.version()) as unknown as {
      Version: string;
      ApiVersion: string;
      Components?: Array<{ Name: string; Version: string; Details?: Record<string, string> }>;
    };
    const runc = v.Components?.find((c) => c.Name.toLowerCase() === 'runc');
    return { version: v.Version, apiVersion: v.ApiVersion, ...(runc ? { runcVersion: runc.Version } : {}) };
  } catch (error) {
    throw translate(error, 'asking the engine its version', engine.endpoint);
  }
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
