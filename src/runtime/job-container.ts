/**
 * The one container of a job: created once (or reused), kept alive by a tiny PID 1 without the image's
 * entrypoint, steps exec'd into it, removed (or, in reuse mode, emptied of processes and secrets) on
 * release. Env, workdir and user are given per exec and never baked into the container.
 *
 * A reused container has one user at a time: a run holds its lock file (under the state folder, see
 * containerLockPath) from before the container is inspected until after its per-run clean-up, and a
 * second run waits for it, saying who holds it.
 */
import { hostname } from 'node:os';
import { posix } from 'node:path';
import type Docker from 'dockerode';
import { ExitCode, ImageNotFoundError, InfrastructureError, KilnError, MountError } from '../errors.js';
import type { Emit } from '../events.js';
import { Label, ownerLabels } from '../labels.js';
import { acquireCacheLock, staleLockAdvice } from '../mounts/cache-locks.js';
import { KILN_RUN_DIR, KILN_SECRETS_DIR, type DockerMount, type PreparedSecret } from '../mounts/types.js';
import type { ReleaseStack } from '../release.js';
import { stateDir } from '../state-dir.js';
import { dockerMessage, statusOf, translate } from './docker-errors.js';
import type { Engine } from './engine.js';
import { runExec, runStepExec, type ExecResult, type StepExecOptions } from './exec.js';
import {
  containerLockPath,
  describeFingerprint,
  fingerprint,
  reuseName,
  type FingerprintInput,
} from './reuse.js';
import { KILN_VERSION } from './version.js';

/** PID 1 of a job container: makes the workdirs, then sleeps until stopped (TERM ends it at once). */
const KEEPALIVE =
  'mkdir -p "$@" 2>/dev/null; trap "exit 0" TERM INT; while :; do sleep 86400 & wait $!; done';

/**
 * The list of secret targets written into a container, one path a line, each recorded before its
 * secret is written, so that a kiln that dies mid-step leaves a list of what to wipe.
 */
export const SECRET_MANIFEST = `${KILN_RUN_DIR}/secret-paths`;

/**
 * Records secret targets in the manifest. `=PATH` is kiln's own (on a tmpfs kiln made); `?PATH` is
 * recorded only where nothing of the image is: nothing there yet, or a link kiln made, so that a wipe
 * never removes a file of the image.
 */
const RECORD_SECRETS = `m=${SECRET_MANIFEST}
for a; do
  p=\${a#?}
  case $a in
    '?'*)
      if [ -L "$p" ]; then
        case $(readlink "$p") in ${KILN_SECRETS_DIR}/*) ;; *) continue ;; esac
      elif [ -e "$p" ]; then continue
      fi ;;
  esac
  printf '%s\n' "$p" >> "$m" || exit 1
done`;

/** Exit codes of WRITE_SECRET: the target is taken; its folder cannot be made. */
const TARGET_EXISTS = 3;
const TARGET_FOLDER_FAILED = 4;

/**
 * Writes a secret read from stdin: `$1` the file, `$2` its owner (`uid:gid`), `$3` its mode, `$4` the
 * target to link to it (empty when the file is the target), `$5` `own` when the file's folder is a
 * secret tmpfs kiln made. A target that exists and is not kiln's (a file, folder or foreign link) is
 * refused before anything is written. kiln's folder of secret files can be passed through by every
 * user (0711) but not listed; folders made for a target are 0755, so that the step's user reaches it.
 */
const WRITE_SECRET = `t=\${4:-$1}
if [ "$5" != own ]; then
  if [ -L "$t" ]; then
    case $(readlink "$t") in ${KILN_SECRETS_DIR}/*) ;; *) exit ${TARGET_EXISTS} ;; esac
  elif [ -e "$t" ]; then exit ${TARGET_EXISTS}
  fi
fi
umask 022
if [ -n "$4" ]; then
  mkdir -p "$(dirname "$4")" || exit ${TARGET_FOLDER_FAILED}
  mkdir -p ${KILN_SECRETS_DIR} && chmod 711 ${KILN_SECRETS_DIR} || exit 1
else
  mkdir -p "$(dirname "$1")" || exit ${TARGET_FOLDER_FAILED}
fi
umask 077
cat > "$1" && chown "$2" "$1" && chmod "$3" "$1" || exit 1
[ -z "$4" ] || ln -sfn "$1" "$4" || exit 1`;

/**
 * Hands a reused container over, at the end of a run and before the next: no process of a run lives on
 * (`kill -KILL -1`: everything but PID 1), and no secret either (the targets of the manifest, kiln's own
 * copies), then the workdirs are made (as PID 1 makes them, a workdir that cannot be made is left to
 * the step to report). Exits non-zero when a secret could not be removed.
 */
const HAND_OVER = `kill -KILL -1 2>/dev/null
rc=0
m=${SECRET_MANIFEST}
if [ -f "$m" ]; then
  while IFS= read -r p; do
    if [ -L "$p" ] || [ -f "$p" ]; then rm -f "$p" || rc=1; fi
  done < "$m"
  [ "$rc" -ne 0 ] || rm -f "$m" || rc=1
fi
rm -rf ${KILN_SECRETS_DIR} || rc=1
[ $# -eq 0 ] || mkdir -p "$@" 2>/dev/null
exit "$rc"`;

export interface JobContainerSpec {
  readonly project: string;
  readonly job: string;
  readonly runId: string;
  readonly image: string;
  readonly mounts: readonly DockerMount[];
  /** Extra tmpfs mounts, target -> options (`rw,exec,size=...`). */
  readonly tmpfs?: Readonly<Record<string, string>>;
  readonly network?: string;
  /** The job's user, part of a reused container's fingerprint (never set on the container). */
  readonly user?: string;
  /** Folders made when the container starts (the job's and steps' workdirs). */
  readonly workdirs: readonly string[];
  /** Reuse mode: keep the container across runs under a stable name. */
  readonly reuse?: { readonly name?: string; readonly worker: string };
}

export interface JobContainerContext {
  readonly emit: Emit;
  readonly stack: ReleaseStack;
  /** Waiting for a reused container held by another run stops with a CancelledError when this aborts. */
  readonly signal?: AbortSignal;
  /** kiln's state folder, where reused containers' lock files are. Default stateDir(). */
  readonly stateDirectory?: string;
}

export interface StartedJobContainer {
  readonly id: string;
  readonly name: string;
  readonly reused: boolean;
  /** Runs a step under the wrapper (see step-wrapper.ts). */
  runStep(options: StepExecOptions): Promise<ExecResult>;
  /**
   * Records the secret targets a step is about to get, before any is written, so that a reused
   * container is wiped of them even if kiln dies (see SECRET_MANIFEST).
   */
  recordSecrets(targets: readonly string[]): Promise<void>;
  /** Writes a secret as a file on a tmpfs through an exec's stdin; returns its removal. */
  writeSecret(secret: PreparedSecret, step: number): Promise<{ path: string; remove: () => Promise<void> }>;
  /** Runs a housekeeping command as root, returns its exit code. */
  exec(argv: readonly string[], stdin?: Buffer): Promise<number>;
}

/** Finds an image's ID; tries a pull when it is missing, and says plainly when neither works. */
export async function resolveImage(engine: Engine, image: string, job: string | undefined): Promise<string> {
  try {
    return (await engine.docker.getImage(image).inspect()).Id;
  } catch (error) {
    if (statusOf(error) !== 404) throw translate(error, `inspecting image ${image}`, engine.endpoint);
  }
  try {
    const stream = await engine.docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      engine.docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
        const failed = output?.find((line) => line.error);
        if (err || failed) reject(err ?? new Error(failed?.error));
        else resolve();
      });
    });
    return (await engine.docker.getImage(image).inspect()).Id;
  } catch (error) {
    throw new ImageNotFoundError(image, job, error);
  }
}

function tmpfsOptions(spec: JobContainerSpec, secretDirs: readonly string[]): Record<string, string> {
  const tmpfs: Record<string, string> = { [KILN_RUN_DIR]: 'rw,exec,nosuid,size=16m,mode=755' };
  for (const dir of secretDirs) tmpfs[dir] = 'rw,noexec,nosuid,size=4m,mode=755';
  return { ...tmpfs, ...spec.tmpfs };
}

/** Folders that get a tmpfs so that secret files with default targets are real files on a tmpfs. */
export function secretTmpfsDirs(targets: readonly string[], mounts: readonly DockerMount[]): string[] {
  const dirs = new Set<string>();
  for (const target of targets) {
    const dir = posix.dirname(target);
    if (dir === '/run/secrets' && !mounts.some((m) => m.Target === dir)) dirs.add(dir);
  }
  return [...dirs];
}

async function inspectByName(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(name).inspect();
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

export async function startJobContainer(
  engine: Engine,
  spec: JobContainerSpec,
  context: JobContainerContext & { readonly secretTargets?: readonly string[] },
): Promise<StartedJobContainer> {
  const { docker, endpoint } = engine;
  const { emit, stack } = context;
  const imageId = await resolveImage(engine, spec.image, spec.job);
  const secretDirs = secretTmpfsDirs(context.secretTargets ?? [], spec.mounts);
  const tmpfs = tmpfsOptions(spec, secretDirs);
  const fpInput: FingerprintInput = {
    imageId,
    mounts: spec.mounts,
    tmpfs,
    kilnVersion: KILN_VERSION,
    ...(spec.network ? { network: spec.network } : {}),
    ...(spec.user ? { user: spec.user } : {}),
  };
  const fp = fingerprint(fpInput);
  const name = spec.reuse
    ? (spec.reuse.name ?? reuseName(spec.project, spec.job, spec.reuse.worker))
    : undefined;

  const labels: Record<string, string> = spec.reuse
    ? {
        [Label.managed]: 'true',
        [Label.scope]: 'reuse',
        [Label.fingerprint]: fp,
        [Label.version]: KILN_VERSION,
      }
    : { ...ownerLabels(spec.runId), [Label.scope]: 'run', [Label.version]: KILN_VERSION };
  labels[Label.project] = spec.project;
  labels[Label.job] = spec.job;

  let reused = false;
  let recreateReason: string | undefined;
  let container: Docker.Container | undefined;
  if (name) {
    await lockReusedContainer(name, spec, context);
    const existing = await inspectByName(docker, name).catch((e) => {
      throw translate(e, `inspecting container ${name}`, endpoint);
    });
    if (existing) {
      checkOwner(existing, name, spec);
      const theirs = existing.Config.Labels ?? {};
      if (!existing.State.Running) recreateReason = 'it was not running';
      else if (existing.Image !== imageId)
        recreateReason = `its image changed (${existing.Image.slice(7, 19)} -> ${imageId.slice(7, 19)})`;
      else if (theirs[Label.fingerprint] !== fp)
        recreateReason = 'its mounts, network, user or kiln version changed';
      else {
        // A kiln that died may have left processes and secrets behind: none of them lives into this run.
        const handed = await handOver(docker.getContainer(existing.Id), spec.workdirs, endpoint);
        if (handed.lacksShell) recreateReason = 'its /bin/sh is gone (a step removed or replaced it)';
        else if (handed.code !== 0) {
          throw new InfrastructureError(
            `job ${spec.job}: the reused container ${name} could not be emptied of the last run's processes ` +
              `and secrets (exit ${handed.code}${handed.output ? `: ${handed.output}` : ''}); ` +
              `remove it (docker rm -f ${name}) and run again`,
          );
        }
      }
      if (recreateReason) {
        emit({
          type: 'warning',
          job: spec.job,
          message: `reused container ${name} is recreated: ${recreateReason}`,
        });
        await docker
          .getContainer(existing.Id)
          .remove({ force: true, v: true })
          .catch((e) => {
            if (statusOf(e) !== 404) throw translate(e, `removing container ${name}`, endpoint);
          });
      } else {
        container = docker.getContainer(existing.Id);
        reused = true;
      }
    }
  }

  if (!container) {
    try {
      container = await docker.createContainer({
        Image: imageId,
        ...(name ? { name } : {}),
        Entrypoint: ['/bin/sh', '-c', KEEPALIVE, 'kiln-keepalive'],
        Cmd: [...spec.workdirs],
        Labels: labels,
        Tty: false,
        OpenStdin: false,
        AttachStdin: false,
        AttachStdout: false,
        AttachStderr: false,
        StopTimeout: 2,
        HostConfig: {
          Mounts: spec.mounts.map((m) => ({ ...m })) as Docker.MountSettings[],
          Tmpfs: tmpfs,
          ...(spec.network ? { NetworkMode: spec.network } : {}),
          Init: false,
        },
      });
    } catch (error) {
      if (statusOf(error) === 404 && /image/i.test(dockerMessage(error)))
        throw new ImageNotFoundError(spec.image, spec.job, error);
      throw translate(error, `creating the container of job ${spec.job}`, endpoint);
    }
  }
  const c = container;
  const shortId = c.id.slice(0, 12);

  // Pushed before start: a container that fails to start is removed all the same.
  if (spec.reuse) {
    stack.push('container', name ?? shortId, async () => {
      // Reused containers live on, but no process or secret of this run may outlive it: one that cannot
      // be emptied (a step removed its shell, say) goes, and the next run makes it afresh.
      const handed = await handOver(c, [], endpoint).catch(() => undefined);
      if (handed?.code !== 0) await c.remove({ force: true, v: true }).catch(() => {});
    });
  } else {
    stack.push('container', shortId, async () => {
      try {
        await c.remove({ force: true, v: true });
      } catch (error) {
        if (statusOf(error) !== 404) throw translate(error, `removing container ${shortId}`, endpoint);
      }
    });
  }

  if (!reused) {
    try {
      await c.start();
    } catch (error) {
      // A reused container that never ran would be left `Created` under its name: it goes now.
      if (spec.reuse) await c.remove({ force: true, v: true }).catch(() => {});
      if (lacksShell(error)) throw noShellError(spec);
      throw translate(error, `starting the container of job ${spec.job} (image ${spec.image})`, endpoint);
    }
  }
  emit({
    type: reused ? 'container.reuse' : recreateReason ? 'container.recreate' : 'container.create',
    job: spec.job,
    container: shortId,
    ...(name ? { name } : {}),
    ...(recreateReason ? { reason: recreateReason } : {}),
  });

  const exec = (argv: readonly string[], stdin?: Buffer) =>
    runExec(c, { argv, user: '0', ...(stdin ? { stdin } : {}) }, endpoint);

  return {
    id: c.id,
    name: name ?? shortId,
    reused,
    runStep: (options) =>
      runStepExec(
        c,
        { ...options, onStuck: options.onStuck ?? (() => c.stop({ t: 1 }).then(() => undefined)) },
        endpoint,
      ),
    exec,
    async recordSecrets(targets) {
      if (targets.length === 0) return;
      const crooked = targets.find((t) => /[\n\r]/.test(t));
      if (crooked !== undefined) {
        throw new KilnError(
          `job ${spec.job}: a secret target holds a line break (${JSON.stringify(crooked)}); give it a plain path`,
          { code: 'E_SECRET_TARGET', exitCode: ExitCode.usage },
        );
      }
      const args = targets.map((t) =>
        secretDirs.includes(posix.dirname(t)) || t.startsWith(`${KILN_RUN_DIR}/`) ? `=${t}` : `?${t}`,
      );
      const code = await exec(['/bin/sh', '-c', RECORD_SECRETS, 'kiln-record-secrets', ...args]);
      if (code !== 0) {
        throw new InfrastructureError(
          `job ${spec.job}: could not record where its secrets go in ${SECRET_MANIFEST} (exit ${code})`,
        );
      }
    },
    async writeSecret(secret, step) {
      // Everything in a secret tmpfs kiln made is kiln's: a file there is written in place. Elsewhere the
      // file goes to kiln's own tmpfs and the target becomes a link to it, made only where nothing is
      // (or where a link kiln made is left over): a secret never replaces or removes a file of the image.
      const ownFolder = secretDirs.includes(posix.dirname(secret.target));
      const onTmpfs = ownFolder || secret.target.startsWith(`${KILN_RUN_DIR}/`);
      const path = onTmpfs
        ? secret.target
        : `${KILN_SECRETS_DIR}/${step}-${secret.id.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
      const link = onTmpfs ? '' : secret.target;
      const code = await exec(
        [
          '/bin/sh',
          '-c',
          WRITE_SECRET,
          'kiln-secret',
          path,
          `${secret.uid}:${secret.gid}`,
          secret.mode.toString(8),
          link,
          ownFolder ? 'own' : '',
        ],
        secret.value,
      );
      const mount = secret.mount ?? `secret ${secret.id} -> ${secret.target}`;
      if (code === TARGET_EXISTS) {
        throw new MountError(
          spec.job,
          mount,
          `${secret.target} already exists in the container (a file or folder of the image, or of one of ` +
            `the job's mounts), and a secret never replaces one; give the secret a target where nothing is`,
        );
      }
      if (code === TARGET_FOLDER_FAILED) {
        throw new MountError(
          spec.job,
          mount,
          `the folder of ${secret.target} cannot be made in the container (a part of its path is a file, ` +
            `or read-only); give the secret another target`,
        );
      }
      if (code !== 0) {
        throw new InfrastructureError(
          `job ${spec.job}: could not write secret ${secret.id} to ${secret.target} (exit ${code})`,
        );
      }
      return {
        path,
        remove: async () => {
          const rc = await exec([
            '/bin/sh',
            '-c',
            'rm -f "$1"; [ -z "$2" ] || rm -f "$2"',
            'kiln-secret-rm',
            path,
            link,
          ]);
          if (rc !== 0)
            throw new InfrastructureError(
              `job ${spec.job}: could not remove secret ${secret.id} (exit ${rc})`,
            );
        },
      };
    },
  };
}

/**
 * Takes the lock of a reused container for this run, waiting while another run holds it (with a
 * warning that says who, for how long, and how to clear a stale lock); its release is pushed on the
 * stack before anything of the container, so that it is released after the container's clean-up.
 */
async function lockReusedContainer(
  name: string,
  spec: JobContainerSpec,
  context: JobContainerContext,
): Promise<void> {
  const path = containerLockPath(context.stateDirectory ?? stateDir(), name);
  const derived = spec.reuse?.name === undefined;
  const lock = await acquireCacheLock({
    path,
    owner: { pid: process.pid, host: hostname(), runId: spec.runId, job: spec.job },
    wait: true,
    reportEveryMs: 30_000,
    ...(context.signal ? { signal: context.signal } : {}),
    onWait: (holder, heldForMs) =>
      context.emit({
        type: 'warning',
        job: spec.job,
        message:
          `reused container ${name} is in use by ${holder} for ${formatWait(heldForMs)}; waiting for it` +
          (derived ? ' (or set KILN_WORKER to another slot to use another container)' : '') +
          `; ${staleLockAdvice(path)}`,
      }),
  });
  context.stack.push('lock', name, () => lock!.release());
}

/** A container under a reuse name must be one kiln made for this project. */
function checkOwner(existing: Docker.ContainerInspectInfo, name: string, spec: JobContainerSpec): void {
  const theirs = existing.Config.Labels ?? {};
  const fix = `give job ${spec.job} another reuse name, or remove that container (docker rm -f ${name})`;
  if (theirs[Label.managed] !== 'true') {
    throw new KilnError(
      `job ${spec.job}: a container named ${name} exists and kiln did not make it (image ` +
        `${existing.Config.Image}); kiln does not take it over: ${fix}`,
      { code: 'E_REUSE_NAME_TAKEN', exitCode: ExitCode.usage },
    );
  }
  const project = theirs[Label.project];
  if (project !== spec.project) {
    throw new KilnError(
      `job ${spec.job}: the reused container ${name} belongs to ${project ? `kiln project ${project}` : 'another kiln project'}` +
        `${theirs[Label.job] ? ` (job ${theirs[Label.job]})` : ''}, not to this one (${spec.project}); ` +
        `kiln does not take it over: ${fix}`,
      { code: 'E_REUSE_NAME_TAKEN', exitCode: ExitCode.usage },
    );
  }
}

/** Runs the hand-over in a reused container: its exit code, and whether the container has no shell. */
async function handOver(
  container: Docker.Container,
  workdirs: readonly string[],
  endpoint: string,
): Promise<{ code: number; lacksShell: boolean; output: string }> {
  let output = '';
  const code = await runExec(
    container,
    {
      argv: ['/bin/sh', '-c', HAND_OVER, 'kiln-hand-over', ...workdirs],
      onOutput: (_stream, chunk) => {
        if (output.length < 2000) output += chunk.toString();
      },
    },
    endpoint,
  );
  output = output.trim();
  return { code, lacksShell: code !== 0 && lacksShell(output), output };
}

/** Did a container fail to start, or an exec, because the image has no `/bin/sh`? */
function lacksShell(error: unknown): boolean {
  const message = typeof error === 'string' ? error : dockerMessage(error);
  return (
    /\/bin\/sh/.test(message) &&
    /no such file or directory|not found|permission denied|exec format/i.test(message)
  );
}

function noShellError(spec: JobContainerSpec): KilnError {
  return new KilnError(
    `image ${spec.image} (job ${spec.job}) has no usable /bin/sh: kiln needs /bin/sh in the image to run ` +
      `steps (it keeps the container alive and runs each step under a POSIX shell wrapper); use an image ` +
      `that has a shell (for a distroless image, its debug variant), or add one (e.g. busybox)`,
    { code: 'E_IMAGE_NO_SHELL', exitCode: ExitCode.usage },
  );
}

function formatWait(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export { describeFingerprint };
