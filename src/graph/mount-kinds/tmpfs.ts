/** A tmpfs in the job's container: size in bytes, numeric mode. */
import { parseMode, parseSize } from '../../definition/sizes.js';
import { parsed, resolveTarget } from './entry.js';
import { defineGraphMountKind } from './kind.js';

export interface CompiledTmpfsMount {
  readonly type: 'tmpfs';
  readonly target: string;
  /** Bytes; undefined leaves the engine's default. */
  readonly sizeBytes?: number;
  /** Numeric mode (e.g. 0o1777). */
  readonly mode: number;
}

export const tmpfsMountKind = defineGraphMountKind<CompiledTmpfsMount>()({
  type: 'tmpfs',
  life: 'container',
  compile(spec, entry) {
    const target = resolveTarget(entry, spec.target, tmpfsMountKind);
    const sizeBytes = spec.size === undefined ? undefined : parsed(entry, parseSize, spec.size, 'size');
    const mode = spec.mode === undefined ? 0o1777 : parsed(entry, parseMode, spec.mode, 'mode');
    if (target === undefined || mode === undefined || (spec.size !== undefined && sizeBytes === undefined)) {
      return undefined;
    }
    return { type: 'tmpfs', target, ...(sizeBytes !== undefined ? { sizeBytes } : {}), mode };
  },
  describe: () => 'tmpfs',
});
