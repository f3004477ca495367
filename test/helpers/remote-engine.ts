/**
 * A remote engine for the tests ("engine C"): a Docker engine on this host that kiln reaches over TCP with
 * TLS and that cannot see this host's test projects (scripts/remote-engine.sh: its own mount namespace with
 * an empty tmpfs over /tmp and /work, its own bridge, `--tlsverify` on 127.0.0.1:23760). The script needs
 * root, as the tests run in CI; elsewhere this helper fails with the script's explanation.
 *
 * Typical use in a test file:
 *
 *   remoteEngineHooks(test);                    // sweeps and stops what the file started, after its tests
 *   test.serial('…', async (t) => {
 *     const c = await startRemoteEngine();      // { env, docker, stop }
 *     …kiln(project, ['run', …], c.env)        // DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH
 *   });
 *
 * Like engine B (other-machine.ts), the engine is started once per test process and stopped at the end of
 * the file only when this process started it: an engine C that was already running (a user's, or one a
 * suite-level script started) is kept, so that it can serve several test files without a restart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import Docker from 'dockerode';
import { repoRoot } from './kiln-cli.js';
import {
  TEST_LABEL,
  ScriptedEngine,
  runScript,
  type MustRunOptions,
  type ScriptResult,
} from './scripted-engine.js';

export { TEST_LABEL };

export const remoteEngineScript = join(repoRoot, 'scripts', 'remote-engine.sh');

export type RemoteEngineEnv = {
  readonly DOCKER_HOST: string;
  readonly DOCKER_TLS_VERIFY: string;
  readonly DOCKER_CERT_PATH: string;
  /** Set to '' so that a KILN_ENGINE_REMOTE of the caller's environment does not leak in. */
  readonly KILN_ENGINE_REMOTE: string;
};

export interface RemoteEngine {
  /** What kiln (or the docker CLI) needs to talk to engine C: spread it into a run's environment. */
  readonly env: RemoteEngineEnv;
  /** e.g. `tcp://127.0.0.1:23760`. */
  readonly dockerHost: string;
  /** A TLS client of engine C. */
  readonly docker: Docker;
  /** Sweeps engine C and stops it when this process started it (the same as stopRemoteEngine). */
  stop(): Promise<void>;
}

export interface RemoteEngineOptions {
  /** Images engine C must have, copied from the host's engine when missing. Default: the busybox fixture. */
  readonly images?: readonly string[];
}

const scriptRun: MustRunOptions = {
  starts: 'a remote Docker engine (its own mount namespace, bridge and TLS port)',
  timeoutMs: 300_000,
};

/** Runs scripts/remote-engine.sh with `args` (its exit code in the result: never throws). */
export function runRemoteEngineScript(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ScriptResult> {
  return runScript(remoteEngineScript, args, env, scriptRun.timeoutMs);
}

/** Parses the script's `NAME=value` lines. */
function parseEnv(out: string): RemoteEngineEnv {
  const value = (name: string): string => {
    const found = new RegExp(`^${name}=(.+)$`, 'm').exec(out)?.[1];
    if (!found) throw new Error(`remote-engine.sh start printed no ${name} line:\n${out}`);
    return found;
  };
  return {
    DOCKER_HOST: value('DOCKER_HOST'),
    DOCKER_TLS_VERIFY: value('DOCKER_TLS_VERIFY'),
    DOCKER_CERT_PATH: value('DOCKER_CERT_PATH'),
    KILN_ENGINE_REMOTE: '',
  };
}

/** A dockerode client of engine C with the client certificate of `certPath`. */
export function tlsClient(dockerHost: string, certPath: string): Docker {
  const url = new URL(dockerHost);
  return new Docker({
    protocol: 'https',
    host: url.hostname,
    port: Number(url.port),
    ca: readFileSync(join(certPath, 'ca.pem')),
    cert: readFileSync(join(certPath, 'cert.pem')),
    key: readFileSync(join(certPath, 'key.pem')),
  });
}

const engineC = new ScriptedEngine<RemoteEngine>({
  script: remoteEngineScript,
  imagesVar: 'KILN_ENGINE_C_IMAGES',
  run: scriptRun,
  parse(out) {
    const env = parseEnv(out);
    return {
      env,
      dockerHost: env.DOCKER_HOST,
      docker: tlsClient(env.DOCKER_HOST, env.DOCKER_CERT_PATH),
      stop: stopRemoteEngine,
    };
  },
});

/**
 * Starts engine C (a few seconds the first time: certificates are made and images copied once, and kept in
 * its data root) or joins the one running; the same engine for every caller in this process.
 */
export function startRemoteEngine(options: RemoteEngineOptions = {}): Promise<RemoteEngine> {
  return engineC.start(options.images);
}

/** Removes the containers and volumes that kiln (dev.kiln.managed) or a test (TEST_LABEL) made on engine C. */
export function sweepRemoteEngine(): Promise<void> {
  return engineC.sweep();
}

/** Sweeps engine C, then stops it when this process started it (a running engine C is left alone). */
export function stopRemoteEngine(): Promise<void> {
  return engineC.stop();
}

/**
 * The environment of a kiln on another host that shares engine C: engine C's env, the host's id and the
 * host's own state folder (two machines have one each).
 */
export function asHost(c: RemoteEngine, host: string, stateDir: string): NodeJS.ProcessEnv {
  return { ...c.env, KILN_HOST_ID: host, KILN_STATE_DIR: stateDir };
}

/**
 * Registers an `after.always` hook that sweeps engine C and stops it where this file's tests started it.
 * Call once at the top of a test file: `remoteEngineHooks(test)`.
 */
export function remoteEngineHooks(test: TestFn): void {
  test.after.always(stopRemoteEngine);
}

// ---------------------------------------------------------------------------------------------------------
// The host's engine over ssh (scripts/ssh-engine.sh)

export const sshEngineScript = join(repoRoot, 'scripts', 'ssh-engine.sh');

export interface SshEngine {
  /** DOCKER_HOST (`ssh://root@127.0.0.1:PORT`) and SSH_AUTH_SOCK (an agent holding the one key let in). */
  readonly env: { readonly DOCKER_HOST: string; readonly SSH_AUTH_SOCK: string };
}

let sshStartedHere = false;

/** Starts the test sshd and its agent (installing openssh-server when missing), or joins them. */
export async function startSshEngine(): Promise<SshEngine> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'scripts/ssh-engine.sh needs root: it installs openssh-server and runs an sshd, as in CI.',
    );
  }
  const run = (args: string[]) => runScript(sshEngineScript, args, {}, 300_000);
  const wasRunning = (await run(['status'])).code === 0;
  const started = await run(['start']);
  if (started.code !== 0) throw new Error(`ssh-engine.sh start failed:\n${started.stderr}`);
  sshStartedHere ||= !wasRunning;
  const value = (name: string) => new RegExp(`^${name}=(.+)$`, 'm').exec(started.stdout)?.[1] ?? '';
  return { env: { DOCKER_HOST: value('DOCKER_HOST'), SSH_AUTH_SOCK: value('SSH_AUTH_SOCK') } };
}

/** Stops the test sshd and agent when this process started them. */
export async function stopSshEngine(): Promise<void> {
  if (!sshStartedHere) return;
  sshStartedHere = false;
  await runScript(sshEngineScript, ['stop'], {}, 300_000);
}
