/**
 * `kiln ci buildkite`: a Buildkite pipeline of command steps, ready for
 * `kiln ci buildkite | buildkite-agent pipeline upload` (a dynamic pipeline). One step per kiln job,
 * with a `key` and `depends_on` the keys of the kiln job's needs; each installs kiln and runs
 * `kiln run JOB --only`. Buildkite checks the repository out by itself. The shared cache's variables come
 * from the agents' environment hook (or a secrets plugin): the pipeline names none of their values, as
 * `pipeline upload` would write the uploading agent's values into the pipeline.
 */
import type { BuildGraph } from '../graph/types.js';
import { CACHE_VARIABLES, ciJobs, header, installLine, yamlText, type CiOptions } from './ci-jobs.js';

/**
 * `text` with every `$` doubled: `pipeline upload` replaces `$NAME` and `${NAME}` with the uploading
 * agent's environment, and `$$` is its escape for one `$`.
 */
export function literal(text: string): string {
  return text.replace(/\$/g, '$$$$');
}

/** The pipeline as a plain object. */
export function buildkitePipeline(graph: BuildGraph, options: CiOptions = {}): Record<string, unknown> {
  const install = installLine(options);
  const steps = ciJobs(graph, 'buildkite', options).map((job) => ({
    label: literal(job.name),
    key: job.id,
    ...(job.needs.length > 0 ? { depends_on: [...job.needs] } : {}),
    // Like kiln's `if: always`: run once the needs ended, whatever their status.
    ...(job.always ? { allow_dependency_failure: true } : {}),
    ...(options.runsOn !== undefined ? { agents: { queue: options.runsOn } } : {}),
    commands: [...(install !== undefined ? [install] : []), literal(job.run)],
  }));
  return { steps };
}

/** The pipeline's YAML text. */
export function buildkitePipelineText(graph: BuildGraph, options: CiOptions = {}): string {
  return yamlText(
    buildkitePipeline(graph, options),
    header('buildkite', options, [
      'Upload it from a step: kiln ci buildkite | buildkite-agent pipeline upload',
      'Agents need Node 20 and a Docker engine; --runs-on QUEUE picks their queue.',
      "The shared cache (see README) comes from the agents' environment hook, which sets",
      `${CACHE_VARIABLES.join(', ')}.`,
    ]),
  );
}
