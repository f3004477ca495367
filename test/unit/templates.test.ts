import test from 'ava';
import { DefinitionError, type Diagnostic } from '../../src/errors.js';
import { loadDefinitionText } from '../../src/definition/loader.js';
import { compile } from '../../src/graph/index.js';

function failure(lines: readonly string[]): readonly Diagnostic[] {
  try {
    loadDefinitionText(lines.join('\n'), 'kiln.yaml');
  } catch (error) {
    if (error instanceof DefinitionError) return error.diagnostics;
    throw error;
  }
  throw new Error('the text loaded without error');
}

const load = (lines: readonly string[]) => loadDefinitionText(lines.join('\n'), 'kiln.yaml');

test('a job extending an x- template merges maps key by key and replaces lists and scalars', (t) => {
  const definition = load([
    'version: 1',
    'x-base:',
    '  image: kiln-fixture/busybox:latest',
    '  workdir: /src',
    '  env: { CI: "1", MODE: base }',
    '  steps: [{ run: base }]',
    'jobs:',
    '  a:',
    '    extends: x-base',
    '    workdir: /work',
    '    env: { MODE: own }',
    '    steps: [{ run: own }]',
  ]);
  t.deepEqual(definition.jobs['a'], {
    image: 'kiln-fixture/busybox:latest',
    workdir: '/work',
    env: { CI: '1', MODE: 'own' },
    steps: [{ run: 'own' }],
  });
});

test('extends chains through templates, nearest values winning', (t) => {
  const definition = load([
    'version: 1',
    'x-root: { image: kiln-fixture/busybox:latest, env: { A: root, B: root } }',
    'x-mid: { extends: x-root, env: { B: mid, C: mid } }',
    'jobs:',
    '  a: { extends: x-mid, env: { C: own }, steps: [{ run: x }] }',
  ]);
  t.deepEqual(definition.jobs['a'], {
    image: 'kiln-fixture/busybox:latest',
    env: { A: 'root', B: 'mid', C: 'own' },
    steps: [{ run: 'x' }],
  });
});

test('extending a job copies its spec but not its needs, and the job itself is unchanged', (t) => {
  const definition = load([
    'version: 1',
    'jobs:',
    '  deps: { image: kiln-fixture/busybox:latest, steps: [{ run: d }] }',
    '  build: { image: kiln-fixture/busybox:latest, needs: [deps], env: { CC: gcc }, steps: [{ run: make }] }',
    '  build-clang: { extends: build, env: { CC: clang } }',
  ]);
  t.deepEqual(definition.jobs['build-clang'], {
    image: 'kiln-fixture/busybox:latest',
    env: { CC: 'clang' },
    steps: [{ run: 'make' }],
  });
  t.deepEqual(definition.jobs['build']?.needs, ['deps']);
  t.deepEqual(definition.jobs['build']?.env, { CC: 'gcc' });
});

test('a template a job extends gives it its needs', (t) => {
  const definition = load([
    'version: 1',
    'x-t: { image: kiln-fixture/busybox:latest, needs: [deps] }',
    'jobs:',
    '  deps: { image: kiln-fixture/busybox:latest, steps: [{ run: d }] }',
    '  a: { extends: x-t, steps: [{ run: x }] }',
  ]);
  t.deepEqual(definition.jobs['a']?.needs, ['deps']);
});

test('an unknown template is an error at the extends value, with the closest name', (t) => {
  const problems = failure([
    'version: 1',
    'x-base: { image: kiln-fixture/busybox:latest }',
    'jobs:',
    '  a:',
    '    extends: x-bse',
    '    steps: [{ run: x }]',
  ]);
  t.is(problems.length, 1);
  t.deepEqual(problems[0]?.position, { file: 'kiln.yaml', line: 5, column: 14 });
  t.regex(
    problems[0]?.message ?? '',
    /extends 'x-bse', which is neither a job nor a top-level x- template; did you mean 'x-base'\?/,
  );
});

test('an unknown job named in extends is an error, and the job is not also said to miss its steps', (t) => {
  const problems = failure(['version: 1', 'jobs:', '  a: { extends: nope }']);
  t.is(problems.length, 1);
  t.regex(problems[0]?.message ?? '', /job 'a' extends 'nope'/);
});

test('a cycle of extends is an error naming the cycle, at the extends that closes it', (t) => {
  const problems = failure([
    'version: 1',
    'x-a: { extends: x-b }',
    'x-b: { extends: x-a }',
    'jobs:',
    '  j: { extends: x-a, steps: [{ run: x }] }',
  ]);
  t.is(problems.length, 1);
  t.regex(problems[0]?.message ?? '', /'extends' makes a cycle: x-a → x-b → x-a/);
  t.deepEqual(problems[0]?.position, { file: 'kiln.yaml', line: 3, column: 17 });
});

test('a job extending itself is a cycle', (t) => {
  const problems = failure(['version: 1', 'jobs:', '  a: { extends: a, steps: [{ run: x }] }']);
  t.regex(problems[0]?.message ?? '', /cycle: a → a/);
});

test('extends must name a map', (t) => {
  const problems = failure([
    'version: 1',
    'x-s: text',
    'jobs:',
    '  a: { extends: x-s, steps: [{ run: x }] }',
  ]);
  t.regex(problems[0]?.message ?? '', /extends 'x-s', which is not a map of job fields/);
});

test("a fault in a template's value is reported once, at the template's line, naming the job", (t) => {
  const problems = failure([
    'version: 1',
    'x-base:',
    '  image: kiln-fixture/busybox:latest',
    '  timeout: soon',
    '  colour: red',
    'jobs:',
    '  a: { extends: x-base, steps: [{ run: x }] }',
    '  b: { extends: x-base, steps: [{ run: x }] }',
  ]);
  t.is(problems.length, 2, problems.map((p) => p.message).join('\n'));
  const timeout = problems.find((p) => /timeout/.test(p.message));
  const colour = problems.find((p) => /colour/.test(p.message));
  t.deepEqual(timeout?.position, { file: 'kiln.yaml', line: 4, column: 12 });
  t.deepEqual(colour?.position, { file: 'kiln.yaml', line: 5, column: 3 });
  t.deepEqual(timeout?.jobs, ['a']);
});

test("a job's own value that overrides a template is positioned at the job", (t) => {
  const problems = failure([
    'version: 1',
    'x-base: { image: kiln-fixture/busybox:latest, env: { A: "1" } }',
    'jobs:',
    '  a:',
    '    extends: x-base',
    '    env: { B: [not, text] }',
    '    steps: [{ run: x }]',
  ]);
  t.is(problems.length, 1);
  t.is(problems[0]?.position?.line, 6);
});

test('x- keys no job extends are still ignored', (t) => {
  const definition = load([
    'version: 1',
    'x-notes: [anything, goes]',
    'jobs:',
    '  a: { image: kiln-fixture/busybox:latest, steps: [{ run: x }] }',
  ]);
  t.deepEqual(Object.keys(definition.jobs), ['a']);
});

test("the compiler's faults in an inherited value point at the template's line", (t) => {
  const definition = load([
    'version: 1',
    'x-base:',
    '  image: kiln-fixture/busybox:latest',
    '  needs: [nope]',
    'jobs:',
    '  a: { extends: x-base, steps: [{ run: x }] }',
  ]);
  const error = t.throws(() => compile(definition), { instanceOf: DefinitionError });
  t.deepEqual(error?.diagnostics[0]?.position, { file: 'kiln.yaml', line: 4, column: 11 });
  t.regex(error?.diagnostics[0]?.message ?? '', /job 'a' needs 'nope'/);
});
