/**
 * Narrowing a graph to the jobs a user asked for (`kiln run build test`).
 */
import { DefinitionError } from '../errors.js';
import { freezeGraph } from './freeze.js';
import { didYouMean } from './suggest.js';
import type { BuildGraph, CompiledJob } from './types.js';

/**
 * The named jobs plus every job they need, directly or not, in the graph's order. An empty list
 * selects the whole graph (returned as is). Throws a DefinitionError naming every unknown job, with
 * the closest job name as a suggestion.
 */
export function selectJobs(graph: BuildGraph, names: readonly string[]): BuildGraph {
  if (names.length === 0) return graph;
  names = known(graph, names);
  const selected = new Set<string>();
  const stack = [...names];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (selected.has(name)) continue;
    selected.add(name);
    for (const need of graph.jobs.get(name)!.needs) if (!selected.has(need)) stack.push(need);
  }
  const jobs = new Map<string, CompiledJob>();
  for (const [name, job] of graph.jobs) if (selected.has(name)) jobs.set(name, job);
  return subgraph(graph, jobs, selected);
}

/** The named jobs alone (`kiln run JOB... --only`), and what their needs outside the selection were. */
export interface OnlySelection {
  /**
   * The named jobs, in the graph's order, each with the needs that are not named dropped from its
   * `needs`: a run treats those as passed.
   */
  readonly graph: BuildGraph;
  /** Per named job, the needs dropped from it (jobs without any are left out). */
  readonly dropped: ReadonlyMap<string, readonly string[]>;
  /**
   * The dropped needs whose outputs a named job mounts, in the graph's order: their outputs must come
   * from the job cache. A dropped need without such a mount is simply not run.
   */
  readonly fromCache: readonly string[];
}

/**
 * Selects exactly the named jobs, without the jobs they need. Throws a DefinitionError naming every
 * unknown job, as {@link selectJobs} does; an empty list is refused too (there would be nothing to run).
 */
export function selectOnly(graph: BuildGraph, names: readonly string[]): OnlySelection {
  if (names.length === 0) {
    throw new DefinitionError([{ message: 'name the jobs to run alone (kiln run JOB... --only)' }]);
  }
  const selected = new Set(known(graph, names));
  const jobs = new Map<string, CompiledJob>();
  const dropped = new Map<string, readonly string[]>();
  const consumed = new Set<string>();
  for (const name of graph.order) {
    if (!selected.has(name)) continue;
    const job = graph.jobs.get(name)!;
    const kept = job.needs.filter((need) => selected.has(need));
    const gone = job.needs.filter((need) => !selected.has(need));
    if (gone.length > 0) dropped.set(name, gone);
    for (const mount of job.mounts) {
      if (mount.type === 'output' && !selected.has(mount.job)) consumed.add(mount.job);
    }
    jobs.set(name, gone.length > 0 ? { ...job, needs: kept } : job);
  }
  return {
    graph: subgraph(graph, jobs, selected),
    dropped,
    fromCache: graph.order.filter((name) => consumed.has(name)),
  };
}

/**
 * The names, a matrix job's name (`build`) replaced by all its instances. Throws a DefinitionError naming
 * every name that is neither a job of the graph nor a matrix job, with a suggestion.
 */
function known(graph: BuildGraph, names: readonly string[]): readonly string[] {
  const groups = matrixGroups(graph);
  const unknown = names.filter((name) => !graph.jobs.has(name) && !groups.has(name));
  if (unknown.length > 0) {
    throw new DefinitionError(
      unknown.map((name) => ({
        message: `no job named '${name}'${didYouMean(name, graph.jobs.keys())}`,
        jobs: [name],
      })),
    );
  }
  return names.flatMap((name) => (graph.jobs.has(name) ? [name] : groups.get(name)!));
}

/** Each matrix job's name as written (`build`), with the names of its instances. */
export function matrixGroups(graph: BuildGraph): ReadonlyMap<string, readonly string[]> {
  const groups = new Map<string, string[]>();
  for (const job of graph.jobs.values()) {
    if (job.matrix === undefined) continue;
    const names = groups.get(job.matrix.group);
    if (names === undefined) groups.set(job.matrix.group, [job.name]);
    else names.push(job.name);
  }
  return groups;
}

/** The graph narrowed to `jobs` (the selected names, in the graph's order). */
function subgraph(
  graph: BuildGraph,
  jobs: Map<string, CompiledJob>,
  selected: ReadonlySet<string>,
): BuildGraph {
  return freezeGraph({
    projectDir: graph.projectDir,
    project: graph.project,
    ...(graph.file !== undefined ? { file: graph.file } : {}),
    secrets: graph.secrets,
    jobs,
    order: graph.order.filter((name) => selected.has(name)),
  });
}
