/** A reporter made through the API with no plan learns each job's steps from its job.start event. */
import test from 'ava';
import type { KilnEvent } from '../../src/events.js';
import { createReporter } from '../../src/reporters/index.js';
import { runGraph } from '../../src/scheduler/index.js';
import { EventLog, FakeExecutor } from '../helpers/fake-executor.js';
import { buildGraph } from '../helpers/graphs.js';
import { createRunState, reduceRun, stepTotal } from '../../src/reporters/run-state.js';
import { stripEscapes } from '../../src/reporters/text.js';
import { at, memoryStream } from '../helpers/fake-run.js';

const run: KilnEvent[] = [
  at(0, { type: 'run.start', runId: '20240501-100000-abcd', project: 'demo', jobs: ['build'] }),
  at(10, { type: 'job.start', job: 'build', image: 'busybox', steps: ['configure', 'compile', 'link'] }),
  at(20, { type: 'step.start', job: 'build', step: 'configure', index: 0, command: './configure' }),
  at(30, {
    type: 'step.end',
    job: 'build',
    step: 'configure',
    index: 0,
    exitCode: 1,
    status: 'failed',
    durationMs: 10,
  }),
  at(40, { type: 'job.end', job: 'build', status: 'failed', durationMs: 30 }),
  at(50, { type: 'run.end', status: 'failed', exitCode: 1, durationMs: 50 }),
];

test("a run's state with no plan learns a job's steps when it starts", (t) => {
  const started = run.slice(0, 2).reduce(reduceRun, createRunState());
  t.deepEqual(started.jobs['build']!.plannedSteps, ['configure', 'compile', 'link']);
  t.is(stepTotal(started.jobs['build']!), 3);
  // A plan given up front is kept.
  const planned = run.slice(0, 2).reduce(reduceRun, createRunState({ build: ['all'] }));
  t.deepEqual(planned.jobs['build']!.plannedSteps, ['all']);
});

test('a reporter created without steps counts the steps a job did not reach in its summary', async (t) => {
  const stream = memoryStream();
  const reporter = createReporter({ mode: 'plain', stream, logDir: false, color: false });
  for (const event of run) reporter.onEvent(event);
  await reporter.close();
  const row = stripEscapes(stream.text())
    .split('\n')
    .find((line) => /^build\s+failed/.test(line));
  t.regex(row ?? '', /\b0\/3\b/, stream.text());
});

test("each job.start carries the job's step names, in order", async (t) => {
  const graph = buildGraph({ fetch: [], build: ['fetch'] });
  const log = new EventLog();
  await runGraph(graph, { executor: new FakeExecutor(), emit: log.emit });
  for (const [name, job] of graph.jobs) {
    t.deepEqual(
      (log.of('job.start', name)[0] as { steps?: readonly string[] }).steps,
      job.steps.map((s) => s.name),
    );
  }
});
