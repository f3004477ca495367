import test from 'ava';
import type { Definition } from '../../src/definition/types.js';
import { DefinitionError } from '../../src/errors.js';
import { compile, selectJobs } from '../../src/graph/index.js';

const run = [{ run: 'true' }];
const definition: Definition = {
  version: 1,
  projectDir: '/home/me/app',
  defaults: { image: 'kiln-fixture/busybox:latest' },
  jobs: {
    lint: { steps: run },
    deps: { steps: run },
    build: { needs: ['deps'], steps: run },
    test: { needs: ['build'], steps: run },
    docs: { needs: ['deps'], steps: run },
    release: { needs: ['test', 'docs'], steps: run },
  },
};
const graph = compile(definition);

const selects = test.macro<[string[], string[]]>({
  exec(t, names, expected) {
    const selected = selectJobs(graph, names);
    t.deepEqual(selected.order, expected);
    t.deepEqual([...selected.jobs.keys()].sort(), [...expected].sort());
  },
  title: (_title, names, expected) => `selecting [${names.join(', ')}] runs ${expected.join(', ')}`,
});

test(selects, ['test'], ['deps', 'build', 'test']);
test(selects, ['docs', 'lint'], ['lint', 'deps', 'docs']);
test(selects, ['release'], ['deps', 'build', 'test', 'docs', 'release']);
test(selects, ['deps', 'deps'], ['deps']);

test('selecting nothing keeps the whole graph', (t) => {
  t.is(selectJobs(graph, []), graph);
});

test('the selected graph keeps the project and is frozen', (t) => {
  const selected = selectJobs(graph, ['build']);
  t.is(selected.project, graph.project);
  t.is(selected.jobs.get('build'), graph.jobs.get('build'));
  t.throws(() => (selected.order as string[]).push('x'));
});

test('unknown job names are all reported, with the closest name', (t) => {
  const error = t.throws(() => selectJobs(graph, ['tset', 'build', 'nothing-like-it']), {
    instanceOf: DefinitionError,
  });
  t.deepEqual(error.message.split('\n'), [
    "no job named 'tset' (did you mean 'test'?)",
    "no job named 'nothing-like-it'",
  ]);
  t.is(error.exitCode, 2);
});
