import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefinitionError, formatDiagnostic, type Diagnostic } from '../../src/errors.js';
import {
  DEFAULT_STEP_FILE,
  loadDefinitionFile,
  loadDefinitionText,
  locate,
} from '../../src/definition/loader.js';
import { packageRoot } from '../../src/definition/schema.js';

const fixtures = join(packageRoot(), 'fixtures');

/** Where a diagnostic is, and (a part of) what it says. */
type Expected = readonly [line: number, column: number, message: string];

function problemsOf(error: unknown): readonly Diagnostic[] {
  if (!(error instanceof DefinitionError)) throw error;
  return error.diagnostics;
}

async function loadFailure(file: string): Promise<readonly Diagnostic[]> {
  try {
    await loadDefinitionFile(file);
  } catch (error) {
    return problemsOf(error);
  }
  throw new Error(`${file} loaded without error`);
}

function textFailure(text: string, file = 'kiln.yaml'): readonly Diagnostic[] {
  try {
    loadDefinitionText(text, file);
  } catch (error) {
    return problemsOf(error);
  }
  throw new Error('the text loaded without error');
}

function assertDiagnostics(
  t: import('ava').ExecutionContext,
  found: readonly Diagnostic[],
  file: string,
  expected: readonly Expected[],
): void {
  const shown = found.map(formatDiagnostic).join('\n');
  t.is(found.length, expected.length, shown);
  expected.forEach(([line, column, message], i) => {
    const d = found[i];
    t.deepEqual(d?.position, { file, line, column }, shown);
    t.true(d?.message.includes(message), `expected "${message}" in:\n${shown}`);
  });
}

const reports = test.macro({
  async exec(t, name: string, expected: readonly Expected[]) {
    const file = join(fixtures, 'invalid', name);
    assertDiagnostics(t, await loadFailure(file), file, expected);
  },
  title: (_, name: string, expected: readonly Expected[]) =>
    `invalid/${name} is reported at ${expected.map(([l, c]) => `${l}:${c}`).join(', ')}`,
});

test(reports, 'unknown-key.yaml', [
  [4, 5, "unknown key 'imgae' in job 'build', did you mean 'image'? (allowed: image,"],
]);
test(reports, 'camel-case-key.yaml', [[6, 9, "unknown key 'allowFailure' in step 1 of job 'build'"]]);
test(reports, 'needs-not-a-list.yaml', [
  [6, 12, "'needs' of job 'test' must be a list of job names, not 'build'"],
]);
test(reports, 'unknown-mount-type.yaml', [
  [5, 17, "unknown mount type 'volume' (allowed: bind, cache, tmpfs, secret, ssh)"],
]);
test(reports, 'duplicate-key.yaml', [[5, 5, "duplicate key 'image' in job 'build' (first at line 4)"]]);
test(reports, 'bad-version.yaml', [[1, 10, 'version must be 1, not 2']]);
test(reports, 'missing-jobs.yaml', [[1, 1, "missing required key 'jobs' at the top level"]]);
test(reports, 'no-steps.yaml', [[4, 12, "'steps' of job 'build' must be a non-empty list of steps"]]);
test(reports, 'env-number.yaml', [
  [4, 16, `'CI' of 'env' of job 'build' must be a string (quote it: "1"), not 1`],
]);
test(reports, 'bad-job-name.yaml', [[3, 3, "'build all' is not a valid job name in 'jobs'"]]);
test(reports, 'bad-timeout.yaml', [
  [4, 14, "'timeout' of job 'build' must be a duration (e.g. 90s, 10m, 1h30m, 500ms, 600)"],
]);
test(reports, 'bad-sharing.yaml', [
  [5, 61, "'sharing' of mount 1 of job 'build' must be one of shared, private, locked"],
]);
test(reports, 'secret-two-sources.yaml', [[3, 10, "secret 'token' must be a secret source"]]);
test(reports, 'empty-run.yaml', [
  [5, 14, "'run' of step 1 of job 'build' must be a non-empty string or non-empty list"],
]);
test(reports, 'mount-missing-target.yaml', [
  [5, 9, "missing required key 'target' in mount 1 of job 'build'"],
]);
test(reports, 'several-problems.yaml', [
  [4, 5, "unknown key 'imgae' in job 'build'"],
  [5, 12, "'needs' of job 'build' must be a list of job names, not 'lint'"],
  [7, 17, "unknown mount type 'volume'"],
  [10, 20, `'CI' of 'env' of step 1 of job 'build' must be a string (quote it: "1")`],
  [12, 12, "'steps' of job 'lint' must be a non-empty list of steps"],
]);
test(reports, 'empty.yaml', [
  [1, 1, "empty.yaml is empty; a step file needs at least 'version: 1' and 'jobs'"],
]);
test(reports, 'scalar.yaml', [
  [1, 1, 'scalar.yaml is not a step file: it holds text, where a step file is a map'],
]);
test(reports, 'list.yaml', [
  [1, 1, 'list.yaml is not a step file: it holds a list, where a step file is a map'],
]);

test(reports, 'alias-bomb.yaml', [[8, 11, "alias '*a4' makes this file expand to more than 100000 values"]]);
test(reports, 'alias-loop.yaml', [
  [2, 19, "alias '*loop' is inside the value anchored '&loop' it refers to"],
]);
test(reports, 'nested-too-deep.yaml', [[2, 108, 'lists and maps nest more than 100 levels deep here']]);
test(reports, 'nul-in-run.yaml', [
  [6, 14, "'run' of step 1 of job 'build' holds a NUL character (\\0)"],
  [7, 21, "item 2 of 'run' of step 2 of job 'build' holds a NUL character (\\0)"],
  [8, 15, "'A' of 'env' of job 'build' holds a NUL character (\\0)"],
  [9, 14, "'workdir' of job 'build' holds a NUL character (\\0)"],
]);
test(reports, 'control-in-step-name.yaml', [
  [6, 15, "'name' of step 1 of job 'build' holds a control character (\\n): names are printed on terminals"],
  [8, 15, "'name' of step 2 of job 'build' holds a control character (\\x1b)"],
]);
test(reports, 'long-cache-id.yaml', [
  [6, 28, "'id' of mount 1 of job 'build' is 300 characters long, longer than the 128 allowed"],
]);
test(reports, 'bad-reuse-name.yaml', [
  [
    5,
    20,
    "'name' of 'reuse' of job 'build' must be a container name (e.g. app-dev-shell), not 'bad name/../x'",
  ],
]);
test(reports, 'long-job-name.yaml', [
  [
    3,
    3,
    "(250 characters) is not a valid job name in 'jobs': letters, digits, '_', '.' and '-', starting with a letter or digit; at most 100 characters",
  ],
]);

const reportsText = test.macro({
  exec(t, text: string, expected: readonly Expected[]) {
    assertDiagnostics(t, textFailure(text), 'kiln.yaml', expected);
  },
  title: (title) => title ?? '',
});

test(
  'a YAML syntax error is reported where the parser found it',
  reportsText,
  'version: 1\njobs:\n  a: [1, 2\n',
  [[4, 1, 'invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]']],
);
test('tabs used as indentation are a syntax error', reportsText, 'version: 1\njobs:\n\ta: 1\n', [
  [3, 1, 'invalid YAML: Tabs are not allowed as indentation'],
]);
test('a second YAML document is reported at its start', reportsText, 'version: 1\n---\njobs: {}\n', [
  [2, 1, 'a step file holds one YAML document'],
]);
test('an alias without an anchor is reported at the alias', reportsText, 'version: 1\njobs:\n  a: *base\n', [
  [3, 6, "alias '*base' has no anchor '&base' before it"],
]);
test(
  'a wrong value written as a block map is reported at its first key',
  reportsText,
  'version: 1\njobs:\n  a:\n    needs:\n      b: 1\n    steps: [{ run: x }]\n',
  [[5, 7, "'needs' of job 'a' must be a list of job names, not { b }"]],
);

test('a missing step file gets one diagnostic that names it and says what to do', async (t) => {
  const file = join(fixtures, 'invalid', 'no-such-file.yaml');
  const [only, ...rest] = await loadFailure(file);
  t.deepEqual(rest, []);
  t.is(only?.message, `${file}: no such step file; create one or pass -f`);
  t.is(only?.position, undefined);
});

test('a folder given as the step file gets one diagnostic that names it', async (t) => {
  const [only, ...rest] = await loadFailure(fixtures);
  t.deepEqual(rest, []);
  t.is(only?.message, `${fixtures} is a folder, not a step file; pass -f with the step file's path`);
});

test('a binary file gets one diagnostic that names it', async (t) => {
  const file = join(fixtures, 'invalid', 'binary.yaml');
  const [only, ...rest] = await loadFailure(file);
  t.deepEqual(rest, []);
  t.is(only?.message, `${file} is not a step file: it holds binary data, not YAML text`);
});

test('a DefinitionError message lists every diagnostic as FILE:LINE:COL: message, and maps to exit code 2', async (t) => {
  const file = join(fixtures, 'invalid', 'several-problems.yaml');
  const error = await t.throwsAsync(loadDefinitionFile(file), { instanceOf: DefinitionError });
  t.is(error?.exitCode, 2);
  t.is(error?.code, 'E_DEFINITION');
  const lines = error?.message.split('\n') ?? [];
  t.is(lines.length, 5);
  t.true(lines[0]?.startsWith(`${file}:4:5: unknown key 'imgae'`));
});

test('diagnostics carry the JSON pointer of the value and the job they concern', (t) => {
  const [needs] = textFailure('version: 1\njobs:\n  b:\n    needs: [a, "x y"]\n    steps: [{ run: x }]\n');
  t.like(needs, {
    pointer: '/jobs/b/needs/1',
    jobs: ['b'],
    position: { file: 'kiln.yaml', line: 4, column: 16 },
  });
});

test('the full example step file (fixtures/design-example.yaml) loads with camelCase fields, its folder as project folder, and absolute paths', async (t) => {
  const file = join(fixtures, 'design-example.yaml');
  const definition = await loadDefinitionFile(file);
  t.is(definition.projectDir, fixtures);
  t.is(definition.file, file);
  t.deepEqual(Object.keys(definition.jobs), ['build', 'publish']);
  t.deepEqual(definition.jobs['build']?.mounts?.[1], {
    type: 'cache',
    id: 'ccache',
    target: '/root/.ccache',
    sharing: 'locked',
  });
  t.deepEqual(definition.jobs['publish']?.steps[0]?.mounts, [
    { type: 'secret', id: 'npm-token' },
    { type: 'ssh' },
  ]);
  t.deepEqual(definition.secrets, {
    'npm-token': { env: 'NPM_TOKEN' },
    'deploy-key': { file: '~/.ssh/deploy_key' },
  });
});

test('kebab-case keys become the camelCase fields of the Definition', (t) => {
  const definition = loadDefinitionText(
    [
      'version: 1',
      'jobs:',
      '  a:',
      '    default-mounts: false',
      '    reuse: { name: dev }',
      '    mounts:',
      '      - { type: bind, source: /, target: /host, allow-outside-project: true, allow-docker-socket: true }',
      '    steps:',
      '      - { run: [ls, -l], allow-failure: true, timeout: 90s }',
    ].join('\n'),
    'sub/kiln.yaml',
  );
  const job = definition.jobs['a'];
  t.is(job?.defaultMounts, false);
  t.deepEqual(job?.reuse, { name: 'dev' });
  t.deepEqual(job?.mounts?.[0], {
    type: 'bind',
    source: '/',
    target: '/host',
    allowOutsideProject: true,
    allowDockerSocket: true,
  });
  t.deepEqual(job?.steps[0], { run: ['ls', '-l'], timeout: '90s', allowFailure: true });
  t.is(definition.projectDir, join(process.cwd(), 'sub'));
  t.is(definition.file, join(process.cwd(), 'sub', 'kiln.yaml'));
});

test('outputs, cache, from and exclude load into the Definition, output options in camelCase', (t) => {
  const definition = loadDefinitionText(
    [
      'version: 1',
      'jobs:',
      '  build:',
      '    outputs: [/out, { path: dist, export: ../dist, allow-outside-project: true }]',
      '    cache: true',
      '    mounts:',
      '      - { type: bind, source: ., target: /src, readonly: true, exclude: [.git/, "*.log"] }',
      '    steps: [{ run: make }]',
      '  test:',
      '    cache: false',
      '    steps:',
      '      - run: make test',
      '        mounts: [{ type: bind, from: build, source: /out, target: /in }]',
    ].join('\n'),
    'kiln.yaml',
  );
  const { build, test: check } = definition.jobs;
  t.deepEqual(build?.outputs, ['/out', { path: 'dist', export: '../dist', allowOutsideProject: true }]);
  t.is(build?.cache, true);
  t.deepEqual(build?.mounts?.[0], {
    type: 'bind',
    source: '.',
    target: '/src',
    readonly: true,
    exclude: ['.git/', '*.log'],
  });
  t.is(check?.cache, false);
  t.deepEqual(check?.steps[0]?.mounts, [{ type: 'bind', source: '/out', target: '/in', from: 'build' }]);
});

test('the loaded Definition is frozen all the way down', (t) => {
  const definition = loadDefinitionText('version: 1\njobs:\n  a:\n    steps: [{ run: x }]\n', 'kiln.yaml');
  t.true(Object.isFrozen(definition));
  t.true(Object.isFrozen(definition.jobs['a']?.steps[0]));
  t.throws(() => {
    (definition.jobs['a']?.steps as unknown as unknown[]).push({ run: 'y' });
  });
});

const sourceMapText = [
  'version: 1', // 1
  'jobs:', // 2
  '  a:', // 3
  '    mounts:', // 4
  '      - { type: tmpfs, target: /t }', // 5
  '      - type: cache', // 6
  '        id: c', // 7
  '        target: /c', // 8
  '    steps:', // 9
  '      - run: make', // 10
  '  b:', // 11
  '    needs: [a]', // 12
  '    steps: [{ run: x }]', // 13
].join('\n');

const positions = test.macro({
  exec(t, pointer: string, line: number, column: number) {
    const definition = loadDefinitionText(sourceMapText, 'kiln.yaml');
    t.deepEqual(definition.sourceMap?.get(pointer), { file: 'kiln.yaml', line, column });
  },
  title: (_, pointer, line, column) => `the source map places ${pointer} at ${line}:${column}`,
});

test(positions, '/jobs/a', 3, 3);
test(positions, '/jobs/a/mounts', 4, 5);
test(positions, '/jobs/a/mounts/0/target', 5, 32);
test(positions, '/jobs/a/mounts/1', 6, 9);
test(positions, '/jobs/a/mounts/1/target', 8, 17);
test(positions, '/jobs/a/steps/0/run', 10, 14);
test(positions, '/jobs/b/needs/0', 12, 13);

test('the source map lists every value of the file, parents first', (t) => {
  const definition = loadDefinitionText(sourceMapText, 'kiln.yaml');
  const pointers = [...(definition.sourceMap?.keys() ?? [])];
  t.is(definition.sourceMap?.size, pointers.length);
  t.deepEqual(pointers.slice(0, 5), ['', '/version', '/jobs', '/jobs/a', '/jobs/a/mounts']);
  t.true(pointers.includes('/jobs/b/steps/0/run'));
});

test('locate finds the nearest positioned ancestor of a pointer', (t) => {
  const definition = loadDefinitionText(sourceMapText, 'kiln.yaml');
  t.deepEqual(locate(definition, '/jobs/b/needs/0'), { file: 'kiln.yaml', line: 12, column: 13 });
  t.deepEqual(locate(definition, '/jobs/a/steps/0/workdir'), { file: 'kiln.yaml', line: 10, column: 9 });
  t.deepEqual(locate(definition, '/jobs/zzz/steps'), { file: 'kiln.yaml', line: 2, column: 1 });
  t.is(locate({ ...definition, sourceMap: undefined }, '/jobs/a'), undefined);
});

test('YAML anchors under x- keys merge into jobs, positions of merged values point at the anchor', (t) => {
  const text = [
    'version: 1',
    'x-base: &base',
    '  image: kiln-fixture/busybox:latest',
    '  env: { CI: "1" }',
    'jobs:',
    '  a:',
    '    <<: *base',
    '    env: { CI: "0" }',
    '    steps: [{ run: x }]',
  ].join('\n');
  const definition = loadDefinitionText(text, 'kiln.yaml');
  t.deepEqual(definition.jobs['a'], {
    image: 'kiln-fixture/busybox:latest',
    env: { CI: '0' },
    steps: [{ run: 'x' }],
  });
  t.deepEqual(definition.sourceMap?.get('/jobs/a/image'), { file: 'kiln.yaml', line: 3, column: 10 });
  t.deepEqual(definition.sourceMap?.get('/jobs/a/env/CI'), { file: 'kiln.yaml', line: 8, column: 16 });
});

test('the default step file is kiln.yaml', (t) => {
  t.is(DEFAULT_STEP_FILE, 'kiln.yaml');
});

test('a 10,000-job file loads and validates (time logged)', async (t) => {
  const lines = ['version: 1', 'jobs:'];
  for (let i = 0; i < 10_000; i++) {
    lines.push(
      `  job-${i}:`,
      '    image: kiln-fixture/busybox:latest',
      ...(i > 0 ? [`    needs: [job-${i - 1}]`] : []),
      '    mounts:',
      `      - { type: cache, id: cache-${i % 10}, target: /cache }`,
      '    steps:',
      '      - run: echo one',
      '      - { name: two, run: [echo, two] }',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'kiln-loader-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'kiln.yaml');
  await writeFile(file, lines.join('\n'));
  await loadDefinitionFile(file); // warm-up: compiles the validator once
  const started = performance.now();
  const definition = await loadDefinitionFile(file);
  const elapsed = performance.now() - started;
  t.log(`10,000 jobs (${lines.length} lines): loaded and validated in ${elapsed.toFixed(0)} ms`);
  t.is(Object.keys(definition.jobs).length, 10_000);
  t.deepEqual(definition.jobs['job-9999']?.needs, ['job-9998']);
});
