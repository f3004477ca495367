/**
 * An ssh agent: its socket found when planned and bound into the container once per target (after the
 * container's own mounts), announced as SSH_AUTH_SOCK to the steps that ask. Its id and target are in
 * the key, not the agent's keys, so a job that uses one is not cached unless it says `cache: true`.
 */
import type { CompiledSshMount } from '../../graph/types.js';
import { engineHostPath } from '../bind-sources.js';
import { resolveSshSocket, type SshSocketResolution } from '../ssh-agents.js';
import type { DockerMount, PreparedSsh, SshRelay } from '../types.js';
import type { StepMountKind } from './kind.js';

export const sshKind: StepMountKind<CompiledSshMount, 'ssh'> = {
  type: 'ssh',
  life: 'step',
  event: 'ssh',
  list: 'ssh',
  describe: (mount) => `ssh ${mount.id} -> ${mount.target}`,
  planner(ctx) {
    const sockets = new Map<string, Promise<SshSocketResolution>>();
    /** The agent bound at each target. */
    const binds = new Map<
      string,
      { readonly id: string; readonly bind: DockerMount; readonly relay: SshRelay }
    >();
    return {
      async plan(step, mount): Promise<PreparedSsh | undefined> {
        let pending = sockets.get(mount.id);
        if (pending === undefined) {
          pending = resolveSshSocket(mount.id, ctx.env);
          sockets.set(mount.id, pending);
        }
        const socket = await pending;
        if (!socket.found) {
          if (!mount.required) return undefined;
          throw ctx.fail(
            step,
            mount,
            `ssh agent ${mount.id}: ${socket.reason}; or mark the mount required: false`,
          );
        }
        const bound = binds.get(mount.target);
        if (bound !== undefined && bound.id !== mount.id) {
          throw ctx.fail(
            step,
            mount,
            `ssh agents ${bound.id} and ${mount.id} are both given the target ${mount.target}`,
          );
        }
        if (bound === undefined) {
          const source = engineHostPath(socket.realPath, ctx.projectRealPath, ctx.env);
          binds.set(mount.target, {
            id: mount.id,
            bind: { Type: 'bind', Source: source, Target: mount.target },
            relay: {
              id: mount.id,
              target: mount.target,
              socketPath: socket.realPath,
              mount: sshKind.describe(mount, ctx.graph.projectDir),
            },
          });
        }
        return { id: mount.id, target: mount.target };
      },
      // On a remote engine this host's socket cannot be bound: the agent is relayed instead.
      binds: () => (ctx.remote ? [] : [...binds.values()].map((b) => b.bind)),
      relays: () => (ctx.remote ? [...binds.values()].map((b) => b.relay) : []),
    };
  },
  prepare: async (ssh) => ssh,
  key: (mount) => ({ type: 'ssh', target: mount.target, id: mount.id }),
  uncached: (mount) =>
    `it uses ssh agent ${mount.id}, which is not in the key (cache: true caches it anyway)`,
};
