/**
 * BuildGraphs for scheduler tests, built directly as plain objects (no compiler involved).
 */
import type { BuildGraph, CompiledJob } from '../../src/graph/types.js';

export const TEST_IMAGE = 'kiln-fixture/busybox:latest';

/** A job of a test graph: the jobs it needs, or those plus a timeout and an image. */
export type JobShape =
  | readonly string[]
  | { readonly needs?: readonly string[]; readonly timeoutMs?: number; readonly image?: string };

export function compiledJob(name: string, shape: JobShape = []): CompiledJob {
  const {
    needs = [],
    timeoutMs,
    image = TEST_IMAGE,
  } = Array.isArray(shape) ? { needs: shape } : (shape as Exclude<JobShape, readonly string[]>);
  return {
    name,
    image,
    workdir: '/workspace',
    env: {},
    shell: ['/bin/sh', '-c'],
    needs,
    mounts: [],
    outputs: [],
    steps: [
      {
        index: 0,
        name: 'step-1',
        argv: ['/bin/sh', '-c', 'true'],
        display: 'true',
        env: {},
        workdir: '/workspace',
        mounts: [],
        allowFailure: false,
      },
    ],
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    reuse: false,
  };
}

/**
 * A graph of the given jobs, `order` topological with ties in declaration order (Kahn's algorithm).
 * `buildGraph({ a: [], b: ['a'], c: { needs: ['a'], timeoutMs: 50 } })`
 */
export function buildGraph(jobs: Readonly<Record<string, JobShape>>, project = 'test-1a2b3c4d'): BuildGraph {
  const compiled = new Map<string, CompiledJob>();
  for (const [name, shape] of Object.entries(jobs)) compiled.set(name, compiledJob(name, shape));
  return {
    projectDir: '/tmp/kiln-test',
    project,
    secrets: {},
    jobs: compiled,
    order: topologicalOrder(compiled),
  };
}

function topologicalOrder(jobs: ReadonlyMap<string, CompiledJob>): string[] {
  const unmet = new Map<string, number>();
  const dependants = new Map<string, string[]>();
  for (const job of jobs.values()) {
    unmet.set(job.name, job.needs.length);
    for (const need of job.needs) {
      const list = dependants.get(need) ?? [];
      list.push(job.name);
      dependants.set(need, list);
    }
  }
  const order = [...jobs.keys()].filter((name) => unmet.get(name) === 0);
  for (let i = 0; i < order.length; i++) {
    for (const d of dependants.get(order[i]!) ?? []) {
      const left = unmet.get(d)! - 1;
      unmet.set(d, left);
      if (left === 0) order.push(d);
    }
  }
  if (order.length !== jobs.size) throw new Error('test graph has a cycle or an unknown need');
  return order;
}

/** `size` jobs in a line: job-1 needs job-0, job-2 needs job-1, ... */
export function chainGraph(size: number): BuildGraph {
  const jobs = new Map<string, CompiledJob>();
  const order: string[] = [];
  for (let i = 0; i < size; i++) {
    const name = `job-${i}`;
    jobs.set(name, compiledJob(name, i === 0 ? [] : [`job-${i - 1}`]));
    order.push(name);
  }
  return { projectDir: '/tmp/kiln-test', project: 'chain', secrets: {}, jobs, order };
}

/** One root and `size - 1` leaves that each need it. */
export function fanOutGraph(size: number): BuildGraph {
  const jobs = new Map<string, CompiledJob>([['root', compiledJob('root')]]);
  const order = ['root'];
  for (let i = 1; i < size; i++) {
    const name = `leaf-${i}`;
    jobs.set(name, compiledJob(name, ['root']));
    order.push(name);
  }
  return { projectDir: '/tmp/kiln-test', project: 'fan-out', secrets: {}, jobs, order };
}
