/**
 * A host path: its source checked (inside the project unless allowed, never the Docker socket) and
 * given as the engine sees it; its content, digested, is in the job's key.
 */
import type { CompiledBindMount } from '../../graph/types.js';
import { checkBindSource, displayPath, engineHostPath } from '../bind-sources.js';
import type { ContainerMountKind } from './kind.js';

/**
 * `hostPath`: the source through symlinks, as the engine sees it (see engineHostPath); `realPath`: the
 * same as this process sees it (what the job cache digests).
 */
export interface PlannedBindMount {
  readonly kind: 'bind';
  readonly mount: CompiledBindMount;
  readonly hostPath: string;
  readonly realPath: string;
}

export const bindKind: ContainerMountKind<CompiledBindMount, PlannedBindMount> = {
  type: 'bind',
  life: 'container',
  event: 'bind',
  describe: (mount, projectDir) => `bind ${displayPath(mount.source, projectDir)} -> ${mount.target}`,
  async plan(mount, ctx) {
    const { projectDir } = ctx.graph;
    const checked = await checkBindSource(mount.source, mount, {
      job: ctx.job.name,
      mount: bindKind.describe(mount, projectDir),
      projectDir,
      dockerSocketPaths: ctx.dockerSocketPaths,
      ...(ctx.mountInfo ? { mountInfo: ctx.mountInfo } : {}),
    });
    const hostPath = engineHostPath(checked.realPath, checked.projectRealPath, ctx.env);
    return { kind: 'bind', mount, hostPath, realPath: checked.realPath };
  },
  acquire: async () => (planned) => ({
    mount: {
      Type: 'bind',
      Source: planned.hostPath,
      Target: planned.mount.target,
      ReadOnly: planned.mount.readonly,
    },
    source: planned.hostPath,
  }),
  key(planned, ctx) {
    const { mount } = planned;
    const exclude = mount.exclude;
    return {
      bind: ctx.digest(planned.realPath, exclude).then((listing) => ({
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
