/**
 * `kiln run JOB... --only`'s selection: the named jobs alone, the needs dropped from each, and which of
 * those must come from the job cache (those whose outputs a named job mounts).
 */
import test from 'ava';
import { compile } from '../../src/graph/compile.js';
import { selectOnly } from '../../src/graph/select.js';
import { DefinitionError } from '../../src/errors.js';
import type { Definition } from '../../src/definition/types.js';
import { SeededNeedsExecutor } from '../../src/executor/cached-needs.js';
import { runGraph } from '../../src/scheduler/run-graph.js';
import type { JobExecutor, JobOutcome } from '../../src/scheduler/types.js';

const graph = compile({
  version: 1,
  projectDir: '/tmp/select-only',
  jobs: {
    lint: { image: 'img', steps: [{ run: 'true' }] },
    build: { image: 'img', outputs: ['/out'], steps: [{ run: 'true' }] },
    test: {
      image: 'img',
      needs: ['lint'],
      mounts: [{ type: 'bind', from: 'build', source: '/out', target: '/in' }],
      steps: [{ run: 'true' }],
    },
    package: { image: 'img', needs: ['test', 'build'], steps: [{ run: 'true' }] },
  },
} as unknown as Definition);

test('the named job alone: its needs are dropped and those it mounts outputs of come from the cache', (t) => {
  const only = selectOnly(graph, ['test']);
  t.deepEqual([...only.graph.jobs.keys()], ['test']);
  t.deepEqual(only.graph.order, ['test']);
  t.deepEqual(only.graph.jobs.get('test')!.needs, [], 'the scheduler sees no need to wait for');
  t.deepEqual([...only.dropped.get('test')!].sort(), ['build', 'lint']);
  t.deepEqual(only.fromCache, ['build'], 'lint has no output: it is simply not run');
  t.is(only.graph.jobs.get('test')!.mounts.find((m) => m.type === 'output')?.job, 'build');
});

test('needs that are named too stay needs; only the others are dropped', (t) => {
  const only = selectOnly(graph, ['package', 'test']);
  t.deepEqual(only.graph.order, ['test', 'package']);
  t.deepEqual(only.graph.jobs.get('package')!.needs, ['test']);
  t.deepEqual(only.dropped.get('package'), ['build']);
  t.deepEqual(only.fromCache, ['build'], 'package needs build but mounts none of its outputs; test does');
});

test('a job without needs is kept as it is and nothing comes from the cache', (t) => {
  const only = selectOnly(graph, ['build']);
  t.is(only.graph.jobs.get('build'), graph.jobs.get('build'));
  t.is(only.dropped.size, 0);
  t.deepEqual(only.fromCache, []);
});

test('unknown names and an empty list are refused', (t) => {
  const unknown = t.throws(() => selectOnly(graph, ['tset']), { instanceOf: DefinitionError });
  t.regex(unknown!.message, /no job named 'tset'.*test/);
  t.throws(() => selectOnly(graph, []), { instanceOf: DefinitionError, message: /--only/ });
});

test('the selected graph is frozen and the source graph is untouched', (t) => {
  const only = selectOnly(graph, ['test']);
  t.true(Object.isFrozen(only.graph.jobs.get('test')));
  t.deepEqual(graph.jobs.get('test')!.needs, ['lint', 'build']);
});

test('run with the selection: the named job starts at once and sees the seeded outcome of the need it mounts', async (t) => {
  const only = selectOnly(graph, ['test']);
  const seeded: JobOutcome = {
    status: 'cached',
    steps: [],
    outputs: new Map([['/out', { path: '/out', volume: 'v-build', digest: 'sha256:00' }]]),
  };
  const seen: Array<{ job: string; needs: string[] }> = [];
  const inner: JobExecutor = {
    execute: async (job, context) => {
      seen.push({ job: job.name, needs: [...context.needs.keys()] });
      return { status: 'passed', steps: [] };
    },
  };
  const result = await runGraph(only.graph, {
    executor: new SeededNeedsExecutor(inner, new Map([['build', seeded]])),
    emit: () => {},
    runId: 'r-only',
  });
  t.is(result.exitCode, 0);
  t.deepEqual(seen, [{ job: 'test', needs: ['build'] }], 'lint is neither run nor handed on');
  t.deepEqual([...result.jobs.keys()], ['test']);
});
