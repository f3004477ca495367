/**
 * The job's container, from its plan and its acquired mounts: reused (in reuse mode, under its lock,
 * when it matches), else created; its release is pushed before it is started, so that one that fails to
 * start is removed all the same. A reused container is not removed at the end but handed over: no
 * process or secret of this run outlives it. Before it, the mount points the engine would make as root
 * in the user's read-write binds are made as the user; once it runs, a release that hands what the job
 * wrote into them back to the user is pushed above the container's (see mounts/host-owner.ts).
 */
import type { Emit } from '../events.js';
import { MountError } from '../errors.js';
import { Label } from '../labels.js';
import { copyBackFile } from '../mounts/ship-binds.js';
import { SOURCE_VOLUME_PREFIX } from '../runtime/source-volumes.js';
import { handBackCommand, handedBack, makeNestedMountPoints, type HostOwner } from '../mounts/host-owner.js';
import type { PreparedMounts } from '../mounts/types.js';
import type { ReleaseStack } from '../release.js';
import type { Engine } from '../runtime/engine.js';
import { handOver } from '../runtime/hand-over.js';
import {
  createJobContainer,
  JobContainer,
  startJobContainer,
  type JobContainerSpec,
} from '../runtime/job-container.js';
import { decideReuse } from '../runtime/reuse.js';
import { runExec } from '../runtime/run-exec.js';
import { KILN_VERSION } from '../runtime/version.js';
import type { JobPlan } from './plan-job.js';
import { reuseFingerprint } from './reuse-fingerprint.js';
import { relaySshAgents } from './ssh-relay.js';
import { lockReusedContainer } from './reuse-lock.js';

export interface AcquireContainerContext {
  readonly engine: Pick<Engine, 'containers' | 'exec' | 'volumes'>;
  readonly project: string;
  readonly runId: string;
  readonly emit: Emit;
  readonly stack: ReleaseStack;
  /** Waiting for a reused container held by another run stops with a CancelledError when this aborts. */
  readonly signal: AbortSignal;
  /** kiln's state folder, where reused containers' lock files are. */
  readonly stateDirectory: string;
  /** Who gets the mount points made in read-write binds and what the job writes there (see hostOwner). */
  readonly owner: HostOwner;
  /** The job has services: its container joins their network, answering to these names there. */
  readonly services?: { readonly network: string; readonly aliases: readonly string[] };
  /**
   * The engine does not see this host's files: binds are copies (mounts/ship-bind.ts), so no mount point
   * is made on this host and nothing is handed back there by the engine; single files are put into the
   * container before it starts and read back when writable. Default false.
   */
  readonly remote?: boolean;
}

export async function acquireContainer(
  plan: JobPlan,
  mounts: PreparedMounts,
  ctx: AcquireContainerContext,
): Promise<JobContainer> {
  const { job } = plan;
  const { engine } = ctx;
  const spec = containerSpec(plan, mounts, ctx);
  if (!ctx.remote)
    await makeNestedMountPoints(
      writableBinds(plan),
      [
        ...mounts.mounts.map((m) => ({
          target: m.Target,
          ...(m.Type === 'bind' ? { bindSource: m.Source } : {}),
        })),
        ...Object.keys(plan.tmpfs).map((target) => ({ target })),
      ],
      ctx.owner,
    );
  let id: string | undefined;
  let recreated: string | undefined;
  if (spec.reuse) {
    const { name, fingerprint } = spec.reuse;
    await lockReusedContainer({ ...ctx, name, derived: plan.reuse!.derived, job: job.name });
    const decision = await decideReuse(engine, { ...spec, name, fingerprint });
    if (decision.kind === 'reuse') id = decision.id;
    if (decision.kind === 'recreate') {
      recreated = decision.reason;
      ctx.emit({
        type: 'warning',
        job: job.name,
        message: `reused container ${name} is recreated: ${recreated}`,
      });
      await engine.containers.remove(decision.id, `container ${name}`);
    }
  }
  const reused = id !== undefined;
  id ??= await createJobContainer(engine, spec);
  const shortId = id.slice(0, 12);
  const name = spec.reuse?.name ?? shortId;
  pushRelease(id, name, spec, ctx);
  if (ctx.remote && !reused) await checkSourceVolumes(id, mounts, ctx, job.name);
  await putFiles(id, mounts, ctx, job.name);
  if (!reused) await startJobContainer(engine, id, spec);
  if (!ctx.remote) pushHandBack(id, plan, mounts, ctx);
  const relays = plan.mounts.sshRelays ?? [];
  if (relays.length > 0) {
    await relaySshAgents(relays, { ...ctx, containerId: id, job: job.name });
  }
  ctx.emit({
    type: reused ? 'container.reuse' : recreated ? 'container.recreate' : 'container.create',
    job: job.name,
    container: shortId,
    ...(spec.reuse ? { name } : {}),
    ...(recreated ? { reason: recreated } : {}),
  });
  return new JobContainer(engine, id, name, reused, job.name, plan.secretDirs);
}

function containerSpec(
  plan: JobPlan,
  mounts: PreparedMounts,
  ctx: AcquireContainerContext,
): JobContainerSpec {
  const { job } = plan;
  const fingerprint = reuseFingerprint({
    imageId: plan.imageId,
    mounts: mounts.mounts,
    tmpfs: plan.tmpfs,
    kilnVersion: KILN_VERSION,
    ...(job.network ? { network: job.network } : {}),
    ...(job.user ? { user: job.user } : {}),
  });
  return {
    project: ctx.project,
    job: job.name,
    runId: ctx.runId,
    image: job.image,
    imageId: plan.imageId,
    mounts: mounts.mounts,
    tmpfs: plan.tmpfs,
    ...(job.network ? { network: job.network } : {}),
    ...(ctx.services ? { network: ctx.services.network, networkAliases: ctx.services.aliases } : {}),
    workdirs: plan.workdirs,
    ...(plan.reuse ? { reuse: { name: plan.reuse.name, fingerprint } } : {}),
  };
}

/**
 * A run's container is removed. A reused one lives on, but no process or secret of this run may outlive
 * it: one that cannot be emptied (a step removed its shell, say) goes, and the next run makes it afresh.
 */
function pushRelease(id: string, name: string, spec: JobContainerSpec, ctx: AcquireContainerContext): void {
  const { engine } = ctx;
  if (spec.reuse) {
    ctx.stack.push('container', name, async () => {
      const handed = await handOver(engine, id, []).catch(() => undefined);
      if (handed?.code !== 0) await engine.containers.remove(id).catch(() => {});
    });
  } else {
    ctx.stack.push('container', name, async () => {
      await engine.containers.remove(id);
    });
  }
}

/**
 * On a remote engine: every bind-source volume the new container mounts is still the one that was found
 * (`kiln prune` may remove one in the instant between; the engine would then have made an empty volume
 * of that name for the container). Else the container and that empty volume go, and the job fails.
 */
async function checkSourceVolumes(
  id: string,
  mounts: PreparedMounts,
  ctx: AcquireContainerContext,
  job: string,
): Promise<void> {
  for (const mount of mounts.mounts) {
    if (mount.Type !== 'volume' || !mount.Source?.startsWith(SOURCE_VOLUME_PREFIX)) continue;
    const found = await ctx.engine.volumes.inspect(mount.Source);
    if (found?.labels[Label.digest] !== undefined) continue;
    await ctx.engine.containers.remove(id);
    await ctx.engine.volumes.remove(mount.Source);
    throw new MountError(
      job,
      `bind -> ${mount.Target}`,
      `the engine's copy of the bind source (volume ${mount.Source}) was removed as the job started ` +
        `(by kiln prune?); run again`,
    );
  }
}

/**
 * Puts the single-file binds of a remote engine into the container (see mounts/ship-bind.ts); a writable
 * one gets a release, run before the container's, that writes what the job left there over the host file.
 */
async function putFiles(
  id: string,
  mounts: PreparedMounts,
  ctx: AcquireContainerContext,
  job: string,
): Promise<void> {
  for (const file of mounts.files ?? []) {
    // Named by its whole path from `/`, so that the folders above it are made when the image lacks them.
    await ctx.engine.containers.putArchive(id, '/', file.tar());
    const { writeBack } = file;
    if (writeBack === undefined) continue;
    ctx.stack.push('file', file.target, async () => {
      const archive = await ctx.engine.containers.archive(id, file.target).catch(() => undefined);
      if (archive === undefined) {
        ctx.emit({
          type: 'warning',
          job,
          message: `${file.target} is gone from the container; ${file.hostPath} is left as it was`,
        });
        return;
      }
      await copyBackFile(archive, file.hostPath, writeBack.listing, ctx.owner);
    });
  }
}

/** The job's read-write binds, with their sources as this process sees them. */
function writableBinds(plan: JobPlan) {
  return plan.mounts.container.flatMap((p) =>
    p.kind === 'bind' && !p.mount.readonly ? [{ target: p.mount.target, realPath: p.realPath }] : [],
  );
}

/**
 * Pushes the release that hands what the job wrote into its read-write binds back to the user, run
 * before the container's own release, whether the job passed, failed or was cancelled. It never fails
 * the job: a command that fails (an image without `chown`) is a warning.
 */
function pushHandBack(id: string, plan: JobPlan, mounts: PreparedMounts, ctx: AcquireContainerContext): void {
  const binds = plan.mounts.container.flatMap((p) => (p.kind === 'bind' ? [p.mount] : []));
  const targets = [...mounts.mounts.map((m) => m.Target), ...Object.keys(plan.tmpfs)];
  const handed = handedBack(plan.job, binds, targets, ctx.owner);
  if (handed.length === 0) return;
  const { uid, gid } = ctx.owner;
  ctx.stack.push('ownership', `${handed.map((b) => b.target).join(' ')} -> ${uid}:${gid}`, async () => {
    const errors: Buffer[] = [];
    let failure: string | undefined;
    try {
      const code = await runExec(ctx.engine.exec, id, {
        argv: handBackCommand(handed, ctx.owner),
        user: '0',
        description: 'the hand-back of read-write binds',
        onOutput: (stream, chunk) => stream === 'stderr' && errors.push(chunk),
      });
      if (code !== 0) failure = `exit code ${code}`;
    } catch (error) {
      failure = (error as Error).message;
    }
    if (failure === undefined) return;
    const said = Buffer.concat(errors).toString('utf8').trim().split('\n').slice(0, 3).join('; ');
    ctx.emit({
      type: 'warning',
      job: plan.job.name,
      message:
        `what the job wrote into ${handed.map((b) => b.target).join(', ')} could not be handed back to ` +
        `${uid}:${gid} (${failure}${said ? `: ${said}` : ''}); some of it may stay root's ` +
        `(keep-owner: true on the bind skips this)`,
    });
  });
}
