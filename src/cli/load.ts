/** Loads and compiles the step file named on the command line, and checks the jobs named on it. */
import { resolve } from 'node:path';
import { parseDefaultMounts } from '../definition/default-mounts.js';
import { loadDefinitionFile } from '../definition/loader.js';
import type { Definition } from '../definition/types.js';
import { UsageError } from '../errors.js';
import { compile, selectJobs } from '../graph/index.js';
import { withNeedProblems } from '../graph/needs.js';
import { matrixGroups } from '../graph/select.js';
import { closestName } from '../graph/suggest.js';
import type { BuildGraph } from '../graph/types.js';
import { visible } from '../visible-text.js';

/** What `${{ ... }}` variables resolve to: `--env` values and the run's id. */
export interface GraphVariables {
  /** `--env NAME[=VALUE]` as given on the command line (see envOptionValues). Default: none. */
  readonly envOptions?: readonly string[];
  readonly runId?: string;
}

export async function loadGraph(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  variables: GraphVariables = {},
): Promise<{
  definition: Definition;
  graph: BuildGraph;
  /** The same definition compiled again for another run: what `${{ run.id }}` is then (`kiln run --watch`). */
  recompile(runId: string): BuildGraph;
}> {
  // First, as a usage error comes before any problem of the step file.
  const envValues = envOptionValues(variables.envOptions ?? [], env);
  // A file that fails its schema is still checked for unknown needs and cycles, so that one run of
  // `kiln validate` reports every problem.
  const definition = await loadDefinitionFile(resolve(file)).catch((error: unknown) => {
    throw withNeedProblems(error);
  });
  const raw = env.KILN_DEFAULT_MOUNTS;
  const defaultMounts = raw ? parseDefaultMounts(raw, { projectDir: definition.projectDir }) : [];
  const options = {
    defaultMounts,
    env,
    envValues,
    ...(variables.runId !== undefined ? { runId: variables.runId } : {}),
  };
  const graph = compile(definition, options);
  return { definition, graph, recompile: (runId) => compile(definition, { ...options, runId }) };
}

/**
 * The values of `--env NAME=VALUE` and `--env NAME` (the host's NAME), for `${{ env.NAME }}`. A name the
 * host does not set, or that is no environment variable name, is a UsageError.
 */
function envOptionValues(
  given: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const values: Record<string, string> = {};
  for (const option of given) {
    const equals = option.indexOf('=');
    const name = equals < 0 ? option : option.slice(0, equals);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new UsageError(
        `--env ${visible(option)}: expected NAME or NAME=VALUE, NAME letters, digits and _`,
      );
    }
    const value = equals < 0 ? env[name] : option.slice(equals + 1);
    if (value === undefined) {
      throw new UsageError(`--env ${name}: ${name} is not set here; give its value with --env ${name}=VALUE`);
    }
    values[name] = value;
  }
  return values;
}

/** How many job names an "unknown job" message lists at most. */
const LISTED_JOBS = 12;

/**
 * The jobs named on the command line and what they need (the whole graph when none is named). A matrix
 * job's name as written (`build`) names all its instances, as in `needs`. An unknown name is a UsageError
 * (exit 2) suggesting the closest job, or listing the jobs (a matrix job once, by its name) when none is
 * close.
 */
export function selectNamedJobs(graph: BuildGraph, names: readonly string[], file: string): BuildGraph {
  const groups = matrixGroups(graph);
  const unknown = [...new Set(names.filter((name) => !graph.jobs.has(name) && !groups.has(name)))];
  if (unknown.length > 0) {
    // As written in the step file (a matrix job by its name), then the instances for a closer match.
    const written = [...new Set([...graph.jobs.values()].map((job) => job.matrix?.group ?? job.name))];
    const listed =
      written.slice(0, LISTED_JOBS).join(', ') +
      (written.length > LISTED_JOBS ? `, ... (${written.length} jobs)` : '');
    // The names come from the command line: shown with control characters escaped, one per line.
    const lines = unknown.map((name) => {
      const closest = closestName(name, [...written, ...[...groups.values()].flat()]);
      return closest !== undefined
        ? `no job named '${visible(name)}' in ${visible(file)}. Did you mean ${closest}?`
        : `no job named '${visible(name)}' in ${visible(file)}; its jobs are: ${listed || '(none)'}`;
    });
    throw new UsageError(lines.join('\nkiln: '));
  }
  return selectJobs(graph, names);
}
