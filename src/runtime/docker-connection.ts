/**
 * How to reach the engine a DOCKER_HOST value names, as the docker CLI reads it: dockerode's own reading
 * of the environment differs between versions (and reads only process.env, not the host kiln was given),
 * so kiln builds the connection options itself and hands them over in full.
 *
 * - `unix:///path` (or no DOCKER_HOST: /var/run/docker.sock): the socket.
 * - `tcp://host[:port]` (also `https://`, or a bare `host:port`): plain HTTP, or TLS when DOCKER_TLS_VERIFY
 *   is set to anything but `0`/`false` (as the docker CLI: its presence turns verification on) or the
 *   scheme is https. TLS verifies the engine's certificate against `ca.pem` and shows the client
 *   certificate `cert.pem` with its key `key.pem`, all three read from DOCKER_CERT_PATH (default
 *   ~/.docker). The default port is 2376 with TLS, 2375 without.
 * - `ssh://[user@]host[:port]`: docker-modem's ssh transport (`docker system dial-stdio` on the remote
 *   host), authenticated by the ssh agent of SSH_AUTH_SOCK.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EngineUnavailableError } from '../errors.js';

/** The options kiln gives dockerode (a subset of docker-modem's). */
export interface DockerConnection {
  readonly socketPath?: string;
  readonly protocol?: 'http' | 'https' | 'ssh';
  readonly host?: string;
  readonly port?: number;
  readonly username?: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly sshOptions?: { readonly agent?: string };
}

/** The files of DOCKER_CERT_PATH a TLS connection reads, by their docker-modem option. */
const certFiles = { ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' } as const;

/** Whether DOCKER_TLS_VERIFY asks for TLS: set and not `0`/`false` (empty counts as unset). */
export function tlsVerifyRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.DOCKER_TLS_VERIFY?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/** The folder DOCKER_CERT_PATH names, else ~/.docker. */
export function certPathOf(env: NodeJS.ProcessEnv = process.env): string {
  const value = env.DOCKER_CERT_PATH?.trim();
  return value ? value : join(homedir(), '.docker');
}

/**
 * The connection options for `host` (a DOCKER_HOST value; undefined for the local socket). Throws
 * EngineUnavailableError (exit 3) when the value cannot be read or a certificate file TLS needs is missing,
 * naming the file and the variable to fix.
 */
export function dockerConnection(
  host: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  readFile: (path: string) => Buffer = readFileSync,
): DockerConnection {
  if (!host) return { socketPath: '/var/run/docker.sock' };
  if (host.startsWith('unix://'))
    return { socketPath: host.slice('unix://'.length) || '/var/run/docker.sock' };
  let url: URL;
  try {
    url = new URL(host.includes('://') ? host : `tcp://${host}`);
  } catch {
    throw new EngineUnavailableError(
      `DOCKER_HOST is "${host}", which is not an engine address: use unix:///path/to/docker.sock, ` +
        'tcp://host:port or ssh://user@host.',
      host,
    );
  }
  if (url.protocol === 'ssh:') {
    return {
      protocol: 'ssh',
      host: url.hostname,
      port: url.port ? Number(url.port) : 22,
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      sshOptions: env.SSH_AUTH_SOCK ? { agent: env.SSH_AUTH_SOCK } : {},
    };
  }
  if (url.protocol !== 'tcp:' && url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new EngineUnavailableError(
      `DOCKER_HOST is "${host}": kiln reaches an engine over unix://, tcp:// (with TLS through ` +
        `DOCKER_TLS_VERIFY and DOCKER_CERT_PATH) or ssh://, not ${url.protocol.slice(0, -1)}://.`,
      host,
    );
  }
  const tls = url.protocol === 'https:' || tlsVerifyRequested(env);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : tls ? 2376 : 2375;
  if (!tls) return { protocol: 'http', host: hostname, port };
  const dir = certPathOf(env);
  const read = (file: string): Buffer => {
    const path = join(dir, file);
    try {
      return readFile(path);
    } catch (error) {
      const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
      const from = env.DOCKER_CERT_PATH?.trim()
        ? `DOCKER_CERT_PATH (${dir})`
        : `~/.docker, since DOCKER_CERT_PATH is not set`;
      throw new EngineUnavailableError(
        `the TLS connection to the Docker engine at ${host} needs ${path}, which ${why}. DOCKER_TLS_VERIFY ` +
          `asks for TLS, and its files ca.pem, cert.pem and key.pem are read from ${from}: point ` +
          'DOCKER_CERT_PATH at the folder that holds them.',
        host,
        error,
      );
    }
  };
  return {
    protocol: 'https',
    host: hostname,
    port,
    ca: read(certFiles.ca),
    cert: read(certFiles.cert),
    key: read(certFiles.key),
  };
}
