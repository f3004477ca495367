import test from 'ava';
import type { KilnEvent } from '../../src/events.js';
import {
  TAIL_LINES,
  createRunState,
  currentStep,
  isDone,
  lastLines,
  reduceRun,
  stepTotal,
  type RunState,
} from '../../src/reporters/run-state.js';
import { BUILD_MISS_REASONS, FETCH_KEY, ORIGIN, at, cachedRun, sampleRun } from '../helpers/fake-run.js';

const fold = (events: readonly KilnEvent[], state: RunState = createRunState()) =>
  events.reduce(reduceRun, state);
const begin = [
  at(0, { type: 'run.start', runId: 'r', project: 'p', jobs: ['a', 'b'] }),
  at(100, { type: 'job.start', job: 'a', image: 'img' }),
  at(200, { type: 'step.start', job: 'a', step: 's', index: 0, command: 'make' }),
] as const;
const output = (data: string, stream: 'stdout' | 'stderr' = 'stdout') =>
  at(300, { type: 'step.output', job: 'a', step: 's', stream, data });

test('jobs go from waiting to running to their end status', (t) => {
  const events = sampleRun();
  const started = fold(events.slice(0, 1));
  t.deepEqual(started.jobOrder, ['build', 'test', 'deploy']);
  t.is(started.jobs.build?.status, 'waiting');
  const running = fold(events.slice(0, 8));
  t.is(running.jobs.build?.status, 'running');
  t.is(running.jobs.build?.phase, 'steps');
  t.is(currentStep(running.jobs.build!)?.name, 'configure');
  const done = fold(events);
  t.is(done.jobs.build?.status, 'passed');
  t.is(done.jobs.test?.status, 'failed');
  t.is(done.jobs.deploy?.status, 'skipped');
  t.is(done.jobs.deploy?.reason, 'needs test');
  t.is(done.status, 'failed');
  t.is(done.exitCode, 1);
  t.is(currentStep(done.jobs.build!), undefined);
});

test('jobs of the plan that the run does not include are left out', (t) => {
  const state = fold([begin[0]], createRunState({ a: ['s'], b: ['t'], other: ['u'] }));
  t.deepEqual(state.jobOrder, ['a', 'b']);
  t.deepEqual(Object.keys(state.jobs).sort(), ['a', 'b']);
  t.deepEqual(state.jobs.a?.plannedSteps, ['s']);
});

test('a job is checking the job cache, then preparing mounts, then getting its container, then releasing', (t) => {
  const base = [begin[0], begin[1]];
  t.is(fold(base).jobs.a?.phase, 'cache');
  const missed = [
    ...base,
    at(120, { type: 'job.cache', job: 'a', key: 'sha256:0a', result: 'miss', reasons: [] }),
  ];
  t.is(fold(missed).jobs.a?.phase, 'mounts');
  const created = fold([...missed, at(150, { type: 'container.create', job: 'a', container: 'c' })]);
  t.is(created.jobs.a?.phase, 'container');
  const releasing = fold([...begin, at(400, { type: 'release', job: 'a', resource: 'container', id: 'c' })]);
  t.is(releasing.jobs.a?.phase, 'release');
});

test('a wait for a locked cache is shown until the container comes', (t) => {
  const waiting = fold([
    begin[0],
    begin[1],
    at(150, { type: 'mount.wait', job: 'a', cache: 'ccache', holder: 'run x', heldForMs: 50 }),
  ]);
  t.deepEqual(waiting.jobs.a?.waitingFor, {
    cache: 'ccache',
    holder: 'run x',
    since: Date.parse(
      waiting.jobs.a ? new Date(at(100, { type: 'warning', message: '' }).time).toISOString() : '',
    ),
  });
  const after = fold([at(200, { type: 'container.create', job: 'a', container: 'c' })], waiting);
  t.is(after.jobs.a?.waitingFor, undefined);
});

test('step totals come from the plan, or from the steps seen once the job ended', (t) => {
  const planned = fold(begin, createRunState({ a: ['s', 't', 'u'] }));
  t.is(stepTotal(planned.jobs.a!), 3);
  t.is(stepTotal(fold(begin).jobs.a!), undefined);
  const ended = fold([...begin, at(900, { type: 'job.end', job: 'a', status: 'failed' })]);
  t.is(stepTotal(ended.jobs.a!), 1);
});

test('output keeps the last lines of a step, joining lines split across chunks', (t) => {
  const state = fold([...begin, output('one\ntw'), output('o\nthr'), output('ee')]);
  const step = state.jobs.a!.steps[0]!;
  t.deepEqual(step.tail, ['one', 'two']);
  t.is(step.partial.stdout, 'three');
  t.is(step.lineCount, 2);
  t.deepEqual(lastLines(step, 3), ['one', 'two', 'three']);
});

test('stdout and stderr unfinished lines do not mix', (t) => {
  const state = fold([
    ...begin,
    output('out '),
    output('err ', 'stderr'),
    output('line\n'),
    output('line\n', 'stderr'),
  ]);
  t.deepEqual(state.jobs.a!.steps[0]!.tail, ['out line', 'err line']);
});

test(`only the last ${TAIL_LINES} lines are kept, however big the chunk`, (t) => {
  const big = Array.from({ length: 100_000 }, (_, i) => `line ${i}`).join('\n') + '\n';
  const state = fold([...begin, output('start of a line that scrolls away '), output(big)]);
  const step = state.jobs.a!.steps[0]!;
  t.is(step.tail.length, TAIL_LINES);
  t.is(step.tail[0], `line ${100_000 - TAIL_LINES}`);
  t.is(step.tail.at(-1), 'line 99999');
  t.is(step.lineCount, 100_000);
});

test('kept lines are cleaned for display: escapes, carriage returns and tabs', (t) => {
  const state = fold([...begin, output('\x1b[32mgreen\x1b[0m\n10%\r50%\r100%\r\n\ta\x07b\n')]);
  t.deepEqual(state.jobs.a!.steps[0]!.tail, ['green', '100%', '    ab']);
});

test('the reducer updates the state it is given in place, but never a job state read before', (t) => {
  const state = fold(begin);
  const { jobs, jobOrder } = state;
  const job = state.jobs.a!;
  const snapshot = JSON.stringify(job);
  const after = fold(
    [
      output('x\ny\n'),
      at(400, {
        type: 'step.end',
        job: 'a',
        step: 's',
        index: 0,
        exitCode: 0,
        status: 'passed',
        durationMs: 1,
      }),
    ],
    state,
  );
  // One record of jobs for the whole run: an event costs the same however many jobs there are.
  t.is(after, state);
  t.is(after.jobs, jobs);
  t.is(after.jobOrder, jobOrder);
  t.is(after.jobs.a?.steps[0]?.status, 'passed');
  t.is(JSON.stringify(job), snapshot);
});

test('a job first seen after run.start joins the same job order', (t) => {
  const state = fold([begin[0]]);
  const { jobOrder } = state;
  const after = fold([at(100, { type: 'job.start', job: 'late', image: 'img' })], state);
  t.is(after.jobOrder, jobOrder);
  t.deepEqual(after.jobOrder, ['a', 'b', 'late']);
  t.is(after.jobs.late?.status, 'running');
});

test('a job named like a property of every object starts from nothing', (t) => {
  const state = fold([at(100, { type: 'job.start', job: 'constructor', image: 'img' })]);
  t.deepEqual(state.jobOrder, ['constructor']);
  t.like(state.jobs.constructor, { name: 'constructor', status: 'running', steps: [] });
});

test('warnings and errors are collected', (t) => {
  const state = fold([
    at(0, { type: 'warning', job: 'a', message: 'old runc' }),
    at(1, { type: 'error', code: 'E_MOUNT', message: 'no source' }),
  ]);
  t.deepEqual(state.warnings, [{ job: 'a', message: 'old runc' }]);
  t.deepEqual(state.errors, [{ job: undefined, code: 'E_MOUNT', message: 'no source' }]);
});

test('a job whose executor never asks the job cache leaves checking it at its first mount or container', (t) => {
  const base = [begin[0], begin[1]];
  const mount = at(110, { type: 'mount.prepare', job: 'a', mount: 'tmpfs', target: '/tmp' });
  t.is(fold([...base, mount]).jobs.a?.phase, 'mounts');
  const wait = at(110, { type: 'mount.wait', job: 'a', cache: 'c', holder: 'run x', heldForMs: 5 });
  t.is(fold([...base, wait]).jobs.a?.phase, 'mounts');
  t.is(
    fold([...base, at(150, { type: 'container.create', job: 'a', container: 'c' })]).jobs.a?.phase,
    'container',
  );
});

test('what the job cache made of each job is kept: result, key, reasons, source', (t) => {
  const state = fold(cachedRun());
  t.deepEqual(state.jobs.fetch?.cache, { result: 'hit', key: FETCH_KEY, reasons: [], source: 'local' });
  t.deepEqual(state.jobs.build?.cache, {
    result: 'miss',
    key: 'sha256:' + 'cd'.repeat(32),
    reasons: [...BUILD_MISS_REASONS],
  });
  t.deepEqual(state.jobs.lint?.cache, { result: 'disabled', reasons: ['it mounts secret npm-token'] });
});

test('a cached job is done as cached, not passed, with its planned steps neither run nor skipped', (t) => {
  const plan = { fetch: ['download', 'unpack'], build: ['compile'], lint: ['check'] };
  const state = fold(cachedRun(), createRunState(plan));
  const fetch = state.jobs.fetch!;
  t.is(fetch.status, 'cached');
  t.true(isDone(fetch));
  t.is(fetch.phase, undefined);
  t.is(fetch.durationMs, 25);
  t.deepEqual(fetch.steps, []);
  t.is(stepTotal(fetch), 2);
  t.true(isDone(state.jobs.build!));
  t.false(isDone(fold(cachedRun().slice(0, 4)).jobs.fetch!), 'not done while it checks the cache');
});
