/**
 * What the helpers of the tests' extra Docker engines share (engine B in other-machine.ts, engine C in
 * remote-engine.ts): running the script that starts and stops one (scripts/second-engine.sh,
 * scripts/remote-engine.sh), starting the engine once per test process, sweeping what the tests made on
 * it, and stopping it at the end only when this process started it, so that an engine that was already
 * running (a user's, or one a suite-level script started) is kept and can serve several test files.
 */
import { execFile } from 'node:child_process';
import { relative } from 'node:path';
import type Docker from 'dockerode';
import { repoRoot } from './kiln-cli.js';

/** The label of Docker objects a test makes on an engine by hand (kiln's own carry dev.kiln.managed). */
export const TEST_LABEL = 'dev.kiln.test';

export interface ScriptResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `bash script args…` with `env` added to this process's, for at most `timeoutMs`. */
export function runScript(
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 180_000,
): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [script, ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 4 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface MustRunOptions {
  /** What the script starts, for the message when not root: "these tests start {starts}, as …". */
  readonly starts: string;
  /** Default: 180 s. */
  readonly timeoutMs?: number;
}

/**
 * Runs a script that needs root and returns its trimmed stdout; throws with its stderr when it fails, and
 * without running it when this process is not root.
 */
export async function mustRunScript(
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: MustRunOptions,
): Promise<string> {
  const command = `${relative(repoRoot, script)} ${args.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${command} needs root: these tests start ${options.starts}, as they do in CI. Run the tests as root.`,
    );
  }
  const result = await runScript(script, args, env, options.timeoutMs);
  if (result.code !== 0) {
    throw new Error(`${command} failed (exit ${result.code}):\n${result.stderr.trim()}`);
  }
  return result.stdout.trim();
}

/** Removes the containers and volumes that kiln (dev.kiln.managed) or a test (TEST_LABEL) made on `docker`. */
export async function sweepEngine(docker: Docker): Promise<void> {
  for (const label of ['dev.kiln.managed=true', TEST_LABEL]) {
    const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
    await Promise.all(
      containers.map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true, v: true })
          .catch(() => {}),
      ),
    );
    const volumes = (await docker.listVolumes({ filters: { label: [label] } })).Volumes ?? [];
    await Promise.all(
      volumes.map((v) =>
        docker
          .getVolume(v.Name)
          .remove({ force: true })
          .catch(() => {}),
      ),
    );
  }
}

export interface ScriptedEngineSpec<E> {
  /** The script: `start` starts the engine (or joins it) and prints its env, `status`, `stop`. */
  readonly script: string;
  /** The variable naming the images `start` copies in when missing (e.g. KILN_ENGINE_B_IMAGES). */
  readonly imagesVar: string;
  readonly run: MustRunOptions;
  /** The engine's handle, from what `start` printed. */
  parse(out: string): E;
}

/** One engine that a script starts: started once per test process, stopped where this process started it. */
export class ScriptedEngine<E extends { readonly docker: Docker }> {
  #engine: Promise<E> | undefined;
  /** Whether this process started the engine (then it stops it too); false when it was already running. */
  #startedHere = false;

  constructor(private readonly spec: ScriptedEngineSpec<E>) {}

  #mustRun(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
    return mustRunScript(this.spec.script, args, env, this.spec.run);
  }

  /** Starts the engine or joins the one running (the same for every caller); then copies in `images`. */
  async start(images: readonly string[] = []): Promise<E> {
    this.#engine ??= (async () => {
      const wasRunning =
        process.getuid?.() === 0 &&
        (await runScript(this.spec.script, ['status'], {}, this.spec.run.timeoutMs)).code === 0;
      const out = await this.#mustRun(['start']);
      this.#startedHere = !wasRunning;
      return this.spec.parse(out);
    })();
    this.#engine.catch(() => (this.#engine = undefined));
    const started = await this.#engine;
    if (images.length) await this.#mustRun(['start'], { [this.spec.imagesVar]: images.join(' ') });
    return started;
  }

  /** Removes what kiln or a test made on the engine (nothing when this process has not started it). */
  async sweep(): Promise<void> {
    if (!this.#engine) return;
    await sweepEngine((await this.#engine).docker);
  }

  /** Sweeps the engine, then stops it when this process started it (a running engine is left alone). */
  async stop(): Promise<void> {
    if (!this.#engine) return;
    await this.sweep().catch(() => {});
    if (this.#startedHere) await this.#mustRun(['stop']);
    this.#engine = undefined;
    this.#startedHere = false;
  }
}
