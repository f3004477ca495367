/**
 * The step options a step file and the builder share (`shell`, `if`, `retry`): how they compile, where
 * a bad value is reported, and what of them the job cache's key sees.
 */
import test from 'ava';
import { job, pipeline, step } from '../../src/definition/builder.js';
import { loadDefinitionText } from '../../src/definition/loader.js';
import type { Definition } from '../../src/definition/types.js';
import { DefinitionError, formatDiagnostic } from '../../src/errors.js';
import { compile } from '../../src/graph/index.js';
import { digestOf } from '../../src/results/canonical.js';
import { stepMaterial, type StepInput } from '../../src/results/key-inputs.js';

const FILE = '/home/me/app/kiln.yaml';

/** The messages, with positions, of a step file that does not compile. */
function problems(yaml: string): string[] {
  try {
    compile(loadDefinitionText(yaml, FILE));
  } catch (error) {
    if (error instanceof DefinitionError) return error.diagnostics.map(formatDiagnostic);
    throw error;
  }
  throw new Error('the step file compiled');
}

function compiled(yaml: string) {
  return compile(loadDefinitionText(yaml, FILE));
}

test('step and job conditions compile to what is not the default', (t) => {
  const graph = compiled(`version: 1
defaults: { image: kiln-fixture/busybox:latest }
jobs:
  build:
    steps:
      - { name: a, run: make }
      - { name: b, run: make, if: success() }
      - { name: c, run: make, if: failure() }
      - { name: d, run: make, if: always() }
  report:
    needs: [build]
    if: always()
    steps: [{ run: echo done }]
  plain:
    if: success()
    steps: [{ run: echo done }]
`);
  t.deepEqual(
    graph.jobs.get('build')!.steps.map((s) => s.if),
    [undefined, undefined, 'failure', 'always'],
  );
  t.is(graph.jobs.get('report')!.if, 'always');
  t.is(graph.jobs.get('plain')!.if, undefined);
});

test('a bad condition is reported at its value, for a job and a step', (t) => {
  t.deepEqual(
    problems(`version: 1
jobs:
  a:
    image: x
    if: failure()
    steps:
      - run: make
        if: sometimes()
`),
    [
      `${FILE}:5:9: 'if' of job 'a' must be one of success(), always(), not 'failure()'`,
      `${FILE}:8:13: 'if' of step 1 of job 'a' must be one of success(), failure(), always(), not 'sometimes()'`,
    ],
  );
});

test('a bad condition in a definition made in code is reported at its pointer', (t) => {
  const definition = {
    version: 1,
    projectDir: '/p',
    jobs: { a: { image: 'x', if: 'never()', steps: [{ run: 'make', if: 'later()' }] } },
  } as unknown as Definition;
  const error = t.throws(() => compile(definition), { instanceOf: DefinitionError })!;
  t.deepEqual(
    error.diagnostics.map((d) => [d.pointer, d.message]),
    [
      [
        '/jobs/a/steps/0/if',
        `job 'a', step 'step-1': if must be success(), failure() or always(), not "later()"`,
      ],
      ['/jobs/a/if', `job 'a': if must be success() or always(), not "never()"`],
    ],
  );
});

test('an always() job may not mount the output of a job, which may not exist after a failure', (t) => {
  t.deepEqual(
    problems(`version: 1
defaults: { image: x }
jobs:
  a:
    outputs: [/out]
    steps: [{ run: make }]
  b:
    if: always()
    mounts: [{ type: bind, from: a, source: /out, target: /in }]
    steps: [{ run: make }]
`),
    [
      `${FILE}:8:9: job 'b': a job with if: always() runs after a job it needs failed, so it cannot mount an output of another job (a): that output may not exist; drop the \`from\` bind or the condition`,
    ],
  );
});

test('the builder makes the conditions the step file makes', (t) => {
  const built = pipeline({ projectDir: '/p' })
    .withJob(
      job('a')
        .withImage('x')
        .withIf('always()')
        .withStep(step('make').withIf('failure()'))
        .withStep(step('clean', 'rm -rf out').withIf('always()')),
    )
    .toDefinition();
  const loaded = loadDefinitionText(
    [
      'version: 1',
      'jobs:',
      '  a:',
      '    image: x',
      '    if: always()',
      '    steps:',
      '      - { run: make, if: failure() }',
      '      - { name: clean, run: rm -rf out, if: always() }',
    ].join('\n'),
    '/p/kiln.yaml',
  );
  const { file: _f, sourceMap: _s, ...rest } = loaded;
  t.deepEqual(built, rest);
});

const plainStep: StepInput = {
  name: 'make',
  argv: ['/bin/sh', '-e', '-c', 'make'],
  env: {},
  workdir: '/workspace',
  allowFailure: false,
  mounts: [],
};

test("a step's key is unchanged without a condition, and changes only for failure()", (t) => {
  const before = digestOf(stepMaterial(plainStep));
  t.is(
    before,
    digestOf({
      argv: plainStep.argv,
      env: plainStep.env,
      workdir: plainStep.workdir,
      allowFailure: false,
      mounts: [],
    }),
    'the key of a step without if: is what it was before if: existed',
  );
  t.not(digestOf(stepMaterial({ ...plainStep, if: 'failure()' })), before);
});

test('retry compiles to attempts, exit codes and a delay in ms', (t) => {
  const graph = compiled(`version: 1
jobs:
  a:
    image: x
    steps:
      - { name: any, run: make, retry: { attempts: 3 } }
      - { name: some, run: make, retry: { attempts: 10, on: [1, 137, 1], delay: 1m30s } }
`);
  t.deepEqual(
    graph.jobs.get('a')!.steps.map((s) => s.retry),
    [
      { attempts: 3, delayMs: 0 },
      { attempts: 10, on: [1, 137], delayMs: 90_000 },
    ],
  );
});

test('bad retry values are reported at their positions', (t) => {
  t.deepEqual(
    problems(`version: 1
jobs:
  a:
    image: x
    steps:
      - run: make
        retry: { attempts: 1, on: [0, 300], delay: soon }
      - run: make
        retry: { attempts: 11 }
      - run: make
        retry: { on: [1] }
`),
    [
      `${FILE}:7:28: 'attempts' of 'retry' of step 1 of job 'a' is 1, less than the 2 allowed (attempts in all, the first included: 2 to 10)`,
      `${FILE}:7:36: item 1 of 'on' of 'retry' of step 1 of job 'a' is 0, less than the 1 allowed`,
      `${FILE}:7:39: item 2 of 'on' of 'retry' of step 1 of job 'a' is 300, more than the 255 allowed`,
      `${FILE}:7:52: 'delay' of 'retry' of step 1 of job 'a' must be a duration (e.g. 90s, 10m, 1h30m, 500ms, 600), not 'soon'`,
      `${FILE}:9:28: 'attempts' of 'retry' of step 2 of job 'a' is 11, more than the 10 allowed (attempts in all, the first included: 2 to 10)`,
      `${FILE}:11:9: missing required key 'attempts' in 'retry' of step 3 of job 'a'`,
    ],
  );
});

test('a bad retry in a definition made in code is reported at its pointer', (t) => {
  const definition = {
    version: 1,
    projectDir: '/p',
    jobs: { a: { image: 'x', steps: [{ run: 'make', retry: { attempts: 2.5, on: [], delay: 'soon' } }] } },
  } as unknown as Definition;
  const error = t.throws(() => compile(definition), { instanceOf: DefinitionError })!;
  t.deepEqual(
    error.diagnostics.map((d) => d.pointer),
    ['/jobs/a/steps/0/retry/attempts', '/jobs/a/steps/0/retry/on', '/jobs/a/steps/0/retry/delay'],
  );
  t.regex(error.diagnostics[0]!.message, /retry attempts must be a whole number from 2 to 10/);
});

test('the builder makes the retry and shell the step file makes', (t) => {
  const built = pipeline({ projectDir: '/p' })
    .withJob(
      job('a')
        .withImage('x')
        .withStep(
          step('make')
            .withRetry({ attempts: 3, on: [1], delay: '5s' })
            .withShell('bash'),
        ),
    )
    .toDefinition();
  const loaded = loadDefinitionText(
    [
      'version: 1',
      'jobs:',
      '  a:',
      '    image: x',
      '    steps:',
      '      - { run: make, shell: bash, retry: { attempts: 3, on: [1], delay: 5s } }',
    ].join('\n'),
    '/p/kiln.yaml',
  );
  const { file: _f, sourceMap: _s, ...rest } = loaded;
  t.deepEqual(compile(built), compile(rest));
  t.deepEqual(compile(built).jobs.get('a')!.steps[0]!.retry, { attempts: 3, on: [1], delayMs: 5000 });
});
