/**
 * `kiln ci buildkite`: a dynamic pipeline for `buildkite-agent pipeline upload`. Buildkite's pipeline
 * schema is not published on npm, so the document is checked against Buildkite's documented format
 * (command steps with `key`, `depends_on`, `commands`), and against what `pipeline upload` does to it:
 * it replaces `$NAME` with the uploading agent's environment, `$$` standing for one `$`.
 */
import test from 'ava';
import { parse } from 'yaml';
import { buildkitePipeline, ciDocument } from '../../src/ci/index.js';
import { diamond, matrix, PRINT_ARGS, shellWords } from '../helpers/ci-graphs.js';

type Step = Record<string, any>;

const STEP_KEYS = new Set(['label', 'key', 'depends_on', 'allow_dependency_failure', 'agents', 'commands']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The problems of a pipeline as Buildkite's step reference describes it; none when well-formed. */
function formatProblems(doc: { steps?: Step[] }): string[] {
  const problems: string[] = [];
  if (!Array.isArray(doc.steps) || doc.steps.length === 0) return ['steps: not a list of steps'];
  const keys = new Set<string>();
  for (const step of doc.steps) {
    for (const k of Object.keys(step)) if (!STEP_KEYS.has(k)) problems.push(`${step.key}.${k}: unknown`);
    if (typeof step.key !== 'string' || !/^[A-Za-z0-9_:-]+$/.test(step.key) || UUID.test(step.key))
      problems.push(`key ${step.key}: not a valid key`);
    if (keys.has(step.key)) problems.push(`key ${step.key}: twice`);
    keys.add(step.key);
    if (!Array.isArray(step.commands) || step.commands.some((c: unknown) => typeof c !== 'string'))
      problems.push(`${step.key}: commands is not a list of lines`);
    for (const dep of step.depends_on ?? []) {
      if (!doc.steps.some((s) => s.key === dep)) problems.push(`${step.key}: depends on ${dep}`);
    }
  }
  return problems;
}

/** What `pipeline upload` makes of a string with no variable in it; throws when one would be replaced. */
function uploaded(text: string): string {
  if (/\$(?!\$)/.test(text.replace(/\$\$/g, '')))
    throw new Error(`a variable would be interpolated: ${text}`);
  return text.replace(/\$\$/g, '$');
}

test("the pipelines of a diamond and of a matrix have Buildkite's documented form", (t) => {
  for (const graph of [diamond(), matrix()]) {
    t.deepEqual(formatProblems(parse(ciDocument('buildkite', graph)) as { steps: Step[] }), []);
  }
});

test('the format check is not blind: two steps of one key are a problem', (t) => {
  const doc = buildkitePipeline(diamond()) as { steps: Step[] };
  doc.steps[1]!.key = doc.steps[0]!.key;
  t.true(formatProblems(doc).includes('key lint: twice'));
});

test('needs map to depends_on, by step key', (t) => {
  const { steps } = parse(ciDocument('buildkite', diamond())) as { steps: Step[] };
  t.deepEqual(
    steps.map((s) => [s.key, s.depends_on ?? []]),
    [
      ['lint', []],
      ['build', []],
      ['test', ['lint', 'build']],
      ['package', ['test', 'build']],
    ],
  );
  t.deepEqual(steps[2]!.commands, ['npm ci', 'npx kiln run test --only']);
});

test("a matrix instance's command line survives pipeline upload's interpolation and the shell", (t) => {
  const { steps } = parse(ciDocument('buildkite', matrix(), { kiln: PRINT_ARGS })) as { steps: Step[] };
  const name = "build (cc=it's $HOME, opt=O2)";
  const step = steps.find((s) => uploaded(s.label) === name)!;
  t.is(step.key, 'build_cc_it_s_HOME_opt_O2');
  t.deepEqual(shellWords(uploaded(step.commands.at(-1))), ['run', name, '--only']);
  const docs = steps.find((s) => s.label === 'docs.v2')!;
  t.true(docs.allow_dependency_failure, "kiln's if: always()");
});

test('the pipeline names no cache value: the agents set them; --runs-on is the agents queue', (t) => {
  const text = ciDocument('buildkite', diamond(), { runsOn: 'builders' });
  t.false(
    /KILN_CACHE_URL/.test(
      text
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('\n'),
    ),
  );
  t.regex(text, /^# .*environment hook/m);
  const { steps } = parse(text) as { steps: Step[] };
  t.deepEqual(steps[0]!.agents, { queue: 'builders' });
});
