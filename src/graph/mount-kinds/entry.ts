/**
 * One mount entry being compiled (where it was declared, what it may refer to) and the checks the kinds
 * share: non-empty strings, ids, owners, sizes and modes, targets. Every problem is reported on the
 * entry, named as the user wrote it (`job 'build', mounts[1]: ...`) at its JSON pointer.
 */
import { posix } from 'node:path';
import type { DiagnosticCollector } from '../diagnostics.js';
import { refusedTargetOf, type TargetRules } from './targets.js';

export interface MountContext {
  /** Absolute project folder: relative bind sources resolve against it. */
  readonly projectDir: string;
  /** What `~` at the start of a bind source expands to. */
  readonly homeDir: string;
  /** The ids declared under `secrets`. */
  readonly secretIds: ReadonlySet<string>;
  /** Every job's workdir and output paths (resolved, not checked), for the binds with `from`. */
  readonly outputs: ReadonlyMap<string, DeclaredOutputs>;
  readonly diagnostics: DiagnosticCollector;
}

/** A job's output paths as a bind with `from` names them. */
export interface DeclaredOutputs {
  /** The job's workdir: a relative `source` of a bind with `from` resolves against it. */
  readonly workdir: string;
  /** Its outputs' paths, absolute, in declaration order. */
  readonly paths: readonly string[];
}

/** Where a list of mounts was declared. */
export interface MountScope {
  /** The job the list belongs to; absent for the defaults, whose problems do not depend on a job. */
  readonly job?: string;
  /** How one entry is named in messages: `mounts[1]`, `step 'test' mounts[0]`, `defaults.mounts[0]`. */
  readonly entryName: (index: number) => string;
  /** JSON pointer of the list (`/jobs/build/mounts`), when it has one. */
  readonly at?: string;
  /** The workdir relative targets resolve against. */
  readonly workdir: string;
  /** Report each problem once across every use of this list (defaults are compiled for every job). */
  readonly reportOnce?: boolean;
}

/** One entry of a mount list. */
export interface MountEntry {
  /** The entry's name in messages (see MountScope.entryName). */
  readonly name: string;
  /** Its JSON pointer, when the list has one. */
  readonly at: string | undefined;
  readonly scope: MountScope;
  readonly context: MountContext;
}

/**
 * The longest id of a cache, secret or ssh mount, as the schema has it: an id becomes part of volume and
 * lock file names (a file name has at most 255 bytes). Ids from KILN_DEFAULT_MOUNTS are checked here.
 */
export const MAX_ID_LENGTH = 128;

/** Reports a problem of the entry (of its key `key`, when given). */
export function problem(entry: MountEntry, message: string, key?: string): void {
  const at = entry.at === undefined ? undefined : key === undefined ? entry.at : `${entry.at}/${key}`;
  const job = entry.scope.job === undefined ? '' : `job '${entry.scope.job}', `;
  report(entry.context, entry.scope, `${job}${entry.name}: ${message}`, at);
}

/** Reports a problem of a whole list. */
export function report(
  context: MountContext,
  scope: MountScope,
  message: string,
  at: string | undefined,
): void {
  if (scope.reportOnce) context.diagnostics.addOnce(message, at);
  else context.diagnostics.add(message, at);
}

/** The target resolved against the workdir, unless the kind (or every mount) refuses it there. */
export function resolveTarget(entry: MountEntry, target: unknown, rules: TargetRules): string | undefined {
  const value = nonEmptyString(entry, target, 'target');
  if (value === undefined) return undefined;
  const resolved = posix.resolve(entry.scope.workdir, value);
  const refusal = refusedTargetOf(rules, resolved);
  if (refusal !== undefined) {
    problem(entry, refusal, 'target');
    return undefined;
  }
  return resolved;
}

export function idOf(entry: MountEntry, value: unknown): string | undefined {
  const id = nonEmptyString(entry, value, 'id');
  if (id === undefined || id.length <= MAX_ID_LENGTH) return id;
  problem(entry, `id is ${id.length} characters long, longer than the ${MAX_ID_LENGTH} allowed`, 'id');
  return undefined;
}

export function nonEmptyString(entry: MountEntry, value: unknown, key: string): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') {
    if (!value.includes('\u0000')) return value;
    problem(entry, `${key} holds a NUL character (\\0), which the engine cannot take; remove it`, key);
    return undefined;
  }
  problem(entry, value === undefined ? `missing ${key}` : `${key} must be a non-empty string`, key);
  return undefined;
}

export function ownerId(entry: MountEntry, value: unknown, key: 'uid' | 'gid'): number | undefined {
  if (value === undefined) return 0;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  problem(entry, `${key} ${JSON.stringify(value)} must be a whole number, 0 or more`, key);
  return undefined;
}

/** `parse(value)`, or undefined with its error reported on `key`. */
export function parsed<T extends string | number>(
  entry: MountEntry,
  parse: (value: T) => number,
  value: T,
  key: string,
): number | undefined {
  try {
    return parse(value);
  } catch (error) {
    problem(entry, (error as Error).message, key);
    return undefined;
  }
}
