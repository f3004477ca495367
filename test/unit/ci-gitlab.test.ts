/**
 * `kiln ci gitlab`: no published schema of `.gitlab-ci.yml` is on npm as a package of its own, so the
 * document is checked against GitLab's documented format (the CI/CD YAML syntax reference): top-level
 * keywords, jobs of one stage with `needs:` naming other jobs, `script:` lines, `when:` values.
 */
import test from 'ava';
import { parse } from 'yaml';
import { ciDocument, gitlabPipeline } from '../../src/ci/index.js';
import { UsageError } from '../../src/errors.js';
import { ciGraph, diamond, matrix, PRINT_ARGS, shellWords } from '../helpers/ci-graphs.js';

type Pipeline = Record<string, any>;

const TOP_LEVEL = new Set(['stages', 'default', 'include', 'variables', 'workflow']);
const JOB_KEYS = new Set(['stage', 'needs', 'script', 'when', 'tags', 'before_script']);
const WHEN = new Set(['on_success', 'on_failure', 'always', 'manual', 'delayed', 'never']);
/** GitLab's limit of `needs:` entries per job. */
const MAX_NEEDS = 50;

/** The problems of `doc` as GitLab's reference describes the format; none when it is well-formed. */
function formatProblems(doc: Pipeline): string[] {
  const problems: string[] = [];
  const stages = doc.stages as unknown;
  if (!Array.isArray(stages) || stages.some((s) => typeof s !== 'string'))
    problems.push('stages: not a list');
  if (doc.default !== undefined) {
    for (const key of Object.keys(doc.default)) {
      if (!['before_script', 'tags', 'image'].includes(key)) problems.push(`default.${key}: unknown`);
    }
  }
  const jobs = Object.entries(doc).filter(([name]) => !TOP_LEVEL.has(name));
  if (jobs.length === 0) problems.push('no job');
  for (const [name, job] of jobs) {
    if (name.startsWith('.')) problems.push(`${name}: a hidden job`);
    if (name.length > 255) problems.push(`${name}: longer than 255`);
    for (const key of Object.keys(job)) if (!JOB_KEYS.has(key)) problems.push(`${name}.${key}: unknown`);
    if (!(stages as string[]).includes(job.stage)) problems.push(`${name}: stage ${job.stage} not in stages`);
    if (
      !Array.isArray(job.script) ||
      job.script.length === 0 ||
      job.script.some((l: unknown) => typeof l !== 'string')
    )
      problems.push(`${name}: script is not a list of lines`);
    if (!Array.isArray(job.needs)) problems.push(`${name}: needs is not a list`);
    else {
      if (job.needs.length > MAX_NEEDS) problems.push(`${name}: more than ${MAX_NEEDS} needs`);
      for (const need of job.needs) {
        if (typeof need !== 'string' || TOP_LEVEL.has(need) || !(need in doc))
          problems.push(`${name}: needs ${need}`);
      }
    }
    if (job.when !== undefined && !WHEN.has(job.when)) problems.push(`${name}: when ${job.when}`);
  }
  return problems;
}

test("the pipelines of a diamond and of a matrix have GitLab's documented form", (t) => {
  for (const graph of [diamond(), matrix()]) {
    t.deepEqual(formatProblems(parse(ciDocument('gitlab', graph)) as Pipeline), []);
  }
  t.deepEqual(formatProblems(gitlabPipeline(diamond(), { install: '', runsOn: 'docker' })), []);
});

test('the format check is not blind: a need of a job that is not there is a problem', (t) => {
  const doc = gitlabPipeline(diamond()) as Pipeline;
  doc.test.needs = ['nope'];
  t.deepEqual(formatProblems(doc), ['test: needs nope']);
});

test("needs map to GitLab's needs (a DAG in one stage; jobs that need nothing start at once)", (t) => {
  const doc = parse(ciDocument('gitlab', diamond())) as Pipeline;
  t.deepEqual(doc.stages, ['kiln']);
  t.deepEqual(doc.lint.needs, []);
  t.deepEqual(doc.test.needs, ['lint', 'build']);
  t.deepEqual(doc.package.needs, ['test', 'build']);
  t.deepEqual(doc.test.script, ['npx kiln run test --only']);
  t.deepEqual(doc.default.before_script, ['npm ci']);
});

test('matrix instances keep their kiln names as GitLab job names, and their script gives the name back', (t) => {
  const doc = parse(ciDocument('gitlab', matrix(), { kiln: PRINT_ARGS })) as Pipeline;
  const name = "build (cc=it's $HOME, opt=O2)";
  t.truthy(doc[name]);
  t.deepEqual(shellWords(doc[name].script[0]), ['run', name, '--only']);
  t.deepEqual(doc['docs.v2'].needs, ['build (cc=gcc, opt=O2)', name]);
  t.is(doc['docs.v2'].when, 'always', "kiln's if: always()");
});

test('a job named as a GitLab keyword gets another name, and what needs it follows', (t) => {
  const doc = gitlabPipeline(ciGraph({ image: {}, push: { needs: ['image'] } })) as Pipeline;
  t.deepEqual(doc['kiln-image'].script, ['npx kiln run image --only']);
  t.deepEqual(doc.push.needs, ['kiln-image']);
  t.deepEqual(formatProblems(doc), []);
});

test('the shared cache is left to the CI/CD variables, which the header names; --runs-on is a runner tag', (t) => {
  const text = ciDocument('gitlab', diamond(), { runsOn: 'docker' });
  t.regex(text, /^# .*CI\/CD variables/m);
  t.regex(text, /KILN_CACHE_URL, KILN_CACHE_TOKEN, KILN_CACHE_SIGNING_KEY/);
  t.false('variables' in (parse(text) as Pipeline), 'no value of theirs is written into the file');
  t.deepEqual((parse(text) as Pipeline).default.tags, ['docker']);
});

test('a job that needs more jobs than GitLab takes (50) is refused, saying why', (t) => {
  const values = Array.from({ length: 51 }, (_, i) => `v${i}`);
  const graph = ciGraph({ build: { matrix: { n: values } }, pack: { needs: ['build'] } });
  const error = t.throws(() => gitlabPipeline(graph));
  t.true(error instanceof UsageError);
  t.regex(error!.message, /job 'pack' needs 51 jobs .*at most 50/);
  const fits = ciGraph({ build: { matrix: { n: values.slice(0, 50) } }, pack: { needs: ['build'] } });
  t.deepEqual(formatProblems(gitlabPipeline(fits) as Pipeline), []);
});
