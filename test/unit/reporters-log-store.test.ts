import test from 'ava';
import { mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KilnEvent } from '../../src/events.js';
import { createReporter } from '../../src/reporters/index.js';
import { safeFileName } from '../../src/reporters/log-paths.js';
import { LogStore } from '../../src/reporters/log-store.js';
import { at, memoryStream, sampleRun } from '../helpers/fake-run.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-logs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const runStart = (runId: string) => at(0, { type: 'run.start', runId, project: 'p', jobs: ['build'] });

test('every step gets its full output in <run>/<job>/<NN>-<step>.log, both streams as they came', async (t) => {
  const dir = await tempDir(t);
  const store = new LogStore({ logDir: dir });
  const chunk = 'z'.repeat(1023) + '\n';
  const events: KilnEvent[] = [
    runStart('run-1'),
    at(1, { type: 'step.start', job: 'build', step: 'configure', index: 0, command: 'true' }),
    at(2, {
      type: 'step.end',
      job: 'build',
      step: 'configure',
      index: 0,
      exitCode: 0,
      status: 'passed',
      durationMs: 1,
    }),
    at(3, { type: 'step.start', job: 'build', step: 'compile', index: 1, command: 'make' }),
    at(4, { type: 'step.output', job: 'build', step: 'compile', stream: 'stdout', data: 'out 1\n' }),
    at(5, { type: 'step.output', job: 'build', step: 'compile', stream: 'stderr', data: 'err 1\n' }),
    at(6, { type: 'step.output', job: 'build', step: 'compile', stream: 'stdout', data: 'no newline' }),
  ];
  events.forEach((event) => store.onEvent(event));
  for (let i = 0; i < 3 * 1024; i++) {
    store.onEvent(
      at(7, { type: 'step.output', job: 'build', step: 'compile', stream: 'stdout', data: chunk }),
    );
  }
  store.onEvent(
    at(8, {
      type: 'step.end',
      job: 'build',
      step: 'compile',
      index: 1,
      exitCode: 0,
      status: 'passed',
      durationMs: 5,
    }),
  );
  await store.close();

  t.is(store.runDir, join(dir, 'run-1'));
  t.deepEqual((await readdir(join(dir, 'run-1', 'build'))).sort(), ['01-configure.log', '02-compile.log']);
  t.is(await readFile(join(dir, 'run-1', 'build', '01-configure.log'), 'utf8'), '');
  const log = await readFile(join(dir, 'run-1', 'build', '02-compile.log'), 'utf8');
  t.is(log.length, 'out 1\nerr 1\nno newline'.length + 3 * 1024 * 1024, 'nothing clipped');
  t.true(log.startsWith('out 1\nerr 1\nno newlinezzz'));
});

test("a service's log and a step named like it (':db' and db) are two files", async (t) => {
  const dir = await tempDir(t);
  const store = new LogStore({ logDir: dir });
  [
    runStart('run-1'),
    at(1, { type: 'step.start', job: 'build', step: ':db', index: 0, command: 'true' }),
    at(2, {
      type: 'service.output',
      job: 'build',
      service: 'db',
      stream: 'stdout',
      data: 'from the service\n',
    }),
    at(3, { type: 'step.output', job: 'build', step: ':db', stream: 'stdout', data: 'from the step\n' }),
    at(4, { type: 'service.end', job: 'build', service: 'db', status: 'stopped', durationMs: 1 }),
    at(5, { type: 'step.output', job: 'build', step: ':db', stream: 'stdout', data: 'step again\n' }),
    at(6, {
      type: 'step.end',
      job: 'build',
      step: ':db',
      index: 0,
      exitCode: 0,
      status: 'passed',
      durationMs: 1,
    }),
  ].forEach((event) => store.onEvent(event as KilnEvent));
  await store.close();
  const files = (await readdir(join(dir, 'run-1', 'build'))).sort();
  t.is(files.length, 2, files.join(', '));
  t.is(await readFile(join(dir, 'run-1', 'build', 'service-db.log'), 'utf8'), 'from the service\n');
  const step = files.find((f) => f !== 'service-db.log')!;
  t.is(await readFile(join(dir, 'run-1', 'build', step), 'utf8'), 'from the step\nstep again\n');
});

test('events.jsonl holds the run events; step output stays in the step logs', async (t) => {
  const dir = await tempDir(t);
  const store = new LogStore({ logDir: dir });
  const events = sampleRun();
  events.forEach((event) => store.onEvent(event));
  await store.close();
  const lines = (await readFile(join(store.runDir!, 'events.jsonl'), 'utf8')).trimEnd().split('\n');
  const parsed = lines.map((line) => JSON.parse(line) as KilnEvent);
  t.deepEqual(
    parsed,
    events.filter((event) => event.type !== 'step.output'),
  );
  const unit = await readFile(join(store.runDir!, 'test', '01-unit.log'), 'utf8');
  t.is(unit.split('\n').length, 31);
});

test('names that are not safe on a filesystem are rewritten, and stay distinct', (t) => {
  t.is(safeFileName('build'), 'build');
  t.regex(safeFileName('a/b'), /^a_b-[0-9a-f]{8}$/);
  t.not(safeFileName('a/b'), safeFileName('a_b'));
  t.not(safeFileName('a/b'), safeFileName('a:b'));
  t.regex(safeFileName('..'), /^_-[0-9a-f]{8}$|^[0-9a-f]{8}$/);
  t.false(safeFileName('x'.repeat(300)).length > 100);
});

test('a job and a step with odd names get their log inside the run folder', async (t) => {
  const dir = await tempDir(t);
  const store = new LogStore({ logDir: dir });
  store.onEvent(runStart('r'));
  store.onEvent(at(1, { type: 'step.start', job: '../escape', step: 'a b/c', index: 0, command: 'x' }));
  store.onEvent(
    at(2, { type: 'step.output', job: '../escape', step: 'a b/c', stream: 'stdout', data: 'hi\n' }),
  );
  await store.close();
  const [jobDir] = (await readdir(join(dir, 'r'))).filter((name) => name !== 'events.jsonl');
  t.truthy(jobDir);
  const [file] = await readdir(join(dir, 'r', jobDir!));
  t.regex(file!, /^01-a_b_c-[0-9a-f]{8}\.log$/);
  t.is(await readFile(join(dir, 'r', jobDir!, file!), 'utf8'), 'hi\n');
});

test('at run.start the oldest runs beyond keepRuns are removed, and other folders left alone', async (t) => {
  const dir = await tempDir(t);
  for (let i = 0; i < 5; i++) {
    const run = join(dir, `old-${i}`);
    await mkdir(run);
    await writeFile(join(run, 'events.jsonl'), '');
    const when = new Date(Date.now() - (10 - i) * 60_000);
    await utimes(join(run, 'events.jsonl'), when, when);
  }
  await mkdir(join(dir, 'not-a-run'));
  const store = new LogStore({ logDir: dir, keepRuns: 3 });
  store.onEvent(runStart('new'));
  await store.close();
  t.deepEqual((await readdir(dir)).sort(), ['new', 'not-a-run', 'old-3', 'old-4']);
});

test('a log folder that cannot be made is reported once, and the run goes on', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'file'), '');
  const problems: string[] = [];
  const store = new LogStore({ logDir: join(dir, 'file', 'runs'), onProblem: (m) => problems.push(m) });
  t.notThrows(() => sampleRun().forEach((event) => store.onEvent(event)));
  await store.close();
  t.is(problems.length, 1);
  t.regex(problems[0]!, /step logs are not kept: cannot create .*file\/runs\/20240501-100000-abcd/);
  t.is(store.runDir, undefined);
});

test('createReporter keeps logs where asked and names the folder in the summary', async (t) => {
  const dir = await tempDir(t);
  const stream = memoryStream();
  const reporter = createReporter({ mode: 'plain', stream, logDir: dir, env: {} });
  sampleRun().forEach((event) => reporter.onEvent(event));
  await reporter.close();
  const runDir = join(dir, '20240501-100000-abcd');
  t.true(stream.text().endsWith(`\nlogs: ${runDir}\n`));
  t.is((await readFile(join(runDir, 'test', '01-unit.log'), 'utf8')).split('\n')[0], 'test line 01');
});

test('the default log folder is <state dir>/runs', async (t) => {
  const dir = await tempDir(t);
  const reporter = createReporter({ mode: 'json', stream: memoryStream(), env: { KILN_STATE_DIR: dir } });
  sampleRun().forEach((event) => reporter.onEvent(event));
  await reporter.close();
  t.deepEqual(await readdir(join(dir, 'runs')), ['20240501-100000-abcd']);
});
