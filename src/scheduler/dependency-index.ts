/**
 * The `needs` of a BuildGraph turned into arrays indexed by position in `graph.order`, built once in
 * O(jobs + edges), so that the scheduler finds ready jobs by counting down instead of rescanning.
 */
import { DefinitionError, type Diagnostic } from '../errors.js';
import type { BuildGraph } from '../graph/types.js';

export interface DependencyIndex {
  /** Job names in `graph.order`; a job's index is its position here. */
  readonly names: readonly string[];
  /** The distinct jobs each job needs. */
  readonly needs: readonly (readonly number[])[];
  /** The jobs that need each job, in order. */
  readonly dependants: readonly (readonly number[])[];
}

/**
 * Indexes the graph's `needs`. Throws a DefinitionError when the graph is not one the compiler makes:
 * a job missing from `order` or listed twice, a need that is not a job, or a job ordered before a job
 * it needs (which a cycle forces).
 */
export function indexDependencies(graph: BuildGraph): DependencyIndex {
  const names = graph.order;
  const position = new Map<string, number>();
  const problems: Diagnostic[] = [];
  names.forEach((name, i) => {
    if (position.has(name))
      problems.push({ message: `job ${name} is listed twice in the graph's order`, jobs: [name] });
    else if (!graph.jobs.has(name))
      problems.push({ message: `the graph's order lists ${name}, which is not a job`, jobs: [name] });
    position.set(name, i);
  });
  for (const name of graph.jobs.keys()) {
    if (!position.has(name))
      problems.push({ message: `job ${name} is missing from the graph's order`, jobs: [name] });
  }

  const needs: number[][] = names.map(() => []);
  const dependants: number[][] = names.map(() => []);
  names.forEach((name, i) => {
    const job = graph.jobs.get(name);
    if (!job) return;
    const seen = new Set<number>();
    for (const need of job.needs) {
      const j = position.get(need);
      if (j === undefined) {
        problems.push({
          message: `job ${name} needs ${need}, which is not a job of the graph`,
          jobs: [name, need],
        });
      } else if (j >= i) {
        problems.push({
          message: `job ${name} needs ${need}, which does not come before it in the graph's order (a cycle?)`,
          jobs: [name, need],
        });
      } else if (!seen.has(j)) {
        seen.add(j);
        needs[i]!.push(j);
        dependants[j]!.push(i);
      }
    }
  });
  if (problems.length > 0) throw new DefinitionError(problems);
  return { names, needs, dependants };
}
