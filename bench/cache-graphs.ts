/**
 * The generated projects of the job cache's cases: the example's C build as two jobs (and as a
 * multi-stage Dockerfile for BuildKit), a wide fan-in of many small jobs, and independent chains of jobs
 * that consume each other's outputs. Each job reads a bind source of its own and writes one output.
 */
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Definition, JobSpec, MountSpec } from '../src/definition/types.js';
import { REPO_ROOT } from './kiln-runs.js';
import { BENCH_IMAGE } from './raw-docker.js';

export const GCC_IMAGE = 'kiln-fixture/debian-gcc:bookworm';

/** The example's sources (Makefile, src/, tests/), copied into `<dir>/app`; returns that folder. */
export async function copyExampleSources(dir: string): Promise<string> {
  const app = join(dir, 'app');
  await mkdir(app, { recursive: true });
  for (const entry of ['Makefile', 'src', 'tests']) {
    await cp(join(REPO_ROOT, 'fixtures', 'example', entry), join(app, entry), { recursive: true });
  }
  return app;
}

/**
 * The example's work as a multi-stage Dockerfile: `build` compiles into /out and runs the tests,
 * `final` copies /out to /dist on busybox. The build context is the project folder; only `app/` is sent.
 */
export async function writeExampleDockerfile(dir: string): Promise<void> {
  await writeFile(
    join(dir, 'Dockerfile'),
    [
      `FROM ${GCC_IMAGE} AS build`,
      'COPY app /src',
      'RUN make -f /src/Makefile SRC=/src/src OUT=/out && /src/tests/run-tests.sh /out',
      '',
      `FROM ${BENCH_IMAGE} AS final`,
      'COPY --from=build /out /dist',
      '',
    ].join('\n'),
  );
  await writeFile(join(dir, '.dockerignore'), ['*', '!app', ''].join('\n'));
}

/**
 * The same as two kiln jobs: `build` binds `./app` read-only, compiles into its output /out and tests;
 * `final` mounts that output at /dist and lists it.
 */
export function exampleDefinition(projectDir: string): Definition {
  return {
    version: 1,
    projectDir,
    jobs: {
      build: {
        image: GCC_IMAGE,
        outputs: ['/out'],
        mounts: [{ type: 'bind', source: './app', target: '/src', readonly: true }],
        steps: [
          { name: 'compile', run: 'make -f /src/Makefile SRC=/src/src OUT=/out' },
          { name: 'test', run: '/src/tests/run-tests.sh /out' },
        ],
      },
      final: {
        image: BENCH_IMAGE,
        mounts: [{ type: 'bind', from: 'build', source: '/out', target: '/dist' }],
        steps: [{ name: 'list', run: 'ls -l /dist' }],
      },
    },
  };
}

/** A leaf's bind source: one small file in its own folder. */
async function writeSource(projectDir: string, folder: string, content: string): Promise<void> {
  await mkdir(join(projectDir, folder), { recursive: true });
  await writeFile(join(projectDir, folder, 'input.txt'), content);
}

/** Jobs per group of the fan-in: GROUP_SIZE - 1 leaves and the collector that mounts their outputs. */
export const GROUP_SIZE = 20;

/**
 * `jobs` jobs (a multiple of GROUP_SIZE) in groups: each leaf copies its own one-file bind source into
 * its output; each group's collector mounts its leaves' outputs and concatenates them into its own.
 * Writes the sources; returns the definition.
 */
export async function writeFanIn(projectDir: string, jobs: number): Promise<Definition> {
  const groups = Math.max(1, Math.round(jobs / GROUP_SIZE));
  const specs: Record<string, JobSpec> = {};
  for (let g = 0; g < groups; g++) {
    const collectorMounts: MountSpec[] = [];
    for (let l = 0; l < GROUP_SIZE - 1; l++) {
      const name = `g${g}-leaf${l}`;
      const folder = `src/g${g}/leaf${l}`;
      await writeSource(projectDir, folder, `${name}\n`);
      specs[name] = {
        outputs: ['/out'],
        mounts: [{ type: 'bind', source: `./${folder}`, target: '/in', readonly: true }],
        steps: [{ name: 'copy', run: 'cp /in/input.txt /out/result.txt' }],
      };
      collectorMounts.push({ type: 'bind', from: name, source: '/out', target: `/in/${name}` });
    }
    specs[`g${g}-collect`] = {
      outputs: ['/out'],
      mounts: collectorMounts,
      steps: [{ name: 'collect', run: 'cat /in/*/result.txt > /out/all.txt' }],
    };
  }
  return { version: 1, projectDir, defaults: { image: BENCH_IMAGE }, jobs: specs };
}

export interface Chains {
  readonly definition: Definition;
  /** The bind source folder of each job (relative to the project), by job. */
  readonly sourceOf: ReadonlyMap<string, string>;
}

export function chainJobName(chain: number, position: number): string {
  return `chain${chain}-job${position}`;
}

/**
 * `chains` independent chains of `length` jobs: each job binds a one-file source folder of its own and
 * writes to its output what the job before it output followed by its own file, so a change anywhere in
 * a chain changes every output after it. Writes the sources; returns the definition.
 */
export async function writeChains(projectDir: string, chains: number, length: number): Promise<Chains> {
  const specs: Record<string, JobSpec> = {};
  const sourceOf = new Map<string, string>();
  for (let c = 0; c < chains; c++) {
    for (let p = 0; p < length; p++) {
      const name = chainJobName(c, p);
      const folder = `src/chain${c}/job${p}`;
      await writeSource(projectDir, folder, `${name}\n`);
      sourceOf.set(name, folder);
      const mounts: MountSpec[] = [{ type: 'bind', source: `./${folder}`, target: '/in', readonly: true }];
      if (p > 0) mounts.push({ type: 'bind', from: chainJobName(c, p - 1), source: '/out', target: '/prev' });
      specs[name] = {
        outputs: ['/out'],
        mounts,
        steps: [
          {
            name: 'append',
            run:
              p > 0 ? 'cat /prev/out.txt /in/input.txt > /out/out.txt' : 'cat /in/input.txt > /out/out.txt',
          },
        ],
      };
    }
  }
  return { definition: { version: 1, projectDir, defaults: { image: BENCH_IMAGE }, jobs: specs }, sourceOf };
}

/** The jobs a job feeds: those that need it or mount one of its outputs. */
function dependants(definition: Definition): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const [name, job] of Object.entries(definition.jobs)) {
    const inputs = new Set(job.needs ?? []);
    for (const mount of job.mounts ?? []) if (mount.type === 'bind' && mount.from) inputs.add(mount.from);
    for (const input of inputs) edges.set(input, [...(edges.get(input) ?? []), name]);
  }
  return edges;
}

/** The given jobs and every job downstream of them. */
export function downstreamOf(definition: Definition, jobs: readonly string[]): Set<string> {
  const edges = dependants(definition);
  const seen = new Set<string>();
  const queue = [...jobs];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    if (seen.has(next)) continue;
    seen.add(next);
    queue.push(...(edges.get(next) ?? []));
  }
  return seen;
}
