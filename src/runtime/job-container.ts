/**
 * The one container of a job: created once (or reused), kept alive by a tiny PID 1 without the image's
 * entrypoint, steps exec'd into it. Env, workdir and user are given per exec and never baked into the
 * container. Whether a container is reused, and what is released when, is the executor's decision (see
 * executor/acquire-container.ts); this is what it is made of.
 */
import { ImageNotFoundError } from '../errors.js';
import { Label, ownerLabels } from '../labels.js';
import type { DockerMount } from './containers.js';
import { ContainerSecrets, type SecretFile } from './container-secrets.js';
import { EngineRequestError } from './docker-errors.js';
import type { Engine } from './engine.js';
import { lacksShell, noShellError } from './hand-over.js';
import { runExec, runStepExec, type ExecResult, type StepExecOptions } from './run-exec.js';
import { KILN_VERSION } from './version.js';

/** PID 1 of a job container: makes the workdirs, then sleeps until stopped (TERM ends it at once). */
const KEEPALIVE =
  'mkdir -p "$@" 2>/dev/null; trap "exit 0" TERM INT; while :; do sleep 86400 & wait $!; done';

export interface JobContainerSpec {
  readonly project: string;
  readonly job: string;
  readonly runId: string;
  /** The image as the job names it, for messages. */
  readonly image: string;
  /** The image's ID, which the container runs. */
  readonly imageId: string;
  readonly mounts: readonly DockerMount[];
  /** Every tmpfs of the container, target -> options (see jobContainerTmpfs). */
  readonly tmpfs: Readonly<Record<string, string>>;
  readonly network?: string;
  /** More names the container answers to on `network` (a job's services' network). Default none. */
  readonly networkAliases?: readonly string[];
  /** Folders made when the container starts (the job's and steps' workdirs). */
  readonly workdirs: readonly string[];
  /** Reuse mode: the container's stable name, and the fingerprint a later run must match to reuse it. */
  readonly reuse?: { readonly name: string; readonly fingerprint: string };
}

/** The labels of a job container: a run's (swept with it) or, in reuse mode, a reused one's. */
export function jobContainerLabels(spec: JobContainerSpec): Record<string, string> {
  const scoped: Record<string, string> = spec.reuse
    ? {
        [Label.managed]: 'true',
        [Label.scope]: 'reuse',
        [Label.fingerprint]: spec.reuse.fingerprint,
        [Label.version]: KILN_VERSION,
      }
    : { ...ownerLabels(spec.runId), [Label.scope]: 'run', [Label.version]: KILN_VERSION };
  return { ...scoped, [Label.project]: spec.project, [Label.job]: spec.job };
}

/** Creates the job's container (not started); returns its ID. */
export async function createJobContainer(
  engine: Pick<Engine, 'containers'>,
  spec: JobContainerSpec,
): Promise<string> {
  try {
    return await engine.containers.create({
      image: spec.imageId,
      ...(spec.reuse ? { name: spec.reuse.name } : {}),
      entrypoint: ['/bin/sh', '-c', KEEPALIVE, 'kiln-keepalive'],
      cmd: spec.workdirs,
      labels: jobContainerLabels(spec),
      mounts: spec.mounts,
      tmpfs: spec.tmpfs,
      ...(spec.network ? { network: spec.network } : {}),
      ...(spec.networkAliases?.length ? { networkAliases: spec.networkAliases } : {}),
      stopTimeoutS: 2,
      description: `the container of job ${spec.job}`,
    });
  } catch (error) {
    if (error instanceof EngineRequestError && error.status === 404 && /image/i.test(error.detail)) {
      throw new ImageNotFoundError(spec.image, spec.job, error);
    }
    throw error;
  }
}

/** Starts the job's container. A reused one that fails to start is removed, not left `Created` under its name. */
export async function startJobContainer(
  engine: Pick<Engine, 'containers'>,
  id: string,
  spec: JobContainerSpec,
): Promise<void> {
  try {
    await engine.containers.start(id, `the container of job ${spec.job} (image ${spec.image})`);
  } catch (error) {
    if (spec.reuse) await engine.containers.remove(id).catch(() => {});
    if (error instanceof EngineRequestError && lacksShell(error.detail))
      throw noShellError(spec.image, spec.job);
    throw error;
  }
}

/** A job's running container: steps, kiln's own commands and the step's secrets go through it. */
export class JobContainer {
  readonly #engine: Pick<Engine, 'containers' | 'exec'>;
  readonly #secrets: ContainerSecrets;

  constructor(
    engine: Pick<Engine, 'containers' | 'exec'>,
    readonly id: string,
    /** Its name: the reuse name, else the short ID. */
    readonly name: string,
    readonly reused: boolean,
    job: string,
    /** The secret folders that got a tmpfs (see secretTmpfsDirs). */
    secretDirs: readonly string[],
  ) {
    this.#engine = engine;
    this.#secrets = new ContainerSecrets((argv, stdin) => this.exec(argv, stdin), job, secretDirs);
  }

  /** Runs a step under the wrapper (see step-wrapper.ts); a step SIGKILL cannot end stops the container. */
  runStep(options: StepExecOptions): Promise<ExecResult> {
    const onStuck = options.onStuck ?? (() => this.#engine.containers.stop(this.id, 1));
    return runStepExec(this.#engine.exec, this.id, { ...options, onStuck });
  }

  /** Runs a housekeeping command as root; its exit code. */
  exec(argv: readonly string[], stdin?: Buffer): Promise<number> {
    return runExec(this.#engine.exec, this.id, { argv, user: '0', ...(stdin ? { stdin } : {}) });
  }

  /** Writes a secret as a file on a tmpfs through an exec's stdin; returns its path and its removal. */
  writeSecret(secret: SecretFile, step: number): Promise<{ path: string; remove: () => Promise<void> }> {
    return this.#secrets.write(secret, step);
  }
}
