/**
 * What the three CI documents share: one CI job per kiln job (matrix instances included), its id, the
 * ids of the CI jobs it waits for, and the command line it runs, `kiln run JOB --only`: the jobs it needs
 * ran on other CI machines before it, and what it mounts of their outputs comes from the shared job cache.
 */
import { yamlPackage } from '../definition/yaml-package.js';
import type { BuildGraph } from '../graph/types.js';
import { ciIds, type CiSystem } from './job-ids.js';

/** The environment variables that point `kiln run` at the shared cache (see README: Sharing results). */
export const CACHE_VARIABLES = ['KILN_CACHE_URL', 'KILN_CACHE_TOKEN', 'KILN_CACHE_SIGNING_KEY'] as const;

/** How `kiln ci` writes a pipeline. */
export interface CiOptions {
  /** The step file, as given to `kiln ci -f` (relative to where CI checks the repository out). Default `kiln.yaml`. */
  readonly file?: string;
  /** `--env` arguments, passed on to each `kiln run` as given. Default none. */
  readonly env?: readonly string[];
  /** How a CI machine invokes kiln: a shell command. Default `npx kiln`. */
  readonly kiln?: string;
  /** A shell command run before kiln on each CI machine to install it; empty for none. Default `npm ci`. */
  readonly install?: string;
  /**
   * Where the jobs run: GitHub's `runs-on` (default `ubuntu-latest`), a GitLab runner tag, a Buildkite
   * agent queue (default: none, the system's default).
   */
  readonly runsOn?: string;
  /** The command line that made the document, shown in its header. Default `kiln ci SYSTEM`. */
  readonly command?: string;
}

export const DEFAULT_KILN = 'npx kiln';
export const DEFAULT_INSTALL = 'npm ci';
export const DEFAULT_FILE = 'kiln.yaml';

export interface CiJob {
  /** The kiln job's name (a matrix instance's is `build (cc=gcc)`). */
  readonly name: string;
  /** Its id in the CI document. */
  readonly id: string;
  /** The ids of the CI jobs it waits for, in the graph's order. */
  readonly needs: readonly string[];
  /** Runs once its needs ended, whatever their status (`if: always` in the step file). */
  readonly always: boolean;
  /** The shell command line that runs it: `npx kiln run JOB --only`, names quoted. */
  readonly run: string;
}

/** A word as POSIX sh reads it back unchanged: as it is when it is plain, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command line a CI job runs for kiln job `name`. */
export function runLine(name: string, options: CiOptions): string {
  const words = ['run', name, '--only'];
  const file = options.file ?? DEFAULT_FILE;
  if (file !== DEFAULT_FILE) words.push('-f', file);
  for (const value of options.env ?? []) words.push('--env', value);
  return [options.kiln ?? DEFAULT_KILN, ...words.map(shellQuote)].join(' ');
}

/** The CI jobs of `graph` (already narrowed to the selected jobs), in the graph's order. */
export function ciJobs(graph: BuildGraph, system: CiSystem, options: CiOptions): CiJob[] {
  const ids = ciIds(system, graph.order);
  return graph.order.map((name) => {
    const job = graph.jobs.get(name)!;
    return {
      name,
      id: ids.get(name)!,
      needs: job.needs.map((need) => ids.get(need)!),
      always: job.if === 'always',
      run: runLine(name, options),
    };
  });
}

/** The install command, when there is one. */
export function installLine(options: CiOptions): string | undefined {
  const install = (options.install ?? DEFAULT_INSTALL).trim();
  return install === '' ? undefined : install;
}

/** The comment at the head of every document: where it came from and what the machines need. */
export function header(system: CiSystem, options: CiOptions, needs: readonly string[]): string {
  const command = options.command ?? `kiln ci ${system}`;
  return [
    ` Written by: ${command}`,
    ` From ${options.file ?? DEFAULT_FILE}: one CI job per kiln job, each running \`kiln run JOB --only\`; the`,
    ' outputs a job mounts come from the shared job cache, filled by the jobs before it. Write this file',
    " again after changing the step file's jobs or needs.",
    ...needs.map((line) => ` ${line}`),
  ].join('\n');
}

/** The YAML text of `value`, with `comment` at its head. Long lines are not folded. */
export function yamlText(value: unknown, comment: string): string {
  const { Document } = yamlPackage();
  const document = new Document(value);
  document.commentBefore = comment;
  return document.toString({ lineWidth: 0 });
}
