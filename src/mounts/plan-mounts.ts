/**
 * planMounts: checks a compiled job's mounts and works out what they will be, without acquiring
 * anything (no volume, no lock, no file): bind sources resolved, checked and given as the engine sees
 * them, the volume of each cache, the options of each tmpfs, and per step the secrets (read, so that a
 * missing one is refused now) and ssh agents. A refused mount therefore leaves nothing behind.
 */
import { realpath } from 'node:fs/promises';
import { cancelledError, MountError } from '../errors.js';
import type { BuildGraph, CompiledJob } from '../graph/types.js';
import { dockerSocketPaths, type DockerSockets, type MountInfoEntry } from './bind-sources.js';
import { describeMount } from './describe-mount.js';
import { containerMountKind, STEP_MOUNT_KINDS, stepMountKind } from './kinds/index.js';
import type { StepPlanContext } from './kinds/kind.js';
import { RunSecrets } from './run-secrets.js';
import type { DockerMount, MountPlan, OutputRef, PlannedMount, PlannedStepMounts } from './types.js';

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
  /** The Docker sockets as found once per run (see DockerSockets). Default: found for each bind. */
  readonly sockets?: DockerSockets;
  /**
   * Where the outputs of other jobs are (their sealed volumes), for `from` binds: the outputs of the
   * jobs this job needs. A `from` bind whose output is not here is refused.
   */
  readonly outputOf?: (job: string, path: string) => OutputRef | undefined;
  /**
   * The engine does not see this host's files (Engine.remote): what cannot travel as a copy (a socket)
   * is refused, and ssh agents are relayed rather than bound. Default false.
   */
  readonly remote?: boolean;
}

export async function planMounts(job: CompiledJob, ctx: PlanMountsContext): Promise<MountPlan> {
  const env = ctx.env ?? process.env;
  const { graph } = ctx;
  if (ctx.signal?.aborted) throw cancelledError(ctx.signal);
  const socketPaths = [...(ctx.dockerSocketPaths ?? dockerSocketPaths(env))];
  if (ctx.engineSocketPath && !socketPaths.includes(ctx.engineSocketPath))
    socketPaths.push(ctx.engineSocketPath);

  const container: PlannedMount[] = [];
  const planContext = {
    job,
    graph,
    env,
    dockerSocketPaths: socketPaths,
    ...(ctx.mountInfo ? { mountInfo: ctx.mountInfo } : {}),
    ...(ctx.sockets ? { sockets: ctx.sockets } : {}),
    ...(ctx.outputOf ? { outputOf: ctx.outputOf } : {}),
    ...(ctx.remote ? { remote: true } : {}),
  };
  for (const mount of job.mounts) {
    container.push(await containerMountKind(mount.type).plan(mount, planContext));
  }
  const projectRealPath = await realpath(graph.projectDir).catch(() => graph.projectDir);
  const steps = await planStepMounts({
    job,
    graph,
    env,
    projectRealPath,
    ...(ctx.remote ? { remote: true } : {}),
    secrets: ctx.secrets ?? new RunSecrets(graph, env),
    fail: (step, mount, message, cause) =>
      new MountError(job.name, describeMount(mount, graph.projectDir, step.name), message, cause),
  });
  return { container, ...steps };
}

/**
 * Plans every step's secrets and ssh agents, each kind with one planner for the job (a source is read
 * once, an agent bound once per target). Throws on a missing required one.
 */
async function planStepMounts(
  ctx: StepPlanContext,
): Promise<Pick<MountPlan, 'steps' | 'sshBinds' | 'sshRelays'>> {
  // Made up front, in the kinds' order, so that their binds come out in that order.
  const planners = new Map(STEP_MOUNT_KINDS.map((kind) => [kind.type, kind.planner(ctx)] as const));
  const steps: PlannedStepMounts[] = [];
  for (const step of ctx.job.steps) {
    const planned: Record<string, unknown[]> = Object.fromEntries(STEP_MOUNT_KINDS.map((k) => [k.list, []]));
    for (const mount of step.mounts) {
      const entry = await planners.get(mount.type)!.plan(step, mount as never);
      if (entry) planned[stepMountKind(mount.type).list]!.push(entry);
    }
    steps[step.index] = planned as unknown as PlannedStepMounts;
  }
  const sshBinds: DockerMount[] = [...planners.values()].flatMap((planner) => planner.binds?.() ?? []);
  const sshRelays = [...planners.values()].flatMap((planner) => planner.relays?.() ?? []);
  return { steps, sshBinds, ...(sshRelays.length > 0 ? { sshRelays } : {}) };
}
