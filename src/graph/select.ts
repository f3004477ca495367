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
  const unknown = names.filter((name) => !graph.jobs.has(name));
  if (unknown.length > 0) {
    throw new DefinitionError(
      unknown.map((name) => ({
        message: `no job named '${name}'${didYouMean(name, graph.jobs.keys())}`,
        jobs: [name],
      })),
    );
  }
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
  return freezeGraph({
    projectDir: graph.projectDir,
    project: graph.project,
    ...(graph.file !== undefined ? { file: graph.file } : {}),
    secrets: graph.secrets,
    jobs,
    order: graph.order.filter((name) => selected.has(name)),
  });
}
