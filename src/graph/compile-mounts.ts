/**
 * Mount specs as declared (on the defaults, a job or a step) compiled into the graph's resolved mounts:
 * sources absolute, targets absolute and normalised, sizes in bytes, modes numeric, defaults filled in.
 * Then the mounts of one container (or one step) are merged: identical mounts on one target are kept
 * once, different ones on one target are a problem, and the container's are sorted parents first.
 */
import type { MountSpec } from '../definition/types.js';
import type { CompiledContainerMount, CompiledMount, CompiledStepMount } from './types.js';
import type { DiagnosticCollector } from './diagnostics.js';
import { graphMountKind, SPEC_MOUNT_TYPES, specMountKind } from './mount-kinds/index.js';
import { problem, report, type MountContext, type MountEntry, type MountScope } from './mount-kinds/entry.js';
import { refusedTargetOf } from './mount-kinds/targets.js';

export type { DeclaredOutputs, MountContext, MountScope } from './mount-kinds/entry.js';
export { MAX_ID_LENGTH } from './mount-kinds/entry.js';
export { MAX_SOCKET_PATH, under } from './mount-kinds/targets.js';

/** A compiled mount and where it was declared. */
export interface PlacedMount<M extends CompiledMount = CompiledMount> {
  readonly mount: M;
  /** The entry's name in messages (see MountScope.entryName). */
  readonly name: string;
  readonly at?: string;
}

/** Compile a list of mount specs; faulty entries are reported and left out. */
export function compileMountList(
  specs: readonly MountSpec[] | undefined,
  scope: MountScope,
  context: MountContext,
): PlacedMount[] {
  const placed: PlacedMount[] = [];
  if (specs === undefined) return placed;
  if (!Array.isArray(specs)) {
    report(
      context,
      scope,
      `${scope.job === undefined ? '' : `job '${scope.job}', `}mounts must be a list`,
      scope.at,
    );
    return placed;
  }
  specs.forEach((spec, index) => {
    const name = scope.entryName(index);
    const at = scope.at === undefined ? undefined : `${scope.at}/${index}`;
    const mount = compileMount(spec, { name, at, scope, context });
    if (mount) placed.push({ mount, name, ...(at !== undefined ? { at } : {}) });
  });
  return placed;
}

/** Compiles one entry with its kind (looked up by `type`); an unknown type is reported. */
function compileMount(spec: MountSpec, entry: MountEntry): CompiledMount | undefined {
  if (spec === null || typeof spec !== 'object') {
    problem(entry, 'a mount must be an object with a type');
    return undefined;
  }
  const kind = specMountKind(spec.type);
  if (kind === undefined) {
    problem(
      entry,
      `unknown mount type '${String((spec as { type?: unknown }).type)}' (allowed: ${SPEC_MOUNT_TYPES.join(', ')})`,
      'type',
    );
    return undefined;
  }
  return kind.compile(spec, entry);
}

/**
 * The container's mounts: one per target (identical declarations kept once; different ones on one
 * target reported, naming both), sorted parents first: by depth of the target, then in declaration
 * order.
 */
export function mergeContainerMounts(
  job: string,
  placed: ReadonlyArray<PlacedMount<CompiledContainerMount>>,
  diagnostics: DiagnosticCollector,
): CompiledContainerMount[] {
  const kept = mergeByTarget(job, placed, diagnostics);
  const depth = kept.map((m) => (m.target === '/' ? 0 : m.target.split('/').length - 1));
  return kept
    .map((mount, index) => ({ mount, index }))
    .sort((a, b) => depth[a.index]! - depth[b.index]! || a.index - b.index)
    .map(({ mount }) => mount);
}

/** A step's secret and ssh mounts: one per target; a target the container already mounts is refused. */
export function mergeStepMounts(
  job: string,
  placed: ReadonlyArray<PlacedMount<CompiledStepMount>>,
  containerTargets: ReadonlySet<string>,
  diagnostics: DiagnosticCollector,
): CompiledStepMount[] {
  const kept = mergeByTarget(job, placed, diagnostics);
  for (const entry of placed) {
    if (containerTargets.has(entry.mount.target)) {
      diagnostics.addOnce(
        `job '${job}', ${entry.name} (${describeMount(entry.mount)}): ${entry.mount.target} is also a mount of the job's ` +
          `container; give the ${entry.mount.type} another target`,
        entry.at,
        [job],
      );
    }
  }
  return kept;
}

function mergeByTarget<M extends CompiledMount>(
  job: string,
  placed: ReadonlyArray<PlacedMount<M>>,
  diagnostics: DiagnosticCollector,
): M[] {
  if (placed.length === 1) return [placed[0]!.mount];
  const byTarget = new Map<string, { entry: PlacedMount<M>; key: string }>();
  const kept: M[] = [];
  for (const entry of placed) {
    const first = byTarget.get(entry.mount.target);
    if (first === undefined) {
      byTarget.set(entry.mount.target, { entry, key: JSON.stringify(entry.mount) });
      kept.push(entry.mount);
      continue;
    }
    if (first.entry.mount === entry.mount || first.key === JSON.stringify(entry.mount)) continue;
    diagnostics.addOnce(
      `job '${job}': two different mounts on ${entry.mount.target}: ${first.entry.name} ` +
        `(${describeMount(first.entry.mount)}) and ${entry.name} (${describeMount(entry.mount)}); ` +
        `keep one, or give one another target`,
      entry.at,
      [job],
    );
  }
  return kept;
}

/** A short description of a mount for messages: `bind /home/me/app`, `cache 'npm'`, `tmpfs`. */
export function describeMount(mount: CompiledMount): string {
  return graphMountKind(mount.type).describe(mount);
}

/** Whether the mount exists only while its step runs (a secret, an ssh agent). */
export function isStepMount(mount: CompiledMount): mount is CompiledStepMount {
  return graphMountKind(mount.type).life === 'step';
}

/**
 * Why a mount of this type (`output`: a job's own output, whose volume is mounted there too) cannot
 * have this (absolute, normalised) target, or undefined.
 */
export function refusedTarget(type: CompiledMount['type'], target: string): string | undefined {
  return refusedTargetOf(graphMountKind(type), target);
}
