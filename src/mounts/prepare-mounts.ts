/**
 * prepareMounts: turns a compiled job's mounts into what its container and steps need. Everything
 * that can be checked is checked before anything is acquired (bind sources, secret values, ssh
 * agents), so a refused mount leaves nothing behind. Then cache volumes are made and their locks taken
 * (every release is pushed on the job's stack). Container mounts keep the compiler's order (parents
 * first), with the ssh agent sockets appended.
 */
import type Dockerode from 'dockerode';
import { hostname } from 'node:os';
import { MountError } from '../errors.js';
import type { Emit } from '../events.js';
import type {
  BuildGraph,
  CompiledCacheMount,
  CompiledJob,
  CompiledSecretMount,
  CompiledSshMount,
  CompiledStep,
} from '../graph/types.js';
import type { ReleaseStack } from '../release.js';
import { stateDir } from '../state-dir.js';
import { checkBindSource, dockerSocketPaths, engineHostPath } from './bind-sources.js';
import {
  acquireCacheLock,
  cacheLockPath,
  cancelledError,
  registerCacheUser,
  type CacheLock,
} from './cache-locks.js';
import { recordCacheUse } from './cache-usage.js';
import { cacheVolumeName } from './cache-volume-name.js';
import { ensureCacheVolume } from './cache-volumes.js';
import { describeMount } from './describe-mount.js';
import { RunSecrets } from './run-secrets.js';
import type { SecretResolution } from './secret-sources.js';
import { resolveSshSocket, type SshSocketResolution } from './ssh-agents.js';
import { tmpfsOptions } from './tmpfs-mounts.js';
import type {
  DockerMount,
  PreparedMounts,
  PreparedSecret,
  PreparedSsh,
  PreparedStepMounts,
} from './types.js';
import { realpath } from 'node:fs/promises';

export interface PrepareMountsContext {
  /** For cache volumes. */
  readonly docker: Dockerode;
  /** Gives the project folder, the project name and where secrets come from. */
  readonly graph: BuildGraph;
  readonly runId: string;
  /** Receives `mount.prepare` per mount (and per step for secret and ssh), `mount.wait` while a lock is held. */
  readonly emit: Emit;
  /** Every release (cache locks) is pushed here. */
  readonly stack: ReleaseStack;
  /** Waiting for a cache lock stops with a CancelledError when this is aborted. */
  readonly signal: AbortSignal;
  /**
   * Default process.env. Read for secret env sources, `SSH_AUTH_SOCK` (and `SSH_AUTH_SOCK_<ID>`),
   * `KILN_WORKSPACE_HOST_PATH`, `DOCKER_HOST` and the state folder (`KILN_STATE_DIR`...).
   */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * The run's secrets, so that each is read once per run however many jobs mount it. Default: read
   * for this job alone.
   */
  readonly secrets?: RunSecrets;
  /**
   * Paths of the Docker socket that a bind may not expose (be, hold, or reach) without
   * `allow-docker-socket: true`. Default `/var/run/docker.sock`, `/run/docker.sock` and the unix path
   * of `DOCKER_HOST`; the socket `docker` talks to is always added.
   */
  readonly dockerSocketPaths?: readonly string[];
}

export interface PreparedContainerMounts extends PreparedMounts {
  /**
   * The tmpfs mounts, for `HostConfig.Tmpfs` (target -> options such as `exec,size=268435456,mode=1777`).
   * They are not in `mounts`: a tmpfs in `HostConfig.Mounts` is always `noexec` (see tmpfs-mounts.ts).
   */
  readonly tmpfs: Readonly<Record<string, string>>;
}

type PlannedMount =
  | { readonly kind: 'bind'; readonly target: string; readonly hostPath: string; readonly readOnly: boolean }
  | { readonly kind: 'cache'; readonly mount: CompiledCacheMount }
  | { readonly kind: 'tmpfs'; readonly target: string; readonly options: string };

export async function prepareMounts(
  job: CompiledJob,
  ctx: PrepareMountsContext,
): Promise<PreparedContainerMounts> {
  const env = ctx.env ?? process.env;
  const { graph } = ctx;
  if (ctx.signal.aborted) throw cancelledError(ctx.signal);

  // 1. Checks, nothing acquired yet.
  const projectRealPath = await realpath(graph.projectDir).catch(() => graph.projectDir);
  const socketPaths = [...(ctx.dockerSocketPaths ?? dockerSocketPaths(env))];
  // The engine kiln talks to is one too, wherever its socket is (an API caller may name any).
  const engineSocket = (ctx.docker as unknown as { modem?: { socketPath?: unknown } }).modem?.socketPath;
  if (typeof engineSocket === 'string' && engineSocket !== '' && !socketPaths.includes(engineSocket)) {
    socketPaths.push(engineSocket);
  }
  const planned: PlannedMount[] = [];
  for (const mount of job.mounts) {
    if (mount.type === 'bind') {
      const checked = await checkBindSource(mount.source, mount, {
        job: job.name,
        mount: describeMount(mount, graph.projectDir),
        projectDir: graph.projectDir,
        dockerSocketPaths: socketPaths,
      });
      planned.push({
        kind: 'bind',
        target: mount.target,
        hostPath: engineHostPath(checked.realPath, checked.projectRealPath, env),
        readOnly: mount.readonly,
      });
    } else if (mount.type === 'cache') {
      planned.push({ kind: 'cache', mount });
    } else {
      planned.push({ kind: 'tmpfs', target: mount.target, options: tmpfsOptions(mount) });
    }
  }
  const steps = await prepareStepMounts(job, ctx, env, projectRealPath);

  // 2. Cache volumes and locks.
  const volumes = await acquireCaches(
    job,
    planned.flatMap((p) => (p.kind === 'cache' ? [p.mount] : [])),
    ctx,
    env,
  );

  // 3. The result, and one event per mount in order.
  const mounts: DockerMount[] = [];
  const tmpfs: Record<string, string> = {};
  for (const plan of planned) {
    if (plan.kind === 'bind') {
      mounts.push({ Type: 'bind', Source: plan.hostPath, Target: plan.target, ReadOnly: plan.readOnly });
      ctx.emit({
        type: 'mount.prepare',
        job: job.name,
        mount: 'bind',
        target: plan.target,
        source: plan.hostPath,
      });
    } else if (plan.kind === 'cache') {
      const volume = volumes.get(plan.mount.id)!;
      mounts.push({
        Type: 'volume',
        Source: volume,
        Target: plan.mount.target,
        ReadOnly: plan.mount.readonly,
        VolumeOptions: { NoCopy: false },
      });
      ctx.emit({
        type: 'mount.prepare',
        job: job.name,
        mount: 'cache',
        target: plan.mount.target,
        source: volume,
      });
    } else {
      tmpfs[plan.target] = plan.options;
      ctx.emit({ type: 'mount.prepare', job: job.name, mount: 'tmpfs', target: plan.target });
    }
  }
  mounts.push(...steps.sshBinds);
  for (const step of job.steps) {
    const prepared = steps.steps[step.index]!;
    for (const secret of prepared.secrets) {
      ctx.emit({
        type: 'mount.prepare',
        job: job.name,
        step: step.name,
        mount: 'secret',
        target: secret.target,
        source: secret.id,
      });
    }
    for (const ssh of prepared.ssh) {
      ctx.emit({
        type: 'mount.prepare',
        job: job.name,
        step: step.name,
        mount: 'ssh',
        target: ssh.target,
        source: ssh.id,
      });
    }
  }
  return { mounts, tmpfs, steps: steps.steps, secretValues: steps.secretValues };
}

interface StepMountsResult {
  readonly steps: PreparedStepMounts[];
  readonly sshBinds: DockerMount[];
  readonly secretValues: Buffer[];
}

/** Resolves every step's secrets and ssh agents (reading each source once). Throws on a missing required one. */
async function prepareStepMounts(
  job: CompiledJob,
  ctx: PrepareMountsContext,
  env: NodeJS.ProcessEnv,
  projectRealPath: string,
): Promise<StepMountsResult> {
  const { graph } = ctx;
  const runSecrets = ctx.secrets ?? new RunSecrets(graph, env);
  const sshSockets = new Map<string, Promise<SshSocketResolution>>();
  const sshBinds = new Map<string, { id: string; bind: DockerMount }>();
  const values: Buffer[] = [];
  const steps: PreparedStepMounts[] = [];

  const fail = (
    step: CompiledStep,
    mount: CompiledSecretMount | CompiledSshMount,
    message: string,
    cause?: unknown,
  ) => new MountError(job.name, describeMount(mount, graph.projectDir, step.name), message, cause);

  for (const step of job.steps) {
    const secrets: PreparedSecret[] = [];
    const ssh: PreparedSsh[] = [];
    for (const mount of step.mounts) {
      if (mount.type === 'secret') {
        const pending = runSecrets.resolve(mount.id);
        if (pending === undefined) {
          throw fail(step, mount, `secret ${mount.id} is not declared under secrets: in the step file`);
        }
        let resolution: SecretResolution;
        try {
          resolution = await pending;
        } catch (error) {
          throw fail(step, mount, `secret ${mount.id} cannot be read: ${(error as Error).message}`, error);
        }
        if (!resolution.found) {
          if (!mount.required) continue;
          throw fail(
            step,
            mount,
            `secret ${mount.id}: ${resolution.reason}; provide it or mark the mount required: false`,
          );
        }
        secrets.push({
          id: mount.id,
          mount: describeMount(mount, graph.projectDir, step.name),
          target: mount.target,
          ...(mount.env === undefined ? {} : { env: mount.env }),
          mode: mount.mode,
          uid: mount.uid,
          gid: mount.gid,
          value: resolution.value,
        });
        if (resolution.value.length > 0 && !values.some((v) => v.equals(resolution.value))) {
          values.push(resolution.value);
        }
      } else {
        let pending = sshSockets.get(mount.id);
        if (pending === undefined) {
          pending = resolveSshSocket(mount.id, env);
          sshSockets.set(mount.id, pending);
        }
        const socket = await pending;
        if (!socket.found) {
          if (!mount.required) continue;
          throw fail(
            step,
            mount,
            `ssh agent ${mount.id}: ${socket.reason}; or mark the mount required: false`,
          );
        }
        const bound = sshBinds.get(mount.target);
        if (bound !== undefined && bound.id !== mount.id) {
          throw fail(
            step,
            mount,
            `ssh agents ${bound.id} and ${mount.id} are both given the target ${mount.target}`,
          );
        }
        if (bound === undefined) {
          sshBinds.set(mount.target, {
            id: mount.id,
            bind: {
              Type: 'bind',
              Source: engineHostPath(socket.realPath, projectRealPath, env),
              Target: mount.target,
            },
          });
        }
        ssh.push({ id: mount.id, target: mount.target });
      }
    }
    steps[step.index] = { secrets, ssh };
  }
  return { steps, sshBinds: [...sshBinds.values()].map((b) => b.bind), secretValues: values };
}

/**
 * Makes the job's cache volumes and takes their locks; returns the volume of each cache id. A cache id
 * mounted twice in one job is one volume (and one lock). Locks are taken in the order of the volume
 * names, the same in every job, so two jobs with the same locked caches cannot hold one each and wait
 * for each other.
 */
async function acquireCaches(
  job: CompiledJob,
  mounts: readonly CompiledCacheMount[],
  ctx: PrepareMountsContext,
  env: NodeJS.ProcessEnv,
): Promise<Map<string, string>> {
  const { project, projectDir } = ctx.graph;
  const directory = stateDir(env);
  const byId = new Map<string, CompiledCacheMount>();
  for (const mount of mounts) if (!byId.has(mount.id)) byId.set(mount.id, mount);
  const ordered = [...byId.values()].sort((a, b) =>
    cacheVolumeName(project, a.id).localeCompare(cacheVolumeName(project, b.id)),
  );

  const owner = { pid: process.pid, host: hostname(), runId: ctx.runId, job: job.name };
  // Shared caches take no lock but register as users, so that kiln prune leaves their volumes alone.
  // Registrations wait for nobody but a prune's check, so they are made all at once.
  const shared = ordered.filter((mount) => mount.sharing === 'shared');
  const registered = await Promise.allSettled(
    shared.map((mount) =>
      registerCacheUser(directory, cacheVolumeName(project, mount.id), owner, ctx.signal),
    ),
  );
  registered.forEach((result, i) => {
    if (result.status !== 'fulfilled') return;
    const user = result.value;
    ctx.stack.push('cache-user', cacheVolumeName(project, shared[i]!.id), () => user.release());
  });
  const failed = registered.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;

  const volumes = new Map<string, string>();
  for (const mount of ordered) {
    if (ctx.signal.aborted) throw cancelledError(ctx.signal);
    let volume = cacheVolumeName(project, mount.id);
    const hold = (lock: CacheLock) => ctx.stack.push('lock', volume, () => lock.release());

    if (mount.sharing === 'locked') {
      const lock = await acquireCacheLock({
        path: cacheLockPath(directory, volume),
        owner,
        wait: true,
        signal: ctx.signal,
        onWait: (holder, heldForMs, lock) =>
          ctx.emit({ type: 'mount.wait', job: job.name, cache: mount.id, holder, heldForMs, lock }),
      });
      hold(lock!);
    } else if (mount.sharing === 'private') {
      for (let slot = 0; ; slot++) {
        volume = cacheVolumeName(project, mount.id, slot);
        const lock = await acquireCacheLock({ path: cacheLockPath(directory, volume), owner, wait: false });
        if (lock !== undefined) {
          hold(lock);
          break;
        }
      }
    }

    volumes.set(mount.id, volume);
  }

  // With every lock held, the volumes are made (or found) all at once.
  await Promise.all(
    ordered.map(async (mount) => {
      const volume = volumes.get(mount.id)!;
      await ensureCacheVolume(ctx.docker, {
        name: volume,
        project,
        id: mount.id,
        job: job.name,
        mount: describeMount(mount, projectDir),
      });
      try {
        await recordCacheUse(directory, volume, { project, id: mount.id });
      } catch (error) {
        ctx.emit({
          type: 'warning',
          job: job.name,
          message: `could not record the use of cache ${mount.id} under ${directory}: ${(error as Error).message}`,
        });
      }
    }),
  );
  return volumes;
}
