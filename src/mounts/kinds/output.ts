/** Another job's output (a bind with `from`): its sealed volume, read-only; its digest is in the key. */
import { MountError } from '../../errors.js';
import type { CompiledOutputMount } from '../../graph/types.js';
import { outputMount } from '../../runtime/output-volumes.js';
import type { ContainerMountKind } from './kind.js';

/** `volume`: the sealed volume of another job's output; `digest`: its content digest. Read-only. */
export interface PlannedOutputMount {
  readonly kind: 'output';
  readonly mount: CompiledOutputMount;
  readonly volume: string;
  readonly digest: string;
}

export const outputKind: ContainerMountKind<CompiledOutputMount, PlannedOutputMount> = {
  type: 'output',
  life: 'container',
  event: 'bind',
  describe: (mount) => `bind ${mount.path} from job ${mount.job} -> ${mount.target}`,
  plan(mount, ctx) {
    const ref = ctx.outputOf?.(mount.job, mount.path);
    if (ref === undefined) {
      throw new MountError(
        ctx.job.name,
        outputKind.describe(mount, ctx.graph.projectDir),
        `job ${mount.job} has no sealed output at ${mount.path} in this run`,
      );
    }
    return { kind: 'output', mount, volume: ref.volume, digest: ref.digest };
  },
  acquire: async () => (planned) => ({
    mount: outputMount(planned.volume, planned.mount.target, true),
    source: planned.volume,
  }),
  key: ({ mount, digest }) => ({
    consumed: { job: mount.job, path: mount.path, target: mount.target, digest },
  }),
};
