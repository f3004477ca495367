/**
 * Graphs through `kiln run` against the real engine: concurrency, failures and their dependants, job
 * selection, default mounts, and a trace of a real run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import {
  BUSYBOX,
  eventsOf,
  kiln,
  makeProject,
  outputOf,
  sweepProjects,
  type KilnRun,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

const GRAPH = `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  left:
    steps: [{ name: work, run: "sleep 1; echo left" }]
  right:
    steps: [{ name: work, run: "sleep 1; echo right" }]
  broken:
    needs: [left]
    steps: [{ name: fail, run: "echo about to fail; exit 7" }]
  after-broken:
    needs: [broken]
    steps: [{ run: "echo never" }]
  after-right:
    needs: [right]
    steps: [{ name: work, run: "echo after right" }]
`;

function span(run: KilnRun, job: string): [number, number] {
  const start = eventsOf(run, 'job.start').find((e) => e.job === job)!;
  const end = eventsOf(run, 'job.end').find((e) => e.job === job)!;
  return [Date.parse(start.time), Date.parse(end.time)];
}

test('independent jobs overlap in time; a failure skips its dependants, reports the exit code, and exits 1', async (t) => {
  const project = await makeProject(GRAPH);
  const run = await kiln(project, ['run', '--json', '--concurrency', '2', '--keep-going']);
  t.is(run.code, 1, run.stderr);
  const [ls, le] = span(run, 'left');
  const [rs, re] = span(run, 'right');
  t.true(ls < re && rs < le, 'left and right ran at the same time');
  t.like(
    eventsOf(run, 'step.end').find((e) => e.job === 'broken'),
    { exitCode: 7, status: 'failed' },
  );
  const status = Object.fromEntries(eventsOf(run, 'job.end').map((e) => [e.job, e.status]));
  t.deepEqual(status, {
    left: 'passed',
    right: 'passed',
    broken: 'failed',
    'after-broken': 'skipped',
    'after-right': 'passed',
  });
  t.regex(eventsOf(run, 'job.end').find((e) => e.job === 'after-broken')!.reason, /broken/);
});

test('fail-fast: after a failure no new job starts, and those never started are skipped', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  fails: { steps: [{ run: "exit 1" }] }
  later: { needs: [fails], steps: [{ run: "true" }] }
  queued-1: { steps: [{ run: "sleep 1" }] }
  queued-2: { steps: [{ run: "sleep 1" }] }
`);
  const run = await kiln(project, ['run', '--json', '--concurrency', '1']);
  t.is(run.code, 1);
  const status = Object.fromEntries(eventsOf(run, 'job.end').map((e) => [e.job, e.status]));
  t.is(status.fails, 'failed');
  t.is(status.later, 'skipped');
  t.is(status['queued-1'], 'skipped');
  t.is(status['queued-2'], 'skipped');
});

test('kiln run JOB runs that job and what it needs, nothing else', async (t) => {
  const project = await makeProject(GRAPH);
  const run = await kiln(project, ['run', 'after-right', '--json']);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(eventsOf(run, 'run.start')[0]!.jobs, ['right', 'after-right']);
  t.is(outputOf(run, 'after-right', 'work'), 'after right\n');
});

test('default mounts from KILN_DEFAULT_MOUNTS and defaults.mounts apply to every job unless it opts out', async (t) => {
  const project = await makeProject(
    `
version: 1
defaults:
  image: ${BUSYBOX}
  mounts: [{ type: tmpfs, target: /scratch, size: 1m }]
jobs:
  with:
    steps: [{ name: look, run: "cat /shared/note; grep -q ' /scratch ' /proc/mounts && echo scratch" }]
  without:
    default-mounts: false
    steps: [{ name: look, run: "test -e /shared/note || echo no-shared; grep -q ' /scratch ' /proc/mounts || echo no-scratch" }]
`,
    { 'data/note': 'from the default mount\n' },
  );
  const run = await kiln(project, ['run', '--json'], { KILN_DEFAULT_MOUNTS: './data:/shared:ro' });
  t.is(run.code, 0, run.stdout + run.stderr);
  t.is(outputOf(run, 'with', 'look'), 'from the default mount\nscratch\n');
  t.is(outputOf(run, 'without', 'look'), 'no-shared\nno-scratch\n');

  const bad = await kiln(project, ['run'], { KILN_DEFAULT_MOUNTS: './data:/shared:ro;type=volum,target=/x' });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /KILN_DEFAULT_MOUNTS entry 2 'type=volum,target=\/x'/);
});

test('--trace writes trace-event JSON of the real run, with one span per step', async (t) => {
  const project = await makeProject(GRAPH);
  const trace = join(project.dir, 'run.trace.json');
  const run = await kiln(project, ['run', 'after-right', 'left', '--progress', 'plain', '--trace', trace]);
  t.is(run.code, 0, run.stderr);
  const parsed = JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: Array<Record<string, any>> };
  const spans = parsed.traceEvents.filter((e) => e.ph === 'X');
  for (const e of spans) {
    t.true(Number.isFinite(e.ts) && Number.isFinite(e.dur) && e.dur >= 0);
  }
  const stepSpans = spans.filter((e) => e.cat === 'step' || /work/.test(e.name));
  t.is(stepSpans.length, 3, JSON.stringify(spans.map((s) => [s.name, s.cat])));
});
