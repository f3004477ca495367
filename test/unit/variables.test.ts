import test from 'ava';
import { loadDefinitionText } from '../../src/definition/loader.js';
import type { Definition, JobSpec } from '../../src/definition/types.js';
import { DefinitionError } from '../../src/errors.js';
import { compile, type CompileOptions } from '../../src/graph/index.js';
import { DiagnosticCollector } from '../../src/graph/diagnostics.js';
import { interpolateVariables } from '../../src/graph/variables.js';

const IMAGE = 'kiln-fixture/busybox:latest';

function definition(jobs: Record<string, JobSpec>, rest: Partial<Definition> = {}): Definition {
  return { version: 1, projectDir: '/home/me/app', jobs, ...rest };
}

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (caught) {
    if (caught instanceof DefinitionError) return caught.diagnostics.map((d) => d.message);
    throw caught;
  }
  return [];
}

const HOST: CompileOptions = { env: { CC: 'gcc-12', HOME: '/home/me', NPM_TOKEN: 'hunter2' }, runId: 'r-1' };

test('env, job.name and run.id are replaced in image, env, run, workdir and mount fields', (t) => {
  const graph = compile(
    definition(
      {
        build: {
          image: 'kiln-fixture/${{ env.IMG }}:latest',
          workdir: '/src/${{ job.name }}',
          env: { COMPILER: '${{env.CC}}' },
          mounts: [{ type: 'cache', id: 'ccache-${{ job.name }}', target: '/cache/${{ run.id }}' }],
          steps: [
            { run: 'make CC=${{ env.CC }} # ${{ run.id }}', workdir: '/w/${{ job.name }}' },
            { run: ['echo', '${{ job.name }}'] },
          ],
        },
      },
      { envPassthrough: ['CC'] },
    ),
    { ...HOST, envValues: { IMG: 'busybox' } },
  );
  const job = graph.jobs.get('build')!;
  t.is(job.image, IMAGE);
  t.is(job.steps[0]!.env['COMPILER'], 'gcc-12');
  t.is(job.steps[0]!.argv.at(-1), 'make CC=gcc-12 # r-1');
  t.is(job.steps[0]!.workdir, '/w/build');
  t.deepEqual(job.steps[1]!.argv, ['echo', 'build']);
  t.is(job.workdir, '/src/build');
  const cache = job.mounts.find((m) => m.type === 'cache') as { target: string; id?: string } | undefined;
  t.is(cache?.target, '/cache/r-1');
  t.regex(JSON.stringify(job.mounts), /ccache-build/);
});

test('a bind source is interpolated before it is resolved against the project folder', (t) => {
  const graph = compile(
    definition({
      b: {
        image: IMAGE,
        mounts: [{ type: 'bind', source: './${{ env.DIR }}', target: '/src' }],
        steps: [{ run: 'true' }],
      },
    }),
    { ...HOST, envValues: { DIR: 'lib' } },
  );
  t.regex(JSON.stringify(graph.jobs.get('b')!.mounts), /\/home\/me\/app\/lib/);
});

test('a host variable not listed in env-passthrough is an error, not an empty string', (t) => {
  const messages = problems(() =>
    compile(definition({ a: { image: IMAGE, steps: [{ run: 'echo ${{ env.CC }}' }] } }), HOST),
  );
  t.is(messages.length, 1);
  t.regex(
    messages[0]!,
    /unknown variable env\.CC: list it in the top-level `env-passthrough`.*--env CC=VALUE/,
  );
});

test('a listed variable the host does not set is an error', (t) => {
  const messages = problems(() =>
    compile(
      definition(
        { a: { image: IMAGE, steps: [{ run: 'echo ${{ env.NOPE }}' }] } },
        { envPassthrough: ['NOPE'] },
      ),
      HOST,
    ),
  );
  t.regex(messages[0] ?? '', /unknown variable env\.NOPE/);
});

test('unknown namespaces and names are errors that say which variables exist', (t) => {
  const messages = problems(() =>
    compile(
      definition({
        a: {
          image: IMAGE,
          steps: [{ run: '${{ foo.bar }} ${{ job.id }} ${{ run.number }} ${{ matrix.cc }} ${{ 1 + 2 }}' }],
        },
      }),
      HOST,
    ),
  );
  t.is(messages.length, 5);
  t.regex(
    messages[0]!,
    /unknown variable foo\.bar: kiln knows env\.NAME, matrix\.NAME, job\.name and run\.id/,
  );
  t.regex(messages[1]!, /unknown variable job\.id/);
  t.regex(messages[2]!, /unknown variable run\.number/);
  t.regex(messages[3]!, /unknown variable matrix\.cc: job a has no matrix/);
  t.regex(messages[4]!, /not a variable/);
});

test('a secret is refused, by secrets.X, by its id or by the host variable it is read from', (t) => {
  const messages = problems(() =>
    compile(
      definition(
        {
          a: {
            image: IMAGE,
            steps: [{ run: 'echo ${{ secrets.npm }} ${{ env.npm }} ${{ env.NPM_TOKEN }}' }],
          },
        },
        { secrets: { npm: { env: 'NPM_TOKEN' } }, envPassthrough: ['NPM_TOKEN', 'npm'] },
      ),
      HOST,
    ),
  );
  t.is(messages.length, 3);
  for (const message of messages) t.regex(message, /is a secret.*mount it as a secret instead/);
  t.false(messages.join('\n').includes('hunter2'));
});

test('matrix values an expanded instance carries are interpolated', (t) => {
  // What the matrix expansion leaves on each instance: `matrix` holding its own values.
  const instance = {
    image: IMAGE,
    matrix: { cc: 'gcc', opt: 2 },
    steps: [{ run: 'echo ${{ matrix.cc }} -O${{ matrix.opt }} ${{ matrix.nope }}' }],
  } as unknown as JobSpec;
  const diagnostics = new DiagnosticCollector();
  const out = interpolateVariables(definition({ 'build (cc=gcc, opt=2)': instance }), HOST, diagnostics);
  t.is(out.jobs['build (cc=gcc, opt=2)']!.steps[0]!.run, 'echo gcc -O2 ${{ matrix.nope }}');
  t.deepEqual(
    diagnostics.diagnostics.map((d) => d.message),
    ["${{ matrix.nope }}: unknown variable matrix.nope: this job's matrix has cc, opt"],
  );
});

test('job.name and matrix values do not exist in defaults; env and run.id do', (t) => {
  const messages = problems(() =>
    compile(
      definition(
        { a: { steps: [{ run: 'true' }] } },
        { defaults: { image: '${{ job.name }}', workdir: '/${{ run.id }}', env: { X: '${{ matrix.cc }}' } } },
      ),
      HOST,
    ),
  );
  // (The image left as written is also no image reference: another problem.)
  const variables = messages.filter((m) => m.startsWith('${{'));
  t.is(variables.length, 2);
  t.regex(variables[0]!, /job\.name exists only in a job/);
  t.regex(variables[1]!, /matrix values exist only in a job/);
});

test('an unknown variable is reported at the line and column of its field in the step file', (t) => {
  const text = [
    'version: 1',
    'jobs:',
    '  a:',
    `    image: ${IMAGE}`,
    '    steps:',
    '      - run: echo ${{ env.MISSING }}',
    '',
  ].join('\n');
  const error = t.throws(() => compile(loadDefinitionText(text, '/home/me/app/kiln.yaml'), HOST), {
    instanceOf: DefinitionError,
  });
  const [diagnostic] = (error as DefinitionError).diagnostics;
  t.deepEqual(
    { line: diagnostic?.position?.line, column: diagnostic?.position?.column },
    { line: 6, column: 14 },
  );
});

test('env-passthrough reads the host variable in a step file', (t) => {
  const text = [
    'version: 1',
    'env-passthrough: [CC]',
    'jobs:',
    '  a:',
    `    image: ${IMAGE}`,
    '    steps:',
    '      - run: ${{ env.CC }} --version',
    '',
  ].join('\n');
  const graph = compile(loadDefinitionText(text, '/home/me/app/kiln.yaml'), HOST);
  t.is(graph.jobs.get('a')!.steps[0]!.argv.at(-1), 'gcc-12 --version');
});

test('text without ${{ is left as written, $VAR and ${VAR} included', (t) => {
  const graph = compile(
    definition({ a: { image: IMAGE, steps: [{ run: 'echo $HOME ${HOME} ${ {x} }' }] } }),
    HOST,
  );
  t.is(graph.jobs.get('a')!.steps[0]!.argv.at(-1), 'echo $HOME ${HOME} ${ {x} }');
});
