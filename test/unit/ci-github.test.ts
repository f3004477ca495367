/**
 * `kiln ci github`: the workflow passes SchemaStore's GitHub workflow schema (through
 * @action-validator/core, which embeds it), and has one job per kiln job with `needs:`, the checkout and
 * Node setup, the run line and the shared cache's secrets.
 */
import test from 'ava';
import { validateWorkflow } from '@action-validator/core';
import { parse } from 'yaml';
import { ciDocument, githubWorkflow } from '../../src/ci/index.js';
import { literal } from '../../src/ci/github-actions.js';
import { diamond, matrix } from '../helpers/ci-graphs.js';
import { buildGraph } from '../helpers/graphs.js';

type Workflow = { env: Record<string, string>; jobs: Record<string, Record<string, any>> };

function schemaErrors(text: string): string[] {
  return validateWorkflow(text).errors.map((e) => JSON.stringify(e));
}

/** Every `needs:` names a job of the workflow (the schema cannot say so). */
function danglingNeeds(workflow: Workflow): string[] {
  return Object.values(workflow.jobs).flatMap((job) =>
    ((job.needs ?? []) as string[]).filter((need) => !(need in workflow.jobs)),
  );
}

test('the workflows of a diamond and of a matrix pass the GitHub workflow schema', (t) => {
  for (const graph of [diamond(), matrix()]) {
    const text = ciDocument('github', graph, { runsOn: 'self-hosted' });
    t.deepEqual(schemaErrors(text), []);
    t.deepEqual(danglingNeeds(parse(text) as Workflow), []);
  }
});

test('the schema check is not blind: a workflow with a misspelt key fails it', (t) => {
  const text = ciDocument('github', diamond()).replace('runs-on:', 'run-on:');
  t.not(schemaErrors(text).length, 0);
});

test("needs map to GitHub's needs, by job id, and each job checks out, sets up Node 20 and runs its kiln job alone", (t) => {
  const workflow = parse(ciDocument('github', diamond())) as Workflow;
  t.deepEqual(Object.keys(workflow.jobs), ['lint', 'build', 'test', 'package']);
  t.deepEqual(workflow.jobs.test!.needs, ['lint', 'build']);
  t.deepEqual(workflow.jobs.package!.needs, ['test', 'build']);
  t.false('needs' in workflow.jobs.lint!);
  const steps = workflow.jobs.test!.steps as Array<Record<string, any>>;
  t.deepEqual(
    steps.map((s) => s.uses ?? s.run),
    ['actions/checkout@v4', 'actions/setup-node@v4', 'npm ci', 'npx kiln run test --only'],
  );
  t.is(steps[1]!.with['node-version'], 20);
  t.is(workflow.jobs.test!['runs-on'], 'ubuntu-latest');
});

test('the shared cache comes from the repository secrets, for every job', (t) => {
  const workflow = parse(ciDocument('github', diamond())) as Workflow;
  t.deepEqual(workflow.env, {
    KILN_CACHE_URL: '${{ secrets.KILN_CACHE_URL }}',
    KILN_CACHE_TOKEN: '${{ secrets.KILN_CACHE_TOKEN }}',
    KILN_CACHE_SIGNING_KEY: '${{ secrets.KILN_CACHE_SIGNING_KEY }}',
  });
});

test('matrix instances are jobs with safe ids, their kiln names shown and quoted for the shell', (t) => {
  const workflow = parse(ciDocument('github', matrix())) as Workflow;
  const instance = workflow.jobs['build_cc_it_s_HOME_opt_O2']!;
  t.is(instance.name, "build (cc=it's $HOME, opt=O2)");
  t.is(instance.steps.at(-1).run, `npx kiln run 'build (cc=it'\\''s $HOME, opt=O2)' --only`);
  t.is(workflow.jobs['docs_v2']!.if, '${{ !cancelled() }}', "kiln's if: always()");
});

test('--kiln, --install and --runs-on shape each job; an empty --install adds no step', (t) => {
  const workflow = githubWorkflow(diamond(), {
    kiln: 'node tools/kiln.js',
    install: '',
    runsOn: 'big-box',
  }) as unknown as Workflow;
  const job = workflow.jobs.lint!;
  t.is(job['runs-on'], 'big-box');
  t.deepEqual(
    (job.steps as Array<Record<string, any>>).map((s) => s.uses ?? s.run),
    ['actions/checkout@v4', 'actions/setup-node@v4', 'node tools/kiln.js run lint --only'],
  );
});

test('an expression in a job name is written so that GitHub shows it and does not evaluate it', (t) => {
  t.is(literal('a ${{ secrets.X }}'), "a ${{ '${{' }} secrets.X }}");
  // A matrix value may hold `${{` (kiln expands it in the job's env, never in the job's name).
  const graph = buildGraph({ 'build (v=${{ secrets.X }})': [] });
  const text = ciDocument('github', graph);
  t.deepEqual(schemaErrors(text), []);
  const job = Object.values((parse(text) as Workflow).jobs)[0]!;
  t.is(job.name, "build (v=${{ '${{' }} secrets.X }})");
  t.false(/(^|[^'])\$\{\{ secrets\.X/.test(job.steps.at(-1).run), job.steps.at(-1).run);
});
