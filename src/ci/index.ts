/**
 * `kiln ci`: a kiln graph as the pipeline of a CI system, one CI job per kiln job, so that the CI's
 * machines share the graph's work and hand outputs over through the shared job cache. Pure: a graph in,
 * a document's text out.
 */
import type { BuildGraph } from '../graph/types.js';
import { buildkitePipelineText } from './buildkite.js';
import type { CiOptions } from './ci-jobs.js';
import { githubWorkflowText } from './github-actions.js';
import { gitlabPipelineText } from './gitlab-ci.js';
import type { CiSystem } from './job-ids.js';

export { buildkitePipeline } from './buildkite.js';
export { CACHE_VARIABLES, ciJobs, runLine, shellQuote, type CiJob, type CiOptions } from './ci-jobs.js';
export { githubWorkflow } from './github-actions.js';
export { gitlabPipeline } from './gitlab-ci.js';
export { CI_SYSTEMS, ciIds, type CiSystem } from './job-ids.js';

/** The pipeline of `graph` (narrowed to the jobs to run) for `system`, as YAML text. */
export function ciDocument(system: CiSystem, graph: BuildGraph, options: CiOptions = {}): string {
  switch (system) {
    case 'github':
      return githubWorkflowText(graph, options);
    case 'gitlab':
      return gitlabPipelineText(graph, options);
    case 'buildkite':
      return buildkitePipelineText(graph, options);
  }
}
