/**
 * Another machine for the tests of the shared job cache: a second Docker engine on this host (its own data
 * root, socket and network namespace; scripts/second-engine.sh) and a real HTTP cache server (Debian's
 * nginx with WebDAV PUT on a loopback port; scripts/cache-server.sh). Both scripts need root, as the tests
 * run in CI; elsewhere these helpers fail with the scripts' explanation.
 *
 * Typical use in a test file:
 *
 *   const machines = otherMachineHooks(test);   // stops what the file started, after its tests
 *   test.serial('…', async (t) => {
 *     const b = await startSecondEngine();      // { dockerHost, docker }
 *     const cache = await startCacheServer();   // { url, dir, … }
 *     …kiln(project, ['run', …], { DOCKER_HOST: b.dockerHost, KILN_CACHE_URL: cache.url })
 *   });
 *
 * There is one cache server per machine (a fixed port): tests that change its token or faults, or stop it,
 * must be `test.serial`.
 */
import { request } from 'node:http';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import Docker from 'dockerode';
import { repoRoot } from './kiln-cli.js';
import {
  TEST_LABEL,
  ScriptedEngine,
  mustRunScript,
  runScript,
  type MustRunOptions,
} from './scripted-engine.js';

const secondEngineScript = join(repoRoot, 'scripts', 'second-engine.sh');
const cacheServerScript = join(repoRoot, 'scripts', 'cache-server.sh');

export { TEST_LABEL };

const scriptRun: MustRunOptions = { starts: 'a second Docker engine and an nginx cache server' };

function mustRun(script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return mustRunScript(script, args, env, scriptRun);
}

// ---------------------------------------------------------------------------------------------------------
// Engine B

export interface SecondEngine {
  /** The DOCKER_HOST value that points kiln (or the docker CLI) at engine B. */
  readonly dockerHost: string;
  /** The engine's socket path. */
  readonly socketPath: string;
  /** A client of engine B. */
  readonly docker: Docker;
}

export interface SecondEngineOptions {
  /** Images engine B must have, copied from the host's engine when missing. Default: the busybox fixture. */
  readonly images?: readonly string[];
}

const engineB = new ScriptedEngine<SecondEngine>({
  script: secondEngineScript,
  imagesVar: 'KILN_ENGINE_B_IMAGES',
  run: scriptRun,
  parse(out) {
    const dockerHost = /^DOCKER_HOST=(.+)$/m.exec(out)?.[1];
    if (!dockerHost?.startsWith('unix://')) {
      throw new Error(`second-engine.sh start printed no DOCKER_HOST line:\n${out}`);
    }
    const socketPath = dockerHost.slice('unix://'.length);
    return { dockerHost, socketPath, docker: new Docker({ socketPath }) };
  },
});

/**
 * Starts engine B (a few seconds the first time; images are copied once and kept in its data root) or
 * joins the one running; the same engine for every caller in this process.
 */
export function startSecondEngine(options: SecondEngineOptions = {}): Promise<SecondEngine> {
  return engineB.start(options.images);
}

/** Removes the containers and volumes that kiln (dev.kiln.managed) or a test (TEST_LABEL) made on engine B. */
export function sweepSecondEngine(): Promise<void> {
  return engineB.sweep();
}

/** Sweeps engine B, then stops it when this process started it (a user's running engine B is left alone). */
export function stopSecondEngine(): Promise<void> {
  return engineB.stop();
}

// ---------------------------------------------------------------------------------------------------------
// The cache server

export interface CacheServerOptions {
  /** A bearer token every request must carry (`Authorization: Bearer TOKEN`), else 401. Default: none. */
  readonly token?: string;
}

/** One request as the server logged it. */
export interface CacheRequest {
  readonly method: string;
  /** The URL path, e.g. `/ac/0a1b…`. */
  readonly path: string;
  readonly status: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

export interface CacheServer {
  /** The server's base URL, e.g. `http://127.0.0.1:18080` (a value for KILN_CACHE_URL). */
  readonly url: string;
  /** The folder it serves: `PUT {url}/ac/k` writes `{dir}/ac/k`. */
  readonly dir: string;
  /** The token it asks for, if any (a value for KILN_CACHE_TOKEN). */
  readonly token: string | undefined;
  /** Headers that carry the token (none without one). */
  readonly headers: Record<string, string>;
  /** Stops the server at once: transfers in flight are cut, later connections refused. */
  stop(): Promise<void>;
  /** Starts it again (same token, no fault, stored entries kept). */
  start(): Promise<void>;
  /** From now on every request is answered 500 (true), or served again (false). */
  failWith500(on: boolean): Promise<void>;
  /** From now on response bodies are sent at `rate` (nginx units: 64k, 1m); null serves at full speed. */
  slowDown(rate: string | null): Promise<void>;
  /** Flips the first byte of a stored entry (`path` under the URL, e.g. `cas/<sha256>`), keeping its size. */
  corrupt(path: string): Promise<void>;
  /** Deletes every stored entry. */
  clear(): Promise<void>;
  /** The stored entries' paths under the URL, sorted (e.g. `ac/<key>`, `cas/<sha256>`). */
  entries(): Promise<string[]>;
  /** The requests served since startCacheServer (or the last `forgetRequests`), oldest first. */
  requests(): Promise<CacheRequest[]>;
  /** Makes `requests()` start from now. */
  forgetRequests(): Promise<void>;
}

let serverStartedHere = false;
let serverInUse = false;

/**
 * Starts the machine's test cache server, or reconfigures the running one (token, no fault). Entries
 * stored by earlier tests stay unless `clear()` is called.
 */
export async function startCacheServer(options: CacheServerOptions = {}): Promise<CacheServer> {
  const token = options.token;
  const env = { KILN_TEST_CACHE_TOKEN: token ?? '' };
  if (!serverInUse) {
    const wasRunning =
      process.getuid?.() === 0 && (await runScript(cacheServerScript, ['status'])).code === 0;
    serverStartedHere = !wasRunning;
  }
  const url = (await mustRun(cacheServerScript, ['start'], env)).split('\n').pop()!;
  serverInUse = true;
  const dir = await mustRun(cacheServerScript, ['dir']);
  const accessLog = join(dir, '..', 'access.log');
  const logSize = async () => (await stat(accessLog).catch(() => ({ size: 0 }))).size;
  let logFrom = await logSize();

  return {
    url,
    dir,
    token,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    async stop() {
      await mustRun(cacheServerScript, ['stop']);
    },
    async start() {
      await mustRun(cacheServerScript, ['start'], env);
    },
    async failWith500(on) {
      await mustRun(cacheServerScript, ['fault', on ? '500' : 'off']);
    },
    async slowDown(rate) {
      await mustRun(
        cacheServerScript,
        ['fault', rate ? 'slow' : 'off'],
        rate ? { KILN_TEST_CACHE_RATE: rate } : {},
      );
    },
    async corrupt(path) {
      const file = join(dir, path);
      const bytes = await readFile(file);
      if (bytes.length === 0) throw new Error(`${path} is empty: nothing to corrupt`);
      bytes[0] = bytes[0]! ^ 0xff;
      await writeFile(file, bytes);
    },
    async clear() {
      const names = await readdir(dir);
      await Promise.all(names.map((n) => rm(join(dir, n), { recursive: true, force: true })));
    },
    async entries() {
      const names = await readdir(dir, { recursive: true });
      const files: string[] = [];
      for (const name of names) {
        if ((await stat(join(dir, name))).isFile()) files.push(name);
      }
      return files.sort();
    },
    async requests() {
      const text = (await readFile(accessLog)).subarray(logFrom).toString('utf8');
      return text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => {
          const [method = '', path = '', status = '0', sent = '0', received = '0'] = line.split(' ');
          return {
            method,
            path,
            status: Number(status),
            bytesSent: Number(sent),
            bytesReceived: Number(received),
          };
        });
    },
    async forgetRequests() {
      logFrom = await logSize();
    },
  };
}

/**
 * Clears the cache server's entries and stops it when this process started it (a server a user started is
 * left running, serving, with no token).
 */
export async function stopCacheServer(): Promise<void> {
  if (!serverInUse) return;
  serverInUse = false;
  const dir = await mustRun(cacheServerScript, ['dir']);
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.map((n) => rm(join(dir, n), { recursive: true, force: true })));
  if (serverStartedHere) await mustRun(cacheServerScript, ['stop']);
  else await mustRun(cacheServerScript, ['start'], { KILN_TEST_CACHE_TOKEN: '' });
  serverStartedHere = false;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

/**
 * One HTTP request on a connection of its own (no keep-alive, so a reload of the server never waits on it).
 * Network errors (a stopped server) reject.
 */
export function httpRequest(
  method: string,
  url: string,
  options: { body?: Buffer | string; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Registers an `after.always` hook that sweeps engine B and stops it and the cache server where this file's
 * tests started them. Call once at the top of a test file: `otherMachineHooks(test)`.
 */
export function otherMachineHooks(test: TestFn): void {
  test.after.always(async () => {
    const results = await Promise.allSettled([stopSecondEngine(), stopCacheServer()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  });
}
