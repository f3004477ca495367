import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReporter } from '../../src/reporters/index.js';
import type { TraceEvent, TraceFile } from '../../src/reporters/trace-reporter.js';
import { memoryStream, sampleRun } from '../helpers/fake-run.js';

async function traceOf(t: { teardown(fn: () => Promise<void>): void }): Promise<TraceFile> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-trace-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'run.trace.json');
  const reporter = createReporter({ mode: 'json', stream: memoryStream(), logDir: false, tracePath: path });
  sampleRun().forEach((event) => reporter.onEvent(event));
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
