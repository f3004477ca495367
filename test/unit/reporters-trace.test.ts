import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReporter } from '../../src/reporters/index.js';
import type { TraceEvent, TraceFile } from '../../src/reporters/trace-reporter.js';
import type { KilnEvent } from '../../src/events.js';
import {
  BUILD_MISS_REASONS,
  FETCH_KEY,
  at,
  cachedRun,
  memoryStream,
  sampleRun,
} from '../helpers/fake-run.js';

async function traceOf(
  t: { teardown(fn: () => Promise<void>): void },
  events: readonly KilnEvent[] = sampleRun(),
): Promise<TraceFile> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-trace-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'run.trace.json');
  const reporter = createReporter({ mode: 'json', stream: memoryStream(), logDir: false, tracePath: path });
  events.forEach((event) => reporter.onEvent(event));
  await reporter.close();
  return JSON.parse(await readFile(path, 'utf8')) as TraceFile;
}

const spans = (trace: TraceFile, cat: string) =>
  trace.traceEvents.filter((e) => e.ph === 'X' && e.cat === cat);
const within = (inner: TraceEvent, outer: TraceEvent) =>
  inner.ts! >= outer.ts! && inner.ts! + inner.dur! <= outer.ts! + outer.dur!;

test('the trace is Chrome trace-event JSON with one complete event per step', async (t) => {
  const trace = await traceOf(t);
  t.is(trace.displayTimeUnit, 'ms');
  const steps = spans(trace, 'step');
  t.deepEqual(steps.map((s) => s.name).sort(), ['compile', 'configure', 'unit']);
  const unit = steps.find((s) => s.name === 'unit')!;
  t.is(unit.ts, 160_000, 'µs from run.start');
  t.is(unit.dur, 240_000, 'µs from step.start to step.end');
  t.like(unit.args, { status: 'failed', exitCode: 42, command: 'make test' });
  t.true(trace.traceEvents.every((e) => e.pid === 1));
});

test('each job has its own named lane, and its spans nest in the job span', async (t) => {
  const trace = await traceOf(t);
  const names = new Map(
    trace.traceEvents
      .filter((e) => e.ph === 'M' && e.name === 'thread_name')
      .map((e) => [e.tid, e.args?.name]),
  );
  const jobs = spans(trace, 'job');
  t.deepEqual(jobs.map((job) => names.get(job.tid)).sort(), ['build', 'deploy', 'test']);
  t.is(new Set(jobs.map((job) => job.tid)).size, 3, 'a lane per job');
  for (const cat of ['step', 'mounts', 'container', 'release']) {
    for (const span of spans(trace, cat)) {
      const job = jobs.find((j) => j.tid === span.tid)!;
      t.true(within(span, job), `${cat} ${span.name} inside job ${job.name}`);
    }
  }
});

test('mounts, container and release spans follow the job phases', async (t) => {
  const trace = await traceOf(t);
  const lane = (cat: string, job: string) => {
    const tid = spans(trace, 'job').find((j) => j.name === job)!.tid;
    return spans(trace, cat).find((s) => s.tid === tid)!;
  };
  t.like(lane('mounts', 'build'), { ts: 10_000, dur: 90_000 });
  t.like(lane('container', 'build'), { ts: 10_000, dur: 90_000, args: { how: 'create', id: 'aaa' } });
  t.like(lane('container', 'test'), { ts: 12_000, dur: 108_000, args: { how: 'reuse', id: 'bbb' } });
  t.like(lane('release', 'test'), { ts: 410_000, dur: 40_000 });
  t.like(lane('release', 'build'), { ts: 950_000, dur: 50_000 });
  t.like(spans(trace, 'run')[0], { ts: 0, dur: 1_010_000, tid: 0 });
});

test('a trace file that cannot be written is reported as a warning, not thrown', async (t) => {
  const stream = memoryStream();
  const reporter = createReporter({
    mode: 'plain',
    stream,
    logDir: false,
    tracePath: '/nonexistent/dir/t.json',
    env: {},
  });
  sampleRun().forEach((event) => reporter.onEvent(event));
  await t.notThrowsAsync(reporter.close());
  t.regex(stream.text(), /warning: the trace could not be written to \/nonexistent\/dir\/t\.json: ENOENT/);
});

/** The spans of one job's lane, by category. */
function laneOf(trace: TraceFile, job: string): Map<string, TraceEvent[]> {
  const tid = spans(trace, 'job').find((j) => j.name === job)!.tid;
  const lane = new Map<string, TraceEvent[]>();
  for (const span of trace.traceEvents.filter((e) => e.ph === 'X' && e.tid === tid)) {
    lane.set(span.cat!, [...(lane.get(span.cat!) ?? []), span]);
  }
  return lane;
}

test('a cached job is a span with its cache result and key, and nothing of mounts, container or steps', async (t) => {
  const trace = await traceOf(t, cachedRun());
  const fetch = laneOf(trace, 'fetch');
  t.deepEqual([...fetch.keys()].sort(), ['job', 'job-cache']);
  t.like(fetch.get('job')![0], {
    ts: 10_000,
    dur: 25_000,
    args: { status: 'cached', jobCache: 'hit', key: FETCH_KEY, source: 'local' },
  });
  t.like(fetch.get('job-cache')![0], { name: 'job cache', ts: 10_000, dur: 20_000 });
});

test("a miss's reasons are in its spans' attributes, and its mounts begin when the cache answered", async (t) => {
  const trace = await traceOf(t, cachedRun());
  const build = laneOf(trace, 'build');
  const job = build.get('job')![0]!;
  t.like(job.args, { status: 'passed', jobCache: 'miss', key: 'sha256:' + 'cd'.repeat(32) });
  t.deepEqual(job.args?.reasons, [...BUILD_MISS_REASONS]);
  t.deepEqual(build.get('job-cache')![0]!.args?.reasons, [...BUILD_MISS_REASONS]);
  t.like(build.get('job-cache')![0], { ts: 40_000, dur: 20_000 });
  t.like(build.get('mounts')![0], { ts: 60_000, dur: 30_000 });
  t.like(build.get('container')![0], { ts: 60_000, dur: 30_000, args: { how: 'create', id: 'ddd' } });
  const lint = laneOf(trace, 'lint').get('job')![0]!;
  t.like(lint.args, { jobCache: 'disabled', reasons: ['it mounts secret npm-token'] });
  t.false('key' in lint.args!, 'a job not cached has no key');
  for (const span of [...build.values()].flat()) t.true(within(span, job), `${span.cat} inside the job span`);
});

test('a job that ends before it has a container has a mounts span up to its end', async (t) => {
  const trace = await traceOf(t, [
    at(0, { type: 'run.start', runId: 'r', project: 'p', jobs: ['a'] }),
    at(10, { type: 'job.start', job: 'a', image: 'i' }),
    at(20, { type: 'job.cache', job: 'a', key: 'sha256:00', result: 'miss', reasons: ['no earlier result'] }),
    at(50, { type: 'job.end', job: 'a', status: 'failed', reason: 'bind source ./src does not exist' }),
    at(60, { type: 'run.end', status: 'failed', exitCode: 2, durationMs: 60 }),
  ]);
  const lane = laneOf(trace, 'a');
  t.like(lane.get('mounts')![0], { ts: 20_000, dur: 30_000 });
  t.false(lane.has('container'));
});
