/**
 * A host path: its source checked (inside the project unless allowed, never the Docker socket) and
 * given as the engine sees it; its content, digested, is in the job's key.
 */
import { realpath, stat } from 'node:fs/promises';
import { MountError } from '../../errors.js';
import type { CompiledBindMount, CompiledJob } from '../../graph/types.js';
import type { HostOwner } from '../../host-paths.js';
import { checkBindSource, displayPath, engineHostPath } from '../bind-sources.js';
import { hostOwner, makeOwnedFolder } from '../host-owner.js';
import { listingOf, type TreeDigestResult } from '../../results/index.js';
import { shipBind } from '../ship-bind.js';
import type { AcquireMountsContext, ContainerMountKind, EngineMount, RemoteBinds } from './kind.js';

/**
 * `hostPath`: the source through symlinks, as the engine sees it (see engineHostPath); `realPath`: the
 * same as this process sees it (what the job cache digests).
 */
export interface PlannedBindMount {
  readonly kind: 'bind';
  readonly mount: CompiledBindMount;
  readonly hostPath: string;
  readonly realPath: string;
  /**
   * The source does not exist: a read-write bind's is made, as the user who runs kiln, when the job's
   * mounts are acquired (`realPath` is where it will be).
   */
  readonly create?: true;
}

export const bindKind: ContainerMountKind<CompiledBindMount, PlannedBindMount> = {
  type: 'bind',
  life: 'container',
  event: 'bind',
  describe: (mount, projectDir) => `bind ${displayPath(mount.source, projectDir)} -> ${mount.target}`,
  async plan(mount, ctx) {
    const { projectDir } = ctx.graph;
    const checked = await checkBindSource(
      mount.source,
      { ...mount, missingAllowed: !mount.readonly },
      {
        job: ctx.job.name,
        mount: bindKind.describe(mount, projectDir),
        projectDir,
        dockerSocketPaths: ctx.dockerSocketPaths,
        ...(ctx.mountInfo ? { mountInfo: ctx.mountInfo } : {}),
        ...(ctx.sockets ? { sockets: ctx.sockets } : {}),
      },
    );
    if (ctx.remote) await refuseUnshippable(mount, checked.realPath, ctx.job.name, projectDir);
    const hostPath = engineHostPath(checked.realPath, checked.projectRealPath, ctx.env);
    return {
      kind: 'bind',
      mount,
      hostPath,
      realPath: checked.realPath,
      ...(checked.missing ? { create: true as const } : {}),
    };
  },
  async acquire(planned, job, ctx) {
    const owner = hostOwner(ctx.env ?? process.env);
    for (const p of planned) if (p.create) await makeSource(p, job.name, ctx.graph.projectDir, owner);
    if (ctx.remoteBinds) return shipBinds(planned, job, ctx, ctx.remoteBinds, owner);
    return (p) => ({
      mount: {
        Type: 'bind',
        Source: p.hostPath,
        Target: p.mount.target,
        ReadOnly: p.mount.readonly,
      },
      source: p.hostPath,
    });
  },
  key(planned, ctx) {
    const { mount } = planned;
    const exclude = mount.exclude;
    return {
      bind: (planned.create
        ? Promise.resolve(missingSource(planned.realPath))
        : ctx.digest(planned.realPath, exclude)
      ).then((listing) => ({
        listing,
        input: {
          target: mount.target,
          source: displayPath(mount.source, ctx.projectDir),
          readonly: mount.readonly,
          digest: listing.digest,
          ...(exclude.length > 0 ? { exclude } : {}),
        },
      })),
    };
  },
  uncached(mount, projectDir) {
    if (mount.allowDockerSocket) return `${bindKind.describe(mount, projectDir)} may reach the Docker socket`;
    if (!mount.readonly) {
      return `${bindKind.describe(mount, projectDir)} is read-write: the job can change its own inputs (readonly: true caches it)`;
    }
    return undefined;
  },
};

/**
 * Makes a missing read-write bind source as a folder owned by `owner`, and checks that it is where it
 * was planned (nothing swapped a symlink in meanwhile). What is made stays: it is the user's folder.
 */
async function makeSource(
  planned: PlannedBindMount,
  job: string,
  projectDir: string,
  owner: { uid: number; gid: number },
): Promise<void> {
  const { mount } = planned;
  const named = bindKind.describe(mount, projectDir);
  try {
    await makeOwnedFolder(mount.source, owner);
  } catch (error) {
    throw new MountError(
      job,
      named,
      `bind source ${displayPath(mount.source, projectDir)} does not exist and cannot be made: ${(error as Error).message}`,
      error,
    );
  }
  const made = await realpath(mount.source).catch(() => undefined);
  if (made !== planned.realPath) {
    throw new MountError(
      job,
      named,
      `bind source ${displayPath(mount.source, projectDir)} was made but resolves to ${made ?? 'nothing'}, not ${planned.realPath}; run again`,
    );
  }
}

/** A source that does not exist yet (it is made when the job starts): the digest of nothing. */
function missingSource(root: string): TreeDigestResult {
  return {
    root,
    ...listingOf([]),
    warnings: [],
    counts: { entries: 0, excluded: 0, bytesRead: 0, trusted: 0, racy: 0, missing: 0 },
    indexSaved: false,
  };
}

/**
 * On a remote engine, what cannot travel as a copy is refused before anything is acquired: the Docker
 * socket (this host's engine is not the one that runs the job) and any other socket, fifo or device.
 */
async function refuseUnshippable(
  mount: CompiledBindMount,
  realPath: string,
  job: string,
  projectDir: string,
): Promise<void> {
  const found = await stat(realPath).catch(() => undefined);
  if (found === undefined || found.isDirectory() || found.isFile()) return;
  const what = found.isSocket()
    ? mount.allowDockerSocket
      ? "a socket (this host's Docker socket is not the remote engine's, and a socket cannot be copied)"
      : 'a socket, which cannot be copied'
    : 'neither a file nor a folder';
  throw new MountError(
    job,
    bindKind.describe(mount, projectDir),
    `bind source ${displayPath(mount.source, projectDir)} is ${what}: on a remote engine (KILN_ENGINE_REMOTE, ` +
      `or a tcp:// or ssh:// DOCKER_HOST) bind sources travel as copies; remove the mount, or run on a local engine`,
  );
}

/** Ships each bind to the remote engine (see ship-bind.ts) and says how the container mounts it. */
async function shipBinds(
  planned: readonly PlannedBindMount[],
  job: CompiledJob,
  ctx: AcquireMountsContext,
  remote: RemoteBinds,
  owner: HostOwner,
): Promise<(p: PlannedBindMount) => EngineMount> {
  const given = new Map<PlannedBindMount, EngineMount>();
  for (const p of planned) {
    const named = bindKind.describe(p.mount, ctx.graph.projectDir);
    given.set(p, await shipBind(p, { ...ctx, job: job.name, named, owner, remote }));
  }
  return (p) => given.get(p)!;
}
