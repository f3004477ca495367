/**
 * planJob: what running a job will take, worked out without acquiring anything: its image resolved to
 * an ID, its mounts planned (see mounts/plan-mounts.ts), its container's tmpfs mounts and workdirs, and
 * whether its container is reused. No volume, lock, file or container is made; the only engine calls are
 * those that resolve the image. A plan is what a job's cache key is computed from.
 */
import { MountError } from '../errors.js';
import type { CompiledJob } from '../graph/types.js';
import type { DockerSockets, MountInfoEntry } from '../mounts/bind-sources.js';
import { planMounts } from '../mounts/plan-mounts.js';
import type { RunSecrets } from '../mounts/run-secrets.js';
import type { MountPlan } from '../mounts/types.js';
import { jobContainerTmpfs, secretTmpfsDirs } from '../runtime/container-secrets.js';
import { resolveImage, type ImageRuntime } from '../runtime/images.js';
import { reuseName } from '../runtime/reuse.js';
import type { JobContext } from '../scheduler/types.js';

export interface JobPlan {
  /** The compiled job: its steps (commands, env, workdir, user), env, user, shell and network. */
  readonly job: CompiledJob;
  /** The ID of the job's image on the engine (pulled first when it was missing). */
  readonly imageId: string;
  /**
   * The job's mounts: binds with their host paths, caches with their volumes, tmpfs with their options,
   * ssh agent binds, and per step the secrets (ids and targets, never values) and ssh agents.
   */
  readonly mounts: MountPlan;
  /** Every tmpfs of the container, target -> options: kiln's own folders, then the job's tmpfs mounts. */
  readonly tmpfs: Readonly<Record<string, string>>;
  /** The folders that hold secrets with default targets, which get a tmpfs of their own. */
  readonly secretDirs: readonly string[];
  /** Folders the container makes when it starts: the job's workdir and its steps'. */
  readonly workdirs: readonly string[];
  /** In reuse mode: the container's stable name, and whether it was derived (not given by the job). */
  readonly reuse?: { readonly name: string; readonly derived: boolean };
}

export interface PlanJobOptions {
  readonly images: ImageRuntime;
  /** The socket of the engine, which a bind may not expose (see PlanMountsContext). */
  readonly engineSocketPath?: string;
  /** For secrets, ssh agents, `KILN_WORKER`, `KILN_WORKSPACE_HOST_PATH`, `DOCKER_HOST`. */
  readonly env: NodeJS.ProcessEnv;
  /** The run's secrets. */
  readonly secrets: RunSecrets;
  /** Reuse every job's container (`--reuse`). */
  readonly reuse: boolean;
  /** This process's mounts, read once per run (see mounts/bind-sources.ts). Default: read per bind. */
  readonly mountInfo?: Promise<readonly MountInfoEntry[]>;
  /** The Docker sockets as found once per run (see mounts/bind-sources.ts). Default: found per bind. */
  readonly sockets?: DockerSockets;
  /** The engine does not see this host's files (Engine.remote): binds are planned as copies. Default false. */
  readonly remote?: boolean;
}

export async function planJob(
  job: CompiledJob,
  context: Pick<JobContext, 'graph' | 'signal'> & Partial<Pick<JobContext, 'needs'>>,
  options: PlanJobOptions,
): Promise<JobPlan> {
  const { needs } = context;
  const mounts = await planMounts(job, {
    graph: context.graph,
    ...(needs ? { outputOf: (from: string, path: string) => needs.get(from)?.outputs?.get(path) } : {}),
    env: options.env,
    secrets: options.secrets,
    signal: context.signal,
    ...(options.mountInfo ? { mountInfo: options.mountInfo } : {}),
    ...(options.sockets ? { sockets: options.sockets } : {}),
    ...(options.engineSocketPath ? { engineSocketPath: options.engineSocketPath } : {}),
    ...(options.remote ? { remote: true } : {}),
  });
  // After the mounts: a job that a mount refuses is refused for that, even if its image is missing too.
  const imageId = await resolveImage(options.images, job.image, job.name);
  const secretTargets = mounts.steps.flatMap((step) => step?.secrets.map((s) => s.target) ?? []);
  const mountTargets = [
    ...mounts.container.flatMap((p) => (p.kind === 'tmpfs' ? [] : [p.mount.target])),
    ...mounts.sshBinds.map((b) => b.Target),
  ];
  const secretDirs = secretTmpfsDirs(secretTargets, mountTargets);
  const ownTmpfs = Object.fromEntries(
    mounts.container.flatMap((p) => (p.kind === 'tmpfs' ? [[p.mount.target, p.options] as const] : [])),
  );
  // A reused container keeps its mounts from run to run; outputs need fresh volumes each run. `--reuse`
  // leaves such jobs out; a job that asks for both is refused. A job's services' network lives for one
  // run: `--reuse` leaves a job with services out too (asking for both is refused by the compiler).
  if (job.reuse !== false && job.outputs.length > 0) {
    throw new MountError(
      job.name,
      `output ${job.outputs[0]!.path}`,
      'a job with outputs cannot reuse its container (a reused container keeps its mounts, and outputs get fresh volumes each run); remove reuse or the outputs',
    );
  }
  const reused = job.reuse !== false || (options.reuse && job.outputs.length === 0 && !job.services?.length);
  const given = job.reuse && job.reuse.name ? job.reuse.name : undefined;
  return {
    job,
    imageId,
    mounts,
    tmpfs: jobContainerTmpfs(ownTmpfs, secretDirs),
    secretDirs,
    workdirs: [...new Set([job.workdir, ...job.steps.map((s) => s.workdir)])],
    ...(reused
      ? {
          reuse: {
            name: given ?? reuseName(context.graph.project, job.name, options.env.KILN_WORKER ?? '0'),
            derived: given === undefined,
          },
        }
      : {}),
  };
}
