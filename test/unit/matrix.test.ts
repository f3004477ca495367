import test from 'ava';
import { DefinitionError, type Diagnostic } from '../../src/errors.js';
import { loadDefinitionText } from '../../src/definition/loader.js';
import { job, pipeline, step } from '../../src/definition/builder.js';
import { compile, renderGraph, selectJobs } from '../../src/graph/index.js';
import { runGraph } from '../../src/scheduler/index.js';
import { EventLog, FakeExecutor } from '../helpers/fake-executor.js';

const load = (lines: readonly string[]) => loadDefinitionText(lines.join('\n'), 'kiln.yaml');

function failure(lines: readonly string[]): readonly Diagnostic[] {
  try {
    compile(load(lines));
  } catch (error) {
    if (error instanceof DefinitionError) return error.diagnostics;
    throw error;
  }
  throw new Error('the text compiled without error');
}

const matrixFile = (matrix: readonly string[], extra: readonly string[] = []): string[] => [
  'version: 1',
  'jobs:',
  '  build:',
  '    image: kiln-fixture/busybox:latest',
  '    matrix:',
  ...matrix.map((line) => `      ${line}`),
  ...extra,
  '    steps: [{ run: make }]',
  '  test:',
  '    image: kiln-fixture/busybox:latest',
  '    needs: [build]',
  '    steps: [{ run: make test }]',
];

test('a 2x2 matrix makes four named instances, each with its values, and needs wait for all of them', (t) => {
  const graph = compile(load(matrixFile(['cc: [gcc, clang]', 'opt: [O0, O2]'])));
  const names = [
    'build (cc=gcc, opt=O0)',
    'build (cc=gcc, opt=O2)',
    'build (cc=clang, opt=O0)',
    'build (cc=clang, opt=O2)',
  ];
  t.deepEqual([...graph.jobs.keys()], [...names, 'test']);
  t.deepEqual(graph.jobs.get('test')!.needs, names);
  const instance = graph.jobs.get('build (cc=clang, opt=O0)')!;
  t.deepEqual(instance.matrix, { group: 'build', values: { cc: 'clang', opt: 'O0' }, failFast: true });
  t.like(instance.env, { KILN_MATRIX_CC: 'clang', KILN_MATRIX_OPT: 'O0' });
  t.is(graph.jobs.get('test')!.matrix, undefined);
});

test('exclude removes the combinations it matches and include adds its own, named in the axes order', (t) => {
  const graph = compile(
    load(
      matrixFile([
        'cc: [gcc, clang]',
        'opt: [O0, O2]',
        'exclude: [{ cc: clang, opt: O0 }]',
        'include: [{ opt: O3, cc: icc }, { cc: gcc, opt: O0 }]',
      ]),
    ),
  );
  t.deepEqual(
    [...graph.jobs.keys()].filter((name) => name !== 'test'),
    [
      'build (cc=gcc, opt=O0)',
      'build (cc=gcc, opt=O2)',
      'build (cc=clang, opt=O2)',
      'build (cc=icc, opt=O3)',
    ],
  );
});

test('fail-fast: false is carried by every instance', (t) => {
  const graph = compile(load(matrixFile(['cc: [gcc, clang]'], ['    fail-fast: false'])));
  t.false(graph.jobs.get('build (cc=gcc)')!.matrix!.failFast);
});

test('an include or exclude naming an unknown axis is an error at its line', (t) => {
  const problems = failure(matrixFile(['cc: [gcc, clang]', 'exclude: [{ cx: gcc }]']));
  t.is(problems.length, 1);
  t.regex(
    problems[0]!.message,
    /exclude names the axis 'cx', which the matrix does not have: its axes are cc/,
  );
  t.is(problems[0]!.position?.line, 7);
});

test('an axis without values is an error at its line', (t) => {
  let problems: readonly Diagnostic[] = [];
  try {
    load(matrixFile(['cc: []']));
  } catch (error) {
    if (!(error instanceof DefinitionError)) throw error;
    problems = error.diagnostics;
  }
  t.is(problems.length, 1);
  t.is(problems[0]!.position?.line, 6);
});

test('a matrix of more than 256 instances is an error at the matrix', (t) => {
  const values = `[${Array.from({ length: 17 }, (_, i) => `v${i}`).join(', ')}]`;
  const problems = failure(matrixFile([`a: ${values}`, `b: ${values}`]));
  t.is(problems.length, 1);
  t.regex(problems[0]!.message, /289 instances, more than the 256 allowed/);
  t.is(problems[0]!.position?.line, 5);
});

test('a fault in a matrix job is placed at its line for every instance', (t) => {
  const problems = failure(matrixFile(['cc: [gcc, clang]'], ['    timeout: soon']));
  t.true(problems.length > 0);
  for (const problem of problems) t.is(problem.position?.line, 7);
});

test('the builder makes the same instances with withMatrix', (t) => {
  const build = job('build')
    .withImage('kiln-fixture/busybox:latest')
    .withMatrix({ cc: ['gcc', 'clang'], opt: ['O0', 'O2'] }, { exclude: [{ cc: 'clang', opt: 'O0' }] })
    .withStep(step('make'));
  const graph = compile(pipeline({ projectDir: '/tmp' }).withJob(build).toDefinition());
  t.deepEqual(
    [...graph.jobs.keys()],
    ['build (cc=gcc, opt=O0)', 'build (cc=gcc, opt=O2)', 'build (cc=clang, opt=O2)'],
  );
});

test('naming a matrix job selects all its instances, and kiln graph groups them', (t) => {
  const graph = compile(load(matrixFile(['cc: [gcc, clang]'])));
  t.deepEqual(selectJobs(graph, ['build']).order, ['build (cc=gcc)', 'build (cc=clang)']);
  t.deepEqual(selectJobs(graph, ['build (cc=clang)']).order, ['build (cc=clang)']);
  const dot = renderGraph(graph, 'dot');
  t.regex(dot, /subgraph "cluster_build" \{\n {4}label="build";\n {4}"build \(cc=gcc\)"/);
  t.regex(renderGraph(graph, 'mermaid'), /subgraph matrix0\["build"\]/);
});

test('an instance of a fail-fast: false matrix that fails lets the others run; by default it stops the run', async (t) => {
  const run = async (extra: readonly string[]) => {
    const graph = compile(load(matrixFile(['cc: [gcc, clang]'], extra)));
    const executor = new FakeExecutor({ 'build (cc=gcc)': { status: 'failed' } });
    const log = new EventLog();
    const result = await runGraph(graph, { executor, emit: log.emit, concurrency: 1 });
    return { result, log };
  };
  const going = await run(['    fail-fast: false']);
  t.is(going.result.status, 'failed');
  t.like(going.log.end('build (cc=clang)'), { status: 'passed' });
  t.like(going.log.end('test'), { status: 'skipped' });

  const stopped = await run([]);
  t.like(stopped.log.end('build (cc=clang)'), {
    status: 'skipped',
    reason: 'not started after a failure (fail-fast)',
  });
});
