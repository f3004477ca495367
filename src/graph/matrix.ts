/**
 * The matrix: a job with `matrix: { cc: [gcc, clang], opt: [O0, O2] }` becomes one job per combination
 * of its axes' values, named `build (cc=gcc, opt=O0)` (axes in the order written), before the rest of the
 * compiler sees the definition. `include` adds combinations, `exclude` removes those it matches. A job's
 * `needs` naming the matrix job waits for every instance. Each instance carries its values: in
 * its `matrix` field, which becomes the record of its values (what `${{ matrix.<axis> }}` reads, see
 * variables.ts), and as `KILN_MATRIX_<AXIS>` environment variables of the job, below its own `env`. Values reach the compiled job, so they are part
 * of its job cache key.
 */
import type { SourcePosition } from '../errors.js';
import { LazySourceMap } from '../definition/fast-read.js';
import { escapeToken, splitPointer } from '../definition/pointer.js';
import type { Definition, JobSpec, MatrixValue, SourceMap } from '../definition/types.js';

/** The most instances one matrix job may make. */
export const MAX_MATRIX_INSTANCES = 256;

/** One instance of a matrix job. */
export interface MatrixInstance {
  /** The matrix job's name, as written (`build`). */
  readonly group: string;
  /** The instance's value of each axis it has, in the axes' order, as text. */
  readonly values: Readonly<Record<string, string>>;
  /** False when a failing instance should not stop the run (`fail-fast: false`). */
  readonly failFast: boolean;
}

export interface MatrixExpansion {
  /** The definition with every matrix job replaced by its instances (itself when none has a matrix). */
  readonly definition: Definition;
  /** Instance name -> its group and values. */
  readonly instances: ReadonlyMap<string, MatrixInstance>;
  readonly problems: readonly { readonly message: string; readonly pointer: string }[];
}

/** The environment variable an axis's value is given in: `KILN_MATRIX_` and the axis in upper case. */
function matrixEnvName(axis: string): string {
  return `KILN_MATRIX_${axis.toUpperCase().replace(/-/g, '_')}`;
}

/** The name of an instance: `build (cc=gcc, opt=O2)`. */
function instanceName(group: string, values: Readonly<Record<string, string>>): string {
  const parts = Object.entries(values).map(([axis, value]) => `${axis}=${value}`);
  return `${group} (${parts.join(', ')})`;
}

type Combination = Record<string, string>;

/** Expands every matrix job of `definition`. */
export function expandMatrix(definition: Definition): MatrixExpansion {
  const jobs = definition.jobs ?? {};
  const problems: { message: string; pointer: string }[] = [];
  const instances = new Map<string, MatrixInstance>();
  if (!Object.values(jobs).some((spec) => spec?.matrix !== undefined)) {
    return { definition, instances, problems };
  }
  const groups = new Map<string, string[]>();
  const expanded: Record<string, JobSpec> = {};
  for (const [name, spec] of Object.entries(jobs)) {
    if (spec?.matrix === undefined) {
      expanded[name] = spec;
      continue;
    }
    const at = `/jobs/${escapeToken(name)}/matrix`;
    const { matrix, failFast, ...rest } = spec;
    const combinations = combinationsOf(matrix, at, problems);
    if (combinations === undefined) {
      expanded[name] = rest;
      continue;
    }
    const names: string[] = [];
    for (const values of combinations) {
      const instance = instanceName(name, values);
      if (instances.has(instance) || Object.hasOwn(jobs, instance)) continue;
      const env = Object.fromEntries(Object.entries(values).map(([k, v]) => [matrixEnvName(k), v]));
      // `matrix` on an instance is its values, which `${{ matrix.<axis> }}` reads.
      expanded[instance] = { ...rest, env: { ...env, ...rest.env }, matrix: values } as unknown as JobSpec;
      instances.set(instance, { group: name, values, failFast: failFast !== false });
      names.push(instance);
    }
    groups.set(name, names);
  }
  // `needs: [build]` waits for every instance of a matrix job.
  for (const [name, spec] of Object.entries(expanded)) {
    if (spec?.needs === undefined || !spec.needs.some((need) => groups.has(need))) continue;
    const needs = [...new Set(spec.needs.flatMap((need) => groups.get(need) ?? [need]))];
    expanded[name] = { ...spec, needs };
  }
  const sourceMap =
    definition.sourceMap === undefined ? undefined : new InstanceSourceMap(definition.sourceMap, instances);
  return {
    definition: { ...definition, jobs: expanded, ...(sourceMap ? { sourceMap } : {}) },
    instances,
    problems,
  };
}

/** The combinations of a matrix, or undefined (with problems) when it makes none or too many. */
function combinationsOf(
  matrix: NonNullable<JobSpec['matrix']>,
  at: string,
  problems: { message: string; pointer: string }[],
): Combination[] | undefined {
  const axes = Object.keys(matrix).filter((key) => key !== 'include' && key !== 'exclude');
  const before = problems.length;
  const values = (axis: string): readonly MatrixValue[] => (matrix[axis] as readonly MatrixValue[]) ?? [];
  for (const axis of axes) {
    if (values(axis).length === 0) {
      problems.push({
        message: `matrix axis '${axis}' has no values: give it at least one`,
        pointer: `${at}/${escapeToken(axis)}`,
      });
    }
  }
  const checkNames = (list: 'include' | 'exclude'): void => {
    (matrix[list] ?? []).forEach((entry, i) => {
      for (const key of Object.keys(entry)) {
        if (axes.includes(key)) continue;
        const known = axes.length === 0 ? 'the matrix has no axes' : `its axes are ${axes.join(', ')}`;
        problems.push({
          message: `matrix ${list} names the axis '${key}', which the matrix does not have: ${known}`,
          pointer: `${at}/${list}/${i}/${escapeToken(key)}`,
        });
      }
    });
  };
  checkNames('include');
  checkNames('exclude');
  if (problems.length > before) return undefined;

  const product = axes.reduce((n, axis) => n * values(axis).length, axes.length === 0 ? 0 : 1);
  const total = product + (matrix.include?.length ?? 0);
  if (total > MAX_MATRIX_INSTANCES) {
    problems.push({
      message: `the matrix makes ${product > MAX_MATRIX_INSTANCES ? product : total} instances, more than the ${MAX_MATRIX_INSTANCES} allowed: remove values or exclude combinations`,
      pointer: at,
    });
    return undefined;
  }
  let combinations: Combination[] = axes.length === 0 ? [] : [{}];
  for (const axis of axes) {
    combinations = combinations.flatMap((c) => values(axis).map((v) => ({ ...c, [axis]: String(v) })));
  }
  const matches = (c: Combination, entry: Readonly<Record<string, MatrixValue>>): boolean =>
    Object.entries(entry).every(([k, v]) => c[k] === String(v));
  combinations = combinations.filter((c) => !(matrix.exclude ?? []).some((entry) => matches(c, entry)));
  for (const entry of matrix.include ?? []) {
    // In the axes' order, so that the name does not depend on how the entry is written.
    const c: Combination = {};
    for (const axis of axes) if (Object.hasOwn(entry, axis)) c[axis] = String(entry[axis]);
    combinations.push(c);
  }
  if (combinations.length === 0) {
    problems.push({ message: 'the matrix makes no instance: every combination is excluded', pointer: at });
    return undefined;
  }
  return combinations;
}

/** The file's source map, where a value of an instance is found at the matrix job's value. */
class InstanceSourceMap extends LazySourceMap {
  constructor(
    map: SourceMap,
    private readonly instances: ReadonlyMap<string, MatrixInstance>,
  ) {
    super(() => map);
  }
  override get(pointer: string): SourcePosition | undefined {
    const own = super.get(pointer);
    if (own !== undefined) return own;
    const tokens = splitPointer(pointer);
    const instance =
      tokens[0] === 'jobs' && tokens[1] !== undefined ? this.instances.get(tokens[1]) : undefined;
    if (instance === undefined) return undefined;
    return super.get(
      ['', 'jobs', ...[instance.group, ...tokens.slice(2)]]
        .map((t, i) => (i < 2 ? t : escapeToken(t)))
        .join('/'),
    );
  }
  override has(pointer: string): boolean {
    return this.get(pointer) !== undefined;
  }
}
