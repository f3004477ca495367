/**
 * A compiled graph as text for `kiln graph`: Graphviz dot, a Mermaid flowchart, or JSON.
 */
import { relative } from 'node:path';
import { UsageError } from '../errors.js';
import type { BuildGraph, CompiledJob, CompiledService } from './types.js';

export type GraphFormat = 'dot' | 'mermaid' | 'json';
export const GRAPH_FORMATS: readonly GraphFormat[] = ['dot', 'mermaid', 'json'];

/**
 * Render a graph. Jobs appear in declaration order, edges run from a need to the job that needs it;
 * in dot and Mermaid a job's outputs are a line of its box, and an edge along which a job mounts outputs
 * of the other (a bind with `from`) is labelled with their paths. Each text ends with a newline. The JSON
 * form is `{ project, jobs: [{ name, image, needs, steps: [names], mounts: [compiled container mounts],
 * outputs: [compiled outputs], cache?, matrix?: { group, values }, services?: [{ name, image, aliases,
 * ports, tmpfs, caches, command?, entrypoint?, user?, health? }] }] }`, indented by 2 spaces; the
 * instances of a matrix job are grouped in dot (a cluster) and Mermaid (a subgraph) under its name; it
 * holds secret ids at most, never a value, and no env (a job's nor a service's).
 *
 * A job's services are nodes of their own beside it, named `job:service` (a job's name has no `:` outside a
 * matrix instance's parentheses, so the names cannot clash), with the service's image: a cylinder in dot
 * and Mermaid, joined to the job by a dashed line without an arrow (not a need: it runs beside the job).
 */
export function renderGraph(graph: BuildGraph, format: GraphFormat): string {
  switch (format) {
    case 'dot':
      return renderDot(graph);
    case 'mermaid':
      return renderMermaid(graph);
    case 'json':
      return renderJson(graph);
    default:
      throw new UsageError(`unknown graph format '${String(format)}' (allowed: ${GRAPH_FORMATS.join(', ')})`);
  }
}

function stepCount(job: CompiledJob): string {
  return `${job.steps.length} step${job.steps.length === 1 ? '' : 's'}`;
}

/** The lines of a job's box: name, image, step count, and its outputs when it has any. */
function boxLines(graph: BuildGraph, job: CompiledJob): string[] {
  const lines = [job.name, job.image, stepCount(job)];
  if (job.outputs.length > 0) {
    const shown = job.outputs.map(({ path, export: exported }) =>
      exported === undefined ? path : `${path} (export ${projectRelative(graph, exported)})`,
    );
    lines.push(`outputs: ${shown.join(', ')}`);
  }
  return lines;
}

/** A host path as the user would write it in the step file: `./dist`, or absolute outside the project. */
function projectRelative(graph: BuildGraph, path: string): string {
  const rel = relative(graph.projectDir, path);
  return rel === '' ? '.' : rel.startsWith('..') ? path : `./${rel}`;
}

/** The outputs of `need` that `job` mounts (binds with `from`), as an edge's label; '' when none. */
function edgeLabel(job: CompiledJob, need: string): string {
  const paths = job.mounts.flatMap((m) => (m.type === 'output' && m.job === need ? [m.path] : []));
  return [...new Set(paths)].join(', ');
}

/**
 * The jobs in declaration order, the instances of a matrix job together under its name (at the place of
 * its first instance); any other job alone, under `undefined`.
 */
function grouped(graph: BuildGraph): [string | undefined, CompiledJob[]][] {
  const result: [string | undefined, CompiledJob[]][] = [];
  const groups = new Map<string, CompiledJob[]>();
  for (const job of graph.jobs.values()) {
    const group = job.matrix?.group;
    if (group === undefined) {
      result.push([undefined, [job]]);
      continue;
    }
    const jobs = groups.get(group);
    if (jobs !== undefined) {
      jobs.push(job);
      continue;
    }
    groups.set(group, [job]);
    result.push([group, groups.get(group)!]);
  }
  return result;
}

/** The name of a job's service as a node of its own: `job:service`. */
function serviceNode(job: CompiledJob, service: CompiledService): string {
  return `${job.name}:${service.name}`;
}

function renderDot(graph: BuildGraph): string {
  const quote = (text: string) => `"${text.replace(/[\\"]/g, '\\$&').replace(/\r?\n/g, '\\n')}"`;
  const lines = ['digraph kiln {', '  rankdir=LR;', '  node [shape=box];'];
  // In a dot label, \n (kept unescaped here) breaks the line.
  const label = (parts: readonly string[]) => parts.map((part) => quote(part).slice(1, -1)).join('\\n');
  const node = (job: CompiledJob, indent: string): string[] => [
    `${indent}${quote(job.name)} [label="${label(boxLines(graph, job))}"];`,
    ...(job.services ?? []).map(
      (service) =>
        `${indent}${quote(serviceNode(job, service))} [shape=cylinder, label="${label([serviceNode(job, service), service.image])}"];`,
    ),
  ];
  for (const [group, jobs] of grouped(graph)) {
    if (group === undefined) {
      lines.push(...node(jobs[0]!, '  '));
      continue;
    }
    lines.push(`  subgraph ${quote(`cluster_${group}`)} {`, `    label=${quote(group)};`);
    for (const job of jobs) lines.push(...node(job, '    '));
    lines.push('  }');
  }
  for (const job of graph.jobs.values()) {
    for (const service of job.services ?? []) {
      lines.push(
        `  ${quote(serviceNode(job, service))} -> ${quote(job.name)} [style=dashed, arrowhead=none];`,
      );
    }
  }
  for (const job of graph.jobs.values()) {
    for (const need of job.needs) {
      const label = edgeLabel(job, need);
      lines.push(`  ${quote(need)} -> ${quote(job.name)}${label === '' ? '' : ` [label=${quote(label)}]`};`);
    }
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

function renderMermaid(graph: BuildGraph): string {
  const ids = new Map<string, string>();
  for (const name of graph.jobs.keys()) ids.set(name, `job${ids.size}`);
  const escape = (text: string) =>
    text.replace(/[#"<>&|]/g, (c) => `#${c.charCodeAt(0)};`).replace(/\r?\n/g, ' ');
  const serviceIds = new Map<string, string>();
  for (const job of graph.jobs.values()) {
    for (const service of job.services ?? [])
      serviceIds.set(serviceNode(job, service), `svc${serviceIds.size}`);
  }
  const lines = ['flowchart LR'];
  const node = (job: CompiledJob, indent: string): string[] => [
    `${indent}${ids.get(job.name)!}["${boxLines(graph, job).map(escape).join('<br/>')}"]`,
    ...(job.services ?? []).map((service) => {
      const name = serviceNode(job, service);
      return `${indent}${serviceIds.get(name)!}[("${[name, service.image].map(escape).join('<br/>')}")]`;
    }),
  ];
  let groups = 0;
  for (const [group, jobs] of grouped(graph)) {
    if (group === undefined) {
      lines.push(...node(jobs[0]!, '  '));
      continue;
    }
    lines.push(`  subgraph matrix${groups++}["${escape(group)}"]`);
    for (const job of jobs) lines.push(...node(job, '    '));
    lines.push('  end');
  }
  for (const job of graph.jobs.values()) {
    for (const service of job.services ?? []) {
      lines.push(`  ${serviceIds.get(serviceNode(job, service))!} -.- ${ids.get(job.name)!}`);
    }
  }
  for (const job of graph.jobs.values()) {
    for (const need of job.needs) {
      const label = edgeLabel(job, need);
      const arrow = label === '' ? '-->' : `-->|"${escape(label)}"|`;
      lines.push(`  ${ids.get(need)!} ${arrow} ${ids.get(job.name)!}`);
    }
  }
  return lines.join('\n') + '\n';
}

function renderJson(graph: BuildGraph): string {
  const jobs = [...graph.jobs.values()].map((job) => ({
    name: job.name,
    image: job.image,
    needs: job.needs,
    steps: job.steps.map((step) => step.name),
    mounts: job.mounts,
    outputs: job.outputs,
    ...(job.cache !== undefined ? { cache: job.cache } : {}),
    ...(job.matrix !== undefined ? { matrix: { group: job.matrix.group, values: job.matrix.values } } : {}),
    ...(job.services !== undefined && job.services.length > 0
      ? { services: job.services.map(serviceJson) }
      : {}),
  }));
  return JSON.stringify({ project: graph.project, jobs }, null, 2) + '\n';
}

/** A service as the JSON form lists it under its job: all but its env. */
function serviceJson(service: CompiledService): Record<string, unknown> {
  return {
    name: service.name,
    image: service.image,
    aliases: service.aliases,
    ports: service.ports,
    tmpfs: service.tmpfs,
    caches: service.caches,
    ...(service.command !== undefined ? { command: service.command } : {}),
    ...(service.entrypoint !== undefined ? { entrypoint: service.entrypoint } : {}),
    ...(service.user !== undefined ? { user: service.user } : {}),
    ...(service.health !== undefined ? { health: service.health } : {}),
  };
}
