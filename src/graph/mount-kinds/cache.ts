/** A named volume kept across runs, shared, private or locked between the jobs that mount it. */
import type { CacheSharing } from '../../definition/types.js';
import { idOf, problem, resolveTarget } from './entry.js';
import { defineGraphMountKind } from './kind.js';

export interface CompiledCacheMount {
  readonly type: 'cache';
  readonly id: string;
  readonly target: string;
  readonly sharing: CacheSharing;
  readonly readonly: boolean;
}

const SHARING = ['shared', 'private', 'locked'] as const;

export const cacheMountKind = defineGraphMountKind<CompiledCacheMount>()({
  type: 'cache',
  life: 'container',
  compile(spec, entry) {
    const id = idOf(entry, spec.id);
    const target = resolveTarget(entry, spec.target, cacheMountKind);
    const sharing = spec.sharing ?? 'shared';
    if (!SHARING.includes(sharing)) {
      problem(entry, `unknown sharing '${String(sharing)}' (allowed: ${SHARING.join(', ')})`, 'sharing');
      return undefined;
    }
    if (id === undefined || target === undefined) return undefined;
    return { type: 'cache', id, target, sharing, readonly: spec.readonly === true };
  },
  describe: (mount) => `cache '${mount.id}'${mount.sharing === 'shared' ? '' : ` ${mount.sharing}`}`,
});
