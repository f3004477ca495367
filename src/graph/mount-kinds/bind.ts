/** A host path mounted into the job's container; with `from`, an output of another job (output.ts). */
import { resolveUserPath } from '../../home-path.js';
import { nonEmptyString, problem, resolveTarget, type MountEntry } from './entry.js';
import { defineGraphMountKind } from './kind.js';
import { compileOutputBind, type CompiledOutputMount } from './output.js';

export interface CompiledBindMount {
  readonly type: 'bind';
  /** Absolute host path as written (resolved against the project folder), not yet through symlinks. */
  readonly source: string;
  /** Absolute path in the container. */
  readonly target: string;
  readonly readonly: boolean;
  readonly allowOutsideProject: boolean;
  readonly allowDockerSocket: boolean;
  /** gitignore-style patterns, relative to the source, left out of the job's key (and still mounted). */
  readonly exclude: readonly string[];
  /** Leave what the job writes into it as the job made it, instead of handing it back to the user. */
  readonly keepOwner: boolean;
}

export const bindMountKind = defineGraphMountKind<
  CompiledBindMount,
  CompiledBindMount | CompiledOutputMount
>()({
  type: 'bind',
  life: 'container',
  compile(spec, entry) {
    if (spec.from !== undefined) return compileOutputBind(spec, entry);
    const source = nonEmptyString(entry, spec.source, 'source');
    const target = resolveTarget(entry, spec.target, bindMountKind);
    const exclude = excludePatterns(entry, spec.exclude);
    if (spec.keepOwner === true && spec.readonly === true) {
      problem(
        entry,
        'keep-owner does not apply to a read-only bind: the job writes nothing into it; remove it',
        'keep-owner',
      );
      return undefined;
    }
    if (source === undefined || target === undefined || exclude === undefined) return undefined;
    return {
      type: 'bind',
      source: resolveUserPath(source, entry.context.projectDir, entry.context.homeDir),
      target,
      readonly: spec.readonly === true,
      allowOutsideProject: spec.allowOutsideProject === true,
      allowDockerSocket: spec.allowDockerSocket === true,
      exclude,
      keepOwner: spec.keepOwner === true,
    };
  },
  describe: (mount) => `bind ${mount.source}${mount.readonly ? ' read-only' : ''}`,
});

/** A bind's `exclude` patterns (none when absent), or undefined when they are not a list of patterns. */
function excludePatterns(entry: MountEntry, value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (
    Array.isArray(value) &&
    value.every((p) => typeof p === 'string' && p.trim() !== '' && !p.includes('\u0000'))
  ) {
    return [...(value as string[])];
  }
  problem(entry, 'exclude must be a list of patterns in .gitignore syntax (non-empty strings)', 'exclude');
  return undefined;
}
