/**
 * A secret: read when planned (so that a missing one is refused before anything is made), its value
 * written for its step only (run-step.ts). Its id and target are in the key, never its value, so a job
 * that mounts one is not cached unless it says `cache: true`.
 */
import type { CompiledSecretMount } from '../../graph/types.js';
import type { PlannedSecret, PreparedSecret } from '../types.js';
import { inStep, type StepMountKind } from './kind.js';

export const secretKind: StepMountKind<CompiledSecretMount, 'secrets'> = {
  type: 'secret',
  life: 'step',
  event: 'secret',
  list: 'secrets',
  describe: (mount) => `secret ${mount.id} -> ${mount.target}`,
  planner: (ctx) => ({
    async plan(step, mount): Promise<PlannedSecret | undefined> {
      const pending = ctx.secrets.resolve(mount.id);
      if (pending === undefined) {
        throw ctx.fail(step, mount, `secret ${mount.id} is not declared under secrets: in the step file`);
      }
      const resolution = await pending.catch((error: unknown) => {
        throw ctx.fail(step, mount, `secret ${mount.id} cannot be read: ${(error as Error).message}`, error);
      });
      if (!resolution.found) {
        if (!mount.required) return undefined;
        throw ctx.fail(
          step,
          mount,
          `secret ${mount.id}: ${resolution.reason}; provide it or mark the mount required: false`,
        );
      }
      return {
        id: mount.id,
        mount: inStep(secretKind.describe(mount, ctx.graph.projectDir), step.name),
        target: mount.target,
        ...(mount.env === undefined ? {} : { env: mount.env }),
        mode: mount.mode,
        uid: mount.uid,
        gid: mount.gid,
      };
    },
  }),
  /** Its value, which planning read once per run already. */
  async prepare(secret, ctx): Promise<PreparedSecret> {
    const resolution = await ctx.secrets.resolve(secret.id)!;
    if (!resolution.found) throw new Error(`secret ${secret.id} was planned but has no value`);
    return { ...secret, value: resolution.value };
  },
  key: (mount) => ({
    type: 'secret',
    target: mount.target,
    id: mount.id,
    mode: mount.mode,
    uid: mount.uid,
    gid: mount.gid,
    ...(mount.env !== undefined ? { env: mount.env } : {}),
  }),
  uncached: (mount) =>
    `it mounts secret ${mount.id}, whose value is not in the key (cache: true caches it anyway)`,
};
