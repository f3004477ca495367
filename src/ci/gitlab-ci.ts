/**
 * `kiln ci gitlab`: a `.gitlab-ci.yml`. One job per kiln job in one stage, its `needs:` the kiln job's
 * needs (a DAG: a job starts as soon as what it needs passed); each installs kiln and runs
 * `kiln run JOB --only`. GitLab checks the repository out by itself and hands every CI/CD variable to
 * the job's environment, so the shared cache's variables need only be set in the project's settings.
 */
import { UsageError } from '../errors.js';
import type { BuildGraph } from '../graph/types.js';
import { CACHE_VARIABLES, ciJobs, header, installLine, yamlText, type CiOptions } from './ci-jobs.js';

/** The one stage every job is in. */
export const STAGE = 'kiln';

/** The most `needs:` entries GitLab takes on one job. */
export const MAX_GITLAB_NEEDS = 50;

/** The document as a plain object. Throws a UsageError for a job that needs more jobs than GitLab takes. */
export function gitlabPipeline(graph: BuildGraph, options: CiOptions = {}): Record<string, unknown> {
  const install = installLine(options);
  const document: Record<string, unknown> = {
    stages: [STAGE],
    ...(install !== undefined || options.runsOn !== undefined
      ? {
          default: {
            ...(install !== undefined ? { before_script: [install] } : {}),
            ...(options.runsOn !== undefined ? { tags: [options.runsOn] } : {}),
          },
        }
      : {}),
  };
  for (const job of ciJobs(graph, 'gitlab', options)) {
    if (job.needs.length > MAX_GITLAB_NEEDS) {
      throw new UsageError(
        `job '${job.name}' needs ${job.needs.length} jobs (each matrix instance counts), and GitLab takes at ` +
          `most ${MAX_GITLAB_NEEDS} needs per job: split the matrix, or name fewer jobs`,
      );
    }
    document[job.id] = {
      stage: STAGE,
      // An empty list starts the job at once; GitLab would otherwise wait for earlier stages.
      needs: [...job.needs],
      ...(job.always ? { when: 'always' } : {}),
      script: [job.run],
    };
  }
  return document;
}

/** The document's YAML text. */
export function gitlabPipelineText(graph: BuildGraph, options: CiOptions = {}): string {
  return yamlText(
    gitlabPipeline(graph, options),
    header('gitlab', options, [
      'Runners need Node 20 and a Docker engine that sees the checkout (e.g. a shell executor on a host',
      'with Docker); --runs-on TAG picks such runners. The shared cache (see README) comes from the',
      `project's CI/CD variables: ${CACHE_VARIABLES.join(', ')}.`,
    ]),
  );
}
