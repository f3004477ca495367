/**
 * planMounts: checks a compiled job's mounts and works out what they will be, without acquiring
 * anything (no volume, no lock, no file): bind sources resolved, checked and given as the engine sees
 * them, the volume of each cache, the options of each tmpfs, and per step the secrets (read, so that a
 * missing one is refused now) and ssh agents. A refused mount therefore leaves nothing behind.
 */
import { realpath } from 'node:fs/promises';
import { cancelledError, MountError } from '../errors.js';
import type {
  BuildGraph,
  CompiledJob,
  CompiledSecretMount,
  CompiledSshMount,
  CompiledStep,
} from '../graph/types.js';
import { checkBindSource, dockerSocketPaths, engineHostPath, type MountInfoEntry } from './bind-sources.js';
import { cacheVolumeName } from './cache-volume-name.js';
import { describeMount } from './describe-mount.js';
import { RunSecrets } from './run-secrets.js';
import { resolveSshSocket, type SshSocketResolution } from './ssh-agents.js';
import { tmpfsOptions } from './tmpfs-mounts.js';
import type {
  DockerMount,
  MountPlan,
  OutputRef,
  PlannedMount,
  PlannedSecret,
  PlannedStepMounts,
  PreparedSsh,
} from './types.js';

export interface PlanMountsContext {
  /** Gives the project folder, the project name and where secrets come from. */
  readonly graph: BuildGraph;
  /**
   * Default process.env. Read for secret env sources, `SSH_AUTH_SOCK` (and `SSH_AUTH_SOCK_<ID>`),
   * `KILN_WORKSPACE_HOST_PATH` and `DOCKER_HOST`.
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
   * of `DOCKER_HOST`.
   */
  readonly dockerSocketPaths?: readonly string[];
  /** The socket of the engine kiln talks to, always refused like those (an API caller may name any). */
  readonly engineSocketPath?: string;
  /** Planning stops with a CancelledError when this is aborted. */
  readonly signal?: AbortSignal;
  /** This process's mounts (see readMountInfo), read once per run. Default: read for each bind. */
  readonly mountInfo?: Promise<readonly MountInfoEntry[]>;
  /**
   * Where the outputs of other jobs are (their sealed volumes), for `from` binds: the outputs of the
   * jobs this job needs. A `from` bind whose output is not here is refused.
   */
  readonly outputOf?: (job: string, path: string) => OutputRef | undefined;
}

export async function planMounts(job: CompiledJob, ctx: PlanMountsContext): Promise<MountPlan> {
  const env = ctx.env ?? process.env;
  const { graph } = ctx;
  if (ctx.signal?.aborted) throw cancelledError(ctx.signal);
  const socketPaths = [...(ctx.dockerSocketPaths ?? dockerSocketPaths(env))];
  if (ctx.engineSocketPath && !socketPaths.includes(ctx.engineSocketPath))
    socketPaths.push(ctx.engineSocketPath);

  const container: PlannedMount[] = [];
  for (const mount of job.mounts) {
    if (mount.type === 'bind') {
      const checked = await checkBindSource(mount.source, mount, {
        job: job.name,
        mount: describeMount(mount, graph.projectDir),
        projectDir: graph.projectDir,
        dockerSocketPaths: socketPaths,
        ...(ctx.mountInfo ? { mountInfo: ctx.mountInfo } : {}),
      });
      const hostPath = engineHostPath(checked.realPath, checked.projectRealPath, env);
      container.push({ kind: 'bind', mount, hostPath, realPath: checked.realPath });
    } else if (mount.type === 'cache') {
      container.push({ kind: 'cache', mount, volume: cacheVolumeName(graph.project, mount.id) });
    } else if (mount.type === 'output') {
      const ref = ctx.outputOf?.(mount.job, mount.path);
      if (ref === undefined) {
        throw new MountError(
          job.name,
          describeMount(mount, graph.projectDir),
          `job ${mount.job} has no sealed output at ${mount.path} in this run`,
        );
      }
      container.push({ kind: 'output', mount, volume: ref.volume, digest: ref.digest });
    } else {
      container.push({ kind: 'tmpfs', mount, options: tmpfsOptions(mount) });
    }
  }
  const projectRealPath = await realpath(graph.projectDir).catch(() => graph.projectDir);
  const steps = await new StepMountsPlanner(job, graph, env, projectRealPath, ctx.secrets).plan();
  return { container, ...steps };
}

/** Plans every step's secrets and ssh agents, reading each source once. Throws on a missing required one. */
class StepMountsPlanner {
  readonly #secrets: RunSecrets;
  readonly #sshSockets = new Map<string, Promise<SshSocketResolution>>();
  /** The agent bound at each target. */
  readonly #sshBinds = new Map<string, { readonly id: string; readonly bind: DockerMount }>();

  constructor(
    private readonly job: CompiledJob,
    private readonly graph: BuildGraph,
    private readonly env: NodeJS.ProcessEnv,
    private readonly projectRealPath: string,
    secrets: RunSecrets | undefined,
  ) {
    this.#secrets = secrets ?? new RunSecrets(graph, env);
  }

  async plan(): Promise<Pick<MountPlan, 'steps' | 'sshBinds'>> {
    const steps: PlannedStepMounts[] = [];
    for (const step of this.job.steps) {
      const secrets: PlannedSecret[] = [];
      const ssh: PreparedSsh[] = [];
      for (const mount of step.mounts) {
        if (mount.type === 'secret') {
          const planned = await this.#secret(step, mount);
          if (planned) secrets.push(planned);
        } else {
          const planned = await this.#ssh(step, mount);
          if (planned) ssh.push(planned);
        }
      }
      steps[step.index] = { secrets, ssh };
    }
    return { steps, sshBinds: [...this.#sshBinds.values()].map((b) => b.bind) };
  }

  #fail(step: CompiledStep, mount: CompiledSecretMount | CompiledSshMount, message: string, cause?: unknown) {
    return new MountError(
      this.job.name,
      describeMount(mount, this.graph.projectDir, step.name),
      message,
      cause,
    );
  }

  /** The secret, once its value is known to exist; undefined when it is absent and not required. */
  async #secret(step: CompiledStep, mount: CompiledSecretMount): Promise<PlannedSecret | undefined> {
    const pending = this.#secrets.resolve(mount.id);
    if (pending === undefined) {
      throw this.#fail(step, mount, `secret ${mount.id} is not declared under secrets: in the step file`);
    }
    const resolution = await pending.catch((error: unknown) => {
      throw this.#fail(step, mount, `secret ${mount.id} cannot be read: ${(error as Error).message}`, error);
    });
    if (!resolution.found) {
      if (!mount.required) return undefined;
      throw this.#fail(
        step,
        mount,
        `secret ${mount.id}: ${resolution.reason}; provide it or mark the mount required: false`,
      );
    }
    return {
      id: mount.id,
      mount: describeMount(mount, this.graph.projectDir, step.name),
      target: mount.target,
      ...(mount.env === undefined ? {} : { env: mount.env }),
      mode: mount.mode,
      uid: mount.uid,
      gid: mount.gid,
    };
  }

  /** The agent, bound once per target; undefined when it is absent and not required. */
  async #ssh(step: CompiledStep, mount: CompiledSshMount): Promise<PreparedSsh | undefined> {
    let pending = this.#sshSockets.get(mount.id);
    if (pending === undefined) {
      pending = resolveSshSocket(mount.id, this.env);
      this.#sshSockets.set(mount.id, pending);
    }
    const socket = await pending;
    if (!socket.found) {
      if (!mount.required) return undefined;
      throw this.#fail(
        step,
        mount,
        `ssh agent ${mount.id}: ${socket.reason}; or mark the mount required: false`,
      );
    }
    const bound = this.#sshBinds.get(mount.target);
    if (bound !== undefined && bound.id !== mount.id) {
      throw this.#fail(
        step,
        mount,
        `ssh agents ${bound.id} and ${mount.id} are both given the target ${mount.target}`,
      );
    }
    if (bound === undefined) {
      const source = engineHostPath(socket.realPath, this.projectRealPath, this.env);
      this.#sshBinds.set(mount.target, {
        id: mount.id,
        bind: { Type: 'bind', Source: source, Target: mount.target },
      });
    }
    return { id: mount.id, target: mount.target };
  }
}
