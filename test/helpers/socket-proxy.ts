/**
 * A unix-socket proxy in front of the Docker socket that a test can cut, to play an engine that goes away:
 * `cut()` destroys every open connection and stops listening, so new connections are refused.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SocketProxy {
  /** The proxy's socket path. */
  readonly path: string;
  /** A DOCKER_HOST value pointing at the proxy. */
  readonly dockerHost: string;
  /** Connections accepted so far. */
  readonly connections: () => number;
  /** Destroys every connection (both sides) and stops listening; later connects get ECONNREFUSED or ENOENT. */
  cut(): Promise<void>;
}

export interface SocketProxyOptions {
  /** The socket to forward to. Default `/var/run/docker.sock`. */
  readonly target?: string;
}

export async function startSocketProxy(options: SocketProxyOptions = {}): Promise<SocketProxy> {
  const target = options.target ?? '/var/run/docker.sock';
  const dir = await mkdtemp(join(tmpdir(), 'kiln-proxy-'));
  const path = join(dir, 'docker.sock');
  const open = new Set<Socket>();
  let accepted = 0;
  const server = createServer((client) => {
    accepted += 1;
    const upstream = createConnection(target);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  let cut: Promise<void> | undefined;
  return {
    path,
    dockerHost: `unix://${path}`,
    connections: () => accepted,
    cut() {
      cut ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of open) socket.destroy();
        open.clear();
        await closed;
        await rm(dir, { recursive: true, force: true });
      })();
      return cut;
    },
  };
}
