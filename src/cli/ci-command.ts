/** `kiln ci github|gitlab|buildkite [JOB...]`: prints the pipeline that fans the graph out over a CI system. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ciDocument, shellQuote, type CiOptions, type CiSystem } from '../ci/index.js';
import { ExitCode, UsageError } from '../errors.js';
import { cachePolicy } from '../executor/job-key.js';
import type { BuildGraph } from '../graph/types.js';
import { visible } from '../visible-text.js';
import { loadGraph, selectNamedJobs } from './load.js';
import { reportError } from './report-error.js';

export interface CiCommandOptions {
  /** The step file. */
  readonly file: string;
  /** `--env NAME[=VALUE]`: values for the graph here, and passed on to each CI job's `kiln run`. */
  readonly env?: readonly string[];
  /** Where to write the document; stdout when absent. */
  readonly output?: string;
  /** How CI invokes kiln. */
  readonly kiln?: string;
  /** What installs kiln on a CI machine ('' for nothing). */
  readonly install?: string;
  /** GitHub's runs-on, a GitLab runner tag, a Buildkite queue. */
  readonly runsOn?: string;
  readonly debug?: boolean;
}

/** The `kiln ci` command line that would write the same document, for its header. */
function commandLine(system: CiSystem, jobs: readonly string[], options: CiCommandOptions): string {
  const words = ['kiln', 'ci', system, ...jobs.map(shellQuote)];
  if (options.file !== 'kiln.yaml') words.push('-f', shellQuote(options.file));
  for (const value of options.env ?? []) words.push('--env', shellQuote(value));
  if (options.kiln !== undefined) words.push('--kiln', shellQuote(options.kiln));
  if (options.install !== undefined) words.push('--install', shellQuote(options.install));
  if (options.runsOn !== undefined) words.push('--runs-on', shellQuote(options.runsOn));
  return words.join(' ');
}

/**
 * One line per job whose outputs a job of `graph` mounts but which the job cache does not take: on CI,
 * those outputs cannot reach the machine of the job that mounts them (its `kiln run --only` refuses).
 */
export function unsharedOutputs(graph: BuildGraph): string[] {
  const lines: string[] = [];
  for (const name of graph.order) {
    const producers = new Set<string>();
    for (const mount of graph.jobs.get(name)!.mounts) if (mount.type === 'output') producers.add(mount.job);
    for (const producer of producers) {
      const policy = cachePolicy(graph.jobs.get(producer)!, graph.projectDir);
      if (policy.cached) continue;
      lines.push(
        `job '${name}' mounts outputs of '${producer}', which the job cache does not take ` +
          `(${policy.reasons.join('; ')}): on CI they cannot reach '${name}', whose kiln run --only will refuse`,
      );
    }
  }
  return lines;
}

export async function ciCommand(
  system: CiSystem,
  jobs: readonly string[],
  options: CiCommandOptions,
): Promise<number> {
  try {
    const env = options.env ?? [];
    const { graph } = await loadGraph(options.file, process.env, { envOptions: env });
    const selected = selectNamedJobs(graph, jobs, options.file);
    const ciOptions: CiOptions = {
      file: options.file,
      env,
      ...(options.kiln !== undefined ? { kiln: options.kiln } : {}),
      ...(options.install !== undefined ? { install: options.install } : {}),
      ...(options.runsOn !== undefined ? { runsOn: options.runsOn } : {}),
      command: commandLine(system, jobs, options),
    };
    const text = ciDocument(system, selected, ciOptions);
    for (const line of unsharedOutputs(selected)) process.stderr.write(`kiln: warning: ${visible(line)}\n`);
    if (options.output === undefined || options.output === '-') {
      process.stdout.write(text);
    } else {
      const path = resolve(options.output);
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, text);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new UsageError(`cannot write --output ${options.output}: ${reason}`);
      }
    }
    return ExitCode.passed;
  } catch (error) {
    return reportError(error, options.debug ?? false);
  }
}
