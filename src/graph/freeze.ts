/**
 * Deep freezing of a compiled graph. immer's `freeze(x, true)` walks plain objects and arrays but not
 * the values of a Map, so each job is frozen on its own before the graph that holds them.
 */
import { freeze } from 'immer';
import type { BuildGraph, CompiledJob } from './types.js';

export function freezeGraph(
  graph: { jobs: Map<string, CompiledJob> } & Omit<BuildGraph, 'jobs'>,
): BuildGraph {
  for (const job of graph.jobs.values()) freeze(job, true);
  return freeze(graph, true);
}
