/**
 * `kiln ci github`: a GitHub Actions workflow (`.github/workflows/kiln.yml`). One job per kiln job, its
 * `needs:` the kiln job's needs; each checks the repository out, sets up Node 20, installs kiln and runs
 * `kiln run JOB --only` with the shared cache from the repository's secrets. GitHub's hosted Ubuntu
 * runners have a Docker engine; a self-hosted runner needs one too.
 */
import type { BuildGraph } from '../graph/types.js';
import { CACHE_VARIABLES, ciJobs, header, installLine, yamlText, type CiOptions } from './ci-jobs.js';

/** The runner label used when `--runs-on` is not given. */
export const DEFAULT_RUNS_ON = 'ubuntu-latest';

/** The versions of the actions each job uses. */
const CHECKOUT = 'actions/checkout@v4';
const SETUP_NODE = 'actions/setup-node@v4';

/**
 * `text` with every `${{` made literal: GitHub evaluates expressions in `name:` and `run:`, and a matrix
 * value could hold one; `${{ '${{' }}` is how an expression yields the two characters.
 */
export function literal(text: string): string {
  return text.replace(/\$\{\{/g, "${{ '${{' }}");
}

/** The workflow as a plain object. */
export function githubWorkflow(graph: BuildGraph, options: CiOptions = {}): Record<string, unknown> {
  const install = installLine(options);
  const jobs: Record<string, unknown> = {};
  for (const job of ciJobs(graph, 'github', options)) {
    jobs[job.id] = {
      name: literal(job.name),
      'runs-on': options.runsOn ?? DEFAULT_RUNS_ON,
      ...(job.needs.length > 0 ? { needs: [...job.needs] } : {}),
      // Like kiln's `if: always`: run once the needs ended, whatever their status (not when cancelled).
      ...(job.always ? { if: '${{ !cancelled() }}' } : {}),
      steps: [
        { uses: CHECKOUT },
        { uses: SETUP_NODE, with: { 'node-version': 20 } },
        ...(install !== undefined ? [{ name: 'Install kiln', run: install }] : []),
        { name: literal(`kiln run ${job.name}`), run: literal(job.run) },
      ],
    };
  }
  return {
    name: 'kiln',
    on: ['push', 'pull_request'],
    permissions: { contents: 'read' },
    env: Object.fromEntries(CACHE_VARIABLES.map((name) => [name, `\${{ secrets.${name} }}`])),
    jobs,
  };
}

/** The workflow's YAML text. */
export function githubWorkflowText(graph: BuildGraph, options: CiOptions = {}): string {
  return yamlText(
    githubWorkflow(graph, options),
    header('github', options, [
      'Runners need Node 20 and a Docker engine (GitHub-hosted Ubuntu runners have both).',
      'The shared cache (see README) comes from the repository secrets:',
      `${CACHE_VARIABLES.join(', ')}.`,
    ]),
  );
}
