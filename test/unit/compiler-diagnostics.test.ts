import test from 'ava';
import type { Definition, JobSpec } from '../../src/definition/types.js';
import { DefinitionError, formatDiagnostic, type SourcePosition } from '../../src/errors.js';
import { compile } from '../../src/graph/index.js';

const IMAGE = 'kiln-fixture/busybox:latest';

function definition(jobs: Record<string, JobSpec>, rest: Partial<Definition> = {}): Definition {
  return { version: 1, projectDir: '/home/me/app', defaults: { image: IMAGE }, jobs, ...rest };
}

function problems(def: Definition): DefinitionError {
  return (() => {
    try {
      compile(def);
    } catch (error) {
      if (error instanceof DefinitionError) return error;
      throw error;
    }
    throw new Error('compile did not throw');
  })();
}

const run = [{ run: 'true' }];

test('an unknown need is reported at its pointer with the closest job name', (t) => {
  const error = problems(definition({ build: { steps: run }, publish: { needs: ['buld'], steps: run } }));
  t.deepEqual(error.diagnostics, [
    {
      message: "job 'publish' needs 'buld', which is not a job (did you mean 'build'?)",
      pointer: '/jobs/publish/needs/0',
      jobs: ['publish'],
    },
  ]);
});

test('an unknown need with nothing close has no suggestion', (t) => {
  const error = problems(definition({ build: { steps: run }, publish: { needs: ['zzzzzz'], steps: run } }));
  t.is(error.message, "job 'publish' needs 'zzzzzz', which is not a job");
});

test('a job that needs itself is reported', (t) => {
  const error = problems(definition({ loop: { needs: ['loop'], steps: run } }));
  t.deepEqual(error.diagnostics, [
    {
      message: "job 'loop' needs itself; remove 'loop' from its needs",
      pointer: '/jobs/loop/needs/0',
      jobs: ['loop'],
    },
  ]);
});

test('a 3-job cycle names its jobs in order', (t) => {
  const error = problems(
    definition({
      a: { needs: ['c'], steps: run },
      b: { needs: ['a'], steps: run },
      c: { needs: ['b'], steps: run },
      free: { steps: run },
      after: { needs: ['a', 'free'], steps: run },
    }),
  );
  t.deepEqual(error.diagnostics, [
    {
      message:
        'jobs form a cycle through needs: a -> c -> b -> a (each needs the next); remove one of these needs',
      pointer: '/jobs/a/needs/0',
      jobs: ['a', 'c', 'b'],
    },
  ]);
});

test('two separate cycles are reported one each', (t) => {
  const error = problems(
    definition({
      x1: { needs: ['x2'], steps: run },
      x2: { needs: ['x1'], steps: run },
      y1: { needs: ['y2', 'x1'], steps: run },
      y2: { needs: ['y1'], steps: run },
    }),
  );
  t.deepEqual(
    error.diagnostics.map((d) => d.jobs),
    [
      ['x1', 'x2'],
      ['y1', 'y2'],
    ],
  );
});

test('every problem is reported at once', (t) => {
  const error = problems(
    definition(
      {
        a: {
          steps: [
            { run: 'x', timeout: 'soon' },
            { name: 'step-1', run: [] },
          ],
        },
        b: { needs: ['nope'], steps: [] },
        c: { steps: run, mounts: [{ type: 'tmpfs', target: '/t', size: 'lots' }] },
      },
      { defaults: {} },
    ),
  );
  t.deepEqual(error.message.split('\n'), [
    "job 'a' has no image: set image on the job or under defaults",
    `job 'a', step 'step-1': timeout: invalid duration "soon": write a number of seconds or parts with units ms, s, m, h, d (e.g. 90s, 10m, 1h30m, 500ms)`,
    "job 'a': steps 1 and 2 are both named 'step-1'; step names must be unique in a job",
    "job 'a', step 'step-1': run must be a non-empty command string or a non-empty list of strings",
    "job 'b' has no image: set image on the job or under defaults",
    "job 'b' needs 'nope', which is not a job",
    "job 'b' has no steps: give it at least one step with run",
    "job 'c' has no image: set image on the job or under defaults",
    `job 'c', mounts[0]: invalid size "lots": write a number of bytes or a number with a unit k, m, g, t (e.g. 512k, 256m, 1g, 64mb, 1GiB)`,
  ]);
  t.is(error.exitCode, 2);
  t.is(error.code, 'E_DEFINITION');
});

test('positions come from the source map, falling back to the nearest ancestor', (t) => {
  const at = (line: number, column: number): SourcePosition => ({
    file: '/home/me/app/kiln.yaml',
    line,
    column,
  });
  const sourceMap = new Map<string, SourcePosition>([
    ['/jobs/publish', at(8, 3)],
    ['/jobs/publish/needs/0', at(9, 13)],
    ['/jobs/publish/steps/0', at(11, 9)],
  ]);
  const error = problems(
    definition(
      { build: { steps: run }, publish: { needs: ['buidl'], steps: [{ run: 'x', timeout: 'later' }] } },
      { sourceMap, file: '/home/me/app/kiln.yaml' },
    ),
  );
  t.deepEqual(error.diagnostics.map(formatDiagnostic), [
    "/home/me/app/kiln.yaml:9:13: job 'publish' needs 'buidl', which is not a job (did you mean 'build'?)",
    `/home/me/app/kiln.yaml:11:9: job 'publish', step 'step-1': timeout: invalid duration "later": write a number of seconds or parts with units ms, s, m, h, d (e.g. 90s, 10m, 1h30m, 500ms)`,
  ]);
  t.is(error.diagnostics[1]!.pointer, '/jobs/publish/steps/0/timeout');
});

test('job names with / and ~ are escaped in pointers', (t) => {
  const error = problems(definition({ 'ci/a~b': { needs: ['x'], steps: run } }));
  t.is(error.diagnostics[0]!.pointer, '/jobs/ci~1a~0b/needs/0');
});

test('a definition with no jobs is refused', (t) => {
  t.is(problems(definition({})).message, 'no jobs: declare at least one under `jobs:`');
});

test("a step's bad shell is reported at its value", (t) => {
  const error = problems(definition({ j: { steps: [{ run: 'make', shell: [] }] } }));
  t.deepEqual(
    error.diagnostics.map((d) => [d.pointer, d.message]),
    [
      [
        '/jobs/j/steps/0/shell',
        `job 'j', step 'step-1': shell must be sh, bash, a command such as "/bin/ash -e -c" or a list such as ["/bin/sh", "-c"]`,
      ],
    ],
  );
});

test('a zero or unparsable timeout, and a bad shell, are reported at their values', (t) => {
  const error = problems(definition({ j: { timeout: 0, shell: '  ', steps: run } }));
  t.deepEqual(
    error.diagnostics.map((d) => [d.pointer, d.message]),
    [
      [
        '/jobs/j/shell',
        `job 'j': shell must be sh, bash, a command such as "/bin/ash -e -c" or a list such as ["/bin/sh", "-c"]`,
      ],
      ['/jobs/j/timeout', "job 'j': timeout must be longer than 0"],
    ],
  );
});
