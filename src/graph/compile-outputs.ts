/**
 * A job's `outputs` compiled: each path made absolute against the job's workdir and checked (an output is
 * a fresh volume mounted at its path, so it may not sit on the kernel's folders, on another output, or
 * on, inside or around one of the job's mounts), each export made an absolute host path and checked
 * (inside the project folder unless allowed, never the project folder or a folder that holds it; no two
 * exports of a graph on one folder or nested).
 */
import { posix } from 'node:path';
import type { OutputSpec } from '../definition/types.js';
import { isInside } from '../host-paths.js';
import { resolveUserPath } from '../home-path.js';
import { describeMount, refusedTarget, under, type PlacedMount } from './compile-mounts.js';
import type { DiagnosticCollector } from './diagnostics.js';
import type { CompiledOutput } from './types.js';

/** A compiled output and where it was declared. */
export interface PlacedOutput {
  readonly output: CompiledOutput;
  /** `outputs[0]`, as messages name it. */
  readonly name: string;
  /** JSON pointer of its path. */
  readonly at: string;
  /** JSON pointer of its export, when it has one. */
  readonly exportAt?: string;
}

/** The job whose outputs are compiled. */
export interface OutputJob {
  readonly name: string;
  /** `job 'name'`, as messages begin. */
  readonly label: string;
  /** JSON pointer of the job. */
  readonly at: string;
  readonly workdir: string;
}

export interface OutputContext {
  /** Absolute project folder: relative exports resolve against it. */
  readonly projectDir: string;
  /** What `~` at the start of an export expands to. */
  readonly homeDir: string;
  readonly diagnostics: DiagnosticCollector;
}

/** The path an entry of `outputs` declares, as written, when it has one. */
function writtenPath(entry: unknown): unknown {
  if (typeof entry === 'string') return entry;
  if (entry !== null && typeof entry === 'object') return (entry as { path?: unknown }).path;
  return undefined;
}

/**
 * The output paths a job declares (resolved against its workdir, each once, unchecked: compileOutputs
 * reports their faults), for the binds of other jobs that name them with `from`.
 */
export function declaredOutputPaths(outputs: unknown, workdir: string): string[] {
  if (!Array.isArray(outputs)) return [];
  const paths = new Set<string>();
  for (const entry of outputs as unknown[]) {
    const path = writtenPath(entry);
    if (typeof path === 'string' && path.trim() !== '' && !path.includes('\u0000')) {
      paths.add(posix.resolve(workdir, path));
    }
  }
  return [...paths];
}

/** A job's outputs, in declaration order; faulty ones are reported and left out. */
export function compileOutputs(
  outputs: readonly OutputSpec[] | undefined,
  job: OutputJob,
  context: OutputContext,
): PlacedOutput[] {
  const { diagnostics } = context;
  const placed: PlacedOutput[] = [];
  if (outputs === undefined) return placed;
  if (!Array.isArray(outputs)) {
    diagnostics.add(`${job.label}: outputs must be a list of paths or { path, export }`, `${job.at}/outputs`);
    return placed;
  }
  outputs.forEach((entry, index) => {
    const name = `outputs[${index}]`;
    const entryAt = `${job.at}/outputs/${index}`;
    const isObject = entry !== null && typeof entry === 'object';
    const at = isObject ? `${entryAt}/path` : entryAt;
    const report = (message: string, pointer = at): void =>
      diagnostics.add(`${job.label}, ${name}: ${message}`, pointer, [job.name]);

    const written = writtenPath(entry);
    if (typeof written !== 'string' || written.trim() === '') {
      report(
        typeof entry === 'string' || isObject
          ? 'the path must be a non-empty string'
          : 'an output must be a path, or { path, export }',
      );
      return;
    }
    if (written.includes('\u0000')) {
      report('the path holds a NUL character (\\0), which the engine cannot take; remove it');
      return;
    }
    const path = posix.resolve(job.workdir, written);
    const refusal = refusedTarget('output', path);
    if (refusal !== undefined) {
      report(refusal);
      return;
    }
    const clash = placed.find((other) => under(path, other.output.path) || under(other.output.path, path));
    if (clash !== undefined) {
      const other = clash.output.path;
      report(
        path === other
          ? `${path} is also ${clash.name}; declare each output once`
          : `${path} ${under(path, other) ? 'lies inside' : 'holds'} ${clash.name} (${other}); outputs cannot ` +
              `nest, since the volume of one would hide part of the other: declare one folder that holds both`,
      );
      return;
    }

    const options: Partial<Exclude<OutputSpec, string>> = isObject ? entry : {};
    const allowOutsideProject = options.allowOutsideProject;
    if (allowOutsideProject !== undefined && typeof allowOutsideProject !== 'boolean') {
      report('allow-outside-project must be true or false', `${entryAt}/allow-outside-project`);
      return;
    }
    const exportAt = `${entryAt}/export`;
    const exported =
      options.export === undefined
        ? undefined
        : exportPath(options.export, allowOutsideProject === true, context, (message) =>
            report(message, exportAt),
          );
    if (exported === null) return;
    placed.push({
      output: {
        path,
        ...(exported !== undefined ? { export: exported } : {}),
        allowOutsideProject: allowOutsideProject === true,
      },
      name,
      at,
      ...(exported !== undefined ? { exportAt } : {}),
    });
  });
  return placed;
}

/** An export as an absolute host path, or null when it is refused (reported). */
function exportPath(
  written: unknown,
  allowOutsideProject: boolean,
  context: OutputContext,
  report: (message: string) => void,
): string | null {
  if (typeof written !== 'string' || written.trim() === '' || written.includes('\u0000')) {
    report('export must be a folder of the host: a non-empty path without NUL characters');
    return null;
  }
  const { projectDir } = context;
  const path = resolveUserPath(written, projectDir, context.homeDir);
  const shown = path === written ? path : `${written} (${path})`;
  if (path === projectDir) {
    report(
      `export ${shown} is the project folder itself; an export replaces its folder, so export into a ` +
        `folder inside the project, e.g. ./dist`,
    );
    return null;
  }
  if (isInside(projectDir, path)) {
    report(
      `export ${shown} holds the project folder ${projectDir}; an export replaces its folder, so export ` +
        `into a folder inside the project, e.g. ./dist`,
    );
    return null;
  }
  if (!allowOutsideProject && !isInside(path, projectDir)) {
    report(
      `export ${shown} is outside the project folder ${projectDir}; export into a folder inside it, ` +
        `or set allow-outside-project: true on this output`,
    );
    return null;
  }
  return path;
}

/**
 * Reports each output that is the target of one of the job's mounts (container or step), lies inside
 * one, or holds one: its volume would be mounted on, into or around that mount.
 */
export function checkOutputMounts(
  job: OutputJob,
  outputs: readonly PlacedOutput[],
  mounts: readonly PlacedMount[],
  diagnostics: DiagnosticCollector,
): void {
  for (const { output, name, at } of outputs) {
    const reported = new Set<string>();
    for (const { mount, name: mountName } of mounts) {
      const target = mount.target;
      if (reported.has(target)) continue;
      const what = `${mountName} (${describeMount(mount)})`;
      let message: string | undefined;
      if (target === output.path) {
        message =
          `${output.path} is also the target of ${what}; an output is a volume of its own mounted at its ` +
          `path: give one of them another path`;
      } else if (under(output.path, target)) {
        message =
          `${output.path} lies inside ${target}, the target of ${what}; the output's volume would be ` +
          `mounted into it${mount.type === 'bind' ? ' (and its mount point made in the host folder)' : ''}: ` +
          `put the output outside ${target} (e.g. /out) and have the steps write there`;
      } else if (under(target, output.path)) {
        message =
          `${output.path} holds ${target}, the target of ${what}, which would be mounted inside the output ` +
          `and leave its mount point in it: put the mount outside ${output.path}, or the output beside it`;
      }
      if (message === undefined) continue;
      reported.add(target);
      diagnostics.addOnce(`${job.label}, ${name}: ${message}`, at, [job.name]);
    }
  }
}

/** A job's exports, for checkExports. */
export interface JobOutputs {
  readonly job: string;
  readonly outputs: readonly PlacedOutput[];
}

/**
 * Reports exports of one graph on one folder, or nested (one would replace what the other wrote),
 * each at the later (or inner) export, naming both jobs.
 */
export function checkExports(jobs: readonly JobOutputs[], diagnostics: DiagnosticCollector): void {
  interface Export {
    readonly job: string;
    readonly name: string;
    readonly path: string;
    readonly at: string | undefined;
  }
  const all: Export[] = jobs.flatMap(({ job, outputs }) =>
    outputs.flatMap(({ output, name, exportAt }) =>
      output.export === undefined ? [] : [{ job, name, path: output.export, at: exportAt }],
    ),
  );
  const byPath = new Map<string, Export>();
  for (const entry of all) if (!byPath.has(entry.path)) byPath.set(entry.path, entry);
  for (const entry of all) {
    const label = `job '${entry.job}', ${entry.name}`;
    const same = byPath.get(entry.path)!;
    if (same !== entry) {
      diagnostics.add(
        `${label}: export ${entry.path} is also the export of job '${same.job}', ${same.name}; two outputs ` +
          `cannot export into one folder (each replaces it): give one another folder`,
        entry.at,
        [...new Set([same.job, entry.job])],
      );
      continue;
    }
    for (let folder = posix.dirname(entry.path); ; folder = posix.dirname(folder)) {
      const outer = byPath.get(folder);
      if (outer !== undefined) {
        diagnostics.add(
          `${label}: export ${entry.path} lies inside ${folder}, the export of job '${outer.job}', ` +
            `${outer.name}; exports cannot nest (the outer one replaces its folder, inner export included): ` +
            `give them folders side by side`,
          entry.at,
          [...new Set([outer.job, entry.job])],
        );
        break;
      }
      if (folder === posix.dirname(folder)) break;
    }
  }
}
