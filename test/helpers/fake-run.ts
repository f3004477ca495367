/**
 * A scripted run for the reporters, and the fakes their tests share.
 *
 * Run as a script (`node dist/test/helpers/fake-run.js`), it plays a run in real time into
 * `createReporter({ mode: 'auto' })` on process.stdout: `deps` is found in the job cache, jobs `build`
 * and `test` miss it, run at once and print lines for about two seconds, `test` fails with exit 42,
 * `deploy` is skipped, and the reporter is closed.
 * FAKE_RUN_LOG_DIR keeps its logs there (default: no logs).
 */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { createEmitter, type EventInput, type KilnEvent } from '../../src/events.js';
import { createReporter } from '../../src/reporters/index.js';
import type { OutputStream } from '../../src/reporters/types.js';

/** The time of every event made with `at`: a fixed origin plus `ms`. */
export const ORIGIN = Date.parse('2024-05-01T10:00:00.000Z');

/** An event stamped `ms` after ORIGIN. */
export function at(ms: number, event: EventInput): KilnEvent {
  return { ...event, time: new Date(ORIGIN + ms).toISOString() } as KilnEvent;
}

export interface MemoryStream extends Writable {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  /** Everything written so far. */
  text(): string;
  /** The separate writes, in order. */
  readonly chunks: string[];
}

/**
 * A writable stream that keeps what it is given. `delayMs` acknowledges each write later and
 * `highWaterMark` sets when `write` asks for a drain, to exercise backpressure.
 */
export function memoryStream(
  options: {
    isTTY?: boolean;
    columns?: number;
    rows?: number;
    highWaterMark?: number;
    delayMs?: number;
  } = {},
): MemoryStream {
  const chunks: string[] = [];
  const stream = new Writable({
    decodeStrings: false,
    highWaterMark: options.highWaterMark ?? 16 * 1024,
    write(chunk: string | Buffer, _encoding, callback) {
      chunks.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      if (options.delayMs) setTimeout(callback, options.delayMs);
      else callback();
    },
  }) as MemoryStream;
  Object.assign(stream, {
    isTTY: options.isTTY,
    columns: options.columns,
    rows: options.rows,
    chunks,
    text: () => chunks.join(''),
  });
  return stream as MemoryStream & OutputStream;
}

/**
 * A finished run at fixed times: `build` (configure, compile) passes, `test` (unit) prints 30 lines
 * `test line 01`..`test line 30` and exits 42, `deploy` is skipped.
 */
export function sampleRun(): KilnEvent[] {
  const events: KilnEvent[] = [
    at(0, {
      type: 'run.start',
      runId: '20240501-100000-abcd',
      project: 'demo',
      jobs: ['build', 'test', 'deploy'],
    }),
    at(10, { type: 'job.start', job: 'build', image: 'kiln-fixture/busybox:latest' }),
    at(12, { type: 'job.start', job: 'test', image: 'kiln-fixture/busybox:latest' }),
    at(20, { type: 'mount.prepare', job: 'build', mount: 'cache', target: '/root/.cache', source: 'vol' }),
    at(100, { type: 'container.create', job: 'build', container: 'aaa' }),
    at(120, { type: 'container.reuse', job: 'test', container: 'bbb' }),
    at(150, { type: 'step.start', job: 'build', step: 'configure', index: 0, command: './configure' }),
    at(160, { type: 'step.start', job: 'test', step: 'unit', index: 0, command: 'make test' }),
    at(200, {
      type: 'step.output',
      job: 'build',
      step: 'configure',
      stream: 'stdout',
      data: 'checking... yes\n',
    }),
  ];
  for (let i = 1; i <= 30; i++) {
    const line = `test line ${String(i).padStart(2, '0')}\n`;
    events.push(
      at(200 + i, {
        type: 'step.output',
        job: 'test',
        step: 'unit',
        stream: i % 2 ? 'stdout' : 'stderr',
        data: line,
      }),
    );
  }
  events.push(
    at(300, {
      type: 'step.end',
      job: 'build',
      step: 'configure',
      index: 0,
      exitCode: 0,
      status: 'passed',
      durationMs: 150,
    }),
    at(310, { type: 'step.start', job: 'build', step: 'compile', index: 1, command: 'make -j2' }),
    at(400, {
      type: 'step.end',
      job: 'test',
      step: 'unit',
      index: 0,
      exitCode: 42,
      status: 'failed',
      durationMs: 240,
    }),
    at(410, { type: 'release', job: 'test', resource: 'container', id: 'bbb' }),
    at(450, { type: 'job.end', job: 'test', status: 'failed', durationMs: 438 }),
    at(900, {
      type: 'step.end',
      job: 'build',
      step: 'compile',
      index: 1,
      exitCode: 0,
      status: 'passed',
      durationMs: 590,
    }),
    at(950, { type: 'release', job: 'build', resource: 'container', id: 'aaa' }),
    at(1000, { type: 'job.end', job: 'build', status: 'passed', durationMs: 990 }),
    at(1001, { type: 'job.end', job: 'deploy', status: 'skipped', reason: 'needs test' }),
    at(1010, { type: 'run.end', status: 'failed', exitCode: 1, durationMs: 1010 }),
  );
  return events;
}

/** The key of `fetch` in cachedRun. */
export const FETCH_KEY = 'sha256:ab12cd34ef56' + '7'.repeat(52);

/** The reasons `build` missed in cachedRun: five, so that a list of three has two more. */
export const BUILD_MISS_REASONS = [
  'src/a.c changed',
  '2 files added under ./src (first: src/new.c)',
  "step compile's command changed",
  'the output /out of job fetch changed',
  'image kiln-fixture/busybox:latest is another image (sha256:ab12… → sha256:cd34…)',
] as const;

/**
 * A passed run that used the job cache, at fixed times: `fetch` is a hit (no mount, container or step),
 * `build` misses for BUILD_MISS_REASONS and runs its one step, `lint` is not cached (it mounts a secret)
 * and runs its one step.
 */
export function cachedRun(): KilnEvent[] {
  return [
    at(0, {
      type: 'run.start',
      runId: '20240501-100000-cafe',
      project: 'demo',
      jobs: ['fetch', 'build', 'lint'],
    }),
    at(10, { type: 'job.start', job: 'fetch', image: 'kiln-fixture/busybox:latest' }),
    at(12, { type: 'job.start', job: 'lint', image: 'kiln-fixture/busybox:latest' }),
    at(15, { type: 'job.cache', job: 'lint', result: 'disabled', reasons: ['it mounts secret npm-token'] }),
    at(30, { type: 'job.cache', job: 'fetch', key: FETCH_KEY, result: 'hit', reasons: [], source: 'local' }),
    at(35, { type: 'job.end', job: 'fetch', status: 'cached', durationMs: 25 }),
    at(40, { type: 'job.start', job: 'build', image: 'kiln-fixture/busybox:latest' }),
    at(60, {
      type: 'job.cache',
      job: 'build',
      key: 'sha256:' + 'cd'.repeat(32),
      result: 'miss',
      reasons: [...BUILD_MISS_REASONS],
    }),
    at(70, { type: 'container.create', job: 'lint', container: 'ccc' }),
    at(80, { type: 'step.start', job: 'lint', step: 'check', index: 0, command: 'npm run lint' }),
    at(90, { type: 'container.create', job: 'build', container: 'ddd' }),
    at(100, { type: 'step.start', job: 'build', step: 'compile', index: 0, command: 'make' }),
    at(300, {
      type: 'step.end',
      job: 'lint',
      step: 'check',
      index: 0,
      exitCode: 0,
      status: 'passed',
      durationMs: 220,
    }),
    at(310, { type: 'release', job: 'lint', resource: 'container', id: 'ccc' }),
    at(320, { type: 'job.end', job: 'lint', status: 'passed', durationMs: 308 }),
    at(600, {
      type: 'step.end',
      job: 'build',
      step: 'compile',
      index: 0,
      exitCode: 0,
      status: 'passed',
      durationMs: 500,
    }),
    at(610, { type: 'release', job: 'build', resource: 'container', id: 'ddd' }),
    at(620, { type: 'job.end', job: 'build', status: 'passed', durationMs: 580 }),
    at(630, { type: 'run.end', status: 'passed', exitCode: 0, durationMs: 630 }),
  ];
}

/** Plays the scripted run in real time into `createReporter({ mode: 'auto' })` on stdout. */
async function main(): Promise<void> {
  const logDir = process.env.FAKE_RUN_LOG_DIR;
  const reporter = createReporter({
    mode: 'auto',
    logDir: logDir ? logDir : false,
    steps: { deps: ['fetch'], build: ['configure', 'compile'], test: ['unit'], deploy: ['push'] },
  });
  const emit = createEmitter((event) => reporter.onEvent(event));
  const started = Date.now();

  emit({
    type: 'run.start',
    runId: 'fake-run',
    project: 'demo',
    jobs: ['deps', 'build', 'test', 'deploy'],
  });

  const deps = async (): Promise<void> => {
    emit({ type: 'job.start', job: 'deps', image: 'kiln-fixture/busybox:latest' });
    await sleep(150);
    emit({ type: 'job.cache', job: 'deps', key: FETCH_KEY, result: 'hit', reasons: [], source: 'local' });
    emit({ type: 'job.end', job: 'deps', status: 'cached', durationMs: Date.now() - started });
  };

  const build = async (): Promise<void> => {
    emit({ type: 'job.start', job: 'build', image: 'kiln-fixture/busybox:latest' });
    emit({
      type: 'job.cache',
      job: 'build',
      key: 'sha256:' + 'cd'.repeat(32),
      result: 'miss',
      reasons: ['src/main.c changed'],
    });
    emit({
      type: 'mount.prepare',
      job: 'build',
      mount: 'cache',
      target: '/root/.cache',
      source: 'kiln-cache-demo',
    });
    await sleep(50);
    emit({ type: 'container.create', job: 'build', container: 'c0ffee01' });
    emit({ type: 'step.start', job: 'build', step: 'configure', index: 0, command: './configure' });
    emit({
      type: 'step.output',
      job: 'build',
      step: 'configure',
      stream: 'stdout',
      data: 'checking for cc... yes\n',
    });
    emit({
      type: 'step.end',
      job: 'build',
      step: 'configure',
      index: 0,
      exitCode: 0,
      status: 'passed',
      durationMs: 40,
    });
    emit({ type: 'step.start', job: 'build', step: 'compile', index: 1, command: 'make -j2' });
    for (let i = 1; i <= 22; i++) {
      await sleep(100);
      // Lines arrive split across chunks, as a pipe gives them.
      emit({
        type: 'step.output',
        job: 'build',
        step: 'compile',
        stream: 'stdout',
        data: `compiling module ${i}`,
      });
      emit({ type: 'step.output', job: 'build', step: 'compile', stream: 'stdout', data: ` of 22\n` });
    }
    emit({
      type: 'step.end',
      job: 'build',
      step: 'compile',
      index: 1,
      exitCode: 0,
      status: 'passed',
      durationMs: 2200,
    });
    emit({ type: 'release', job: 'build', resource: 'container', id: 'c0ffee01' });
    emit({ type: 'job.end', job: 'build', status: 'passed', durationMs: Date.now() - started });
  };

  const test = async (): Promise<void> => {
    emit({ type: 'job.start', job: 'test', image: 'kiln-fixture/busybox:latest' });
    emit({
      type: 'job.cache',
      job: 'test',
      key: 'sha256:' + 'ef'.repeat(32),
      result: 'miss',
      reasons: ['no earlier result'],
    });
    await sleep(80);
    emit({ type: 'container.create', job: 'test', container: 'c0ffee02' });
    emit({ type: 'step.start', job: 'test', step: 'unit', index: 0, command: 'make test' });
    for (let i = 1; i <= 14; i++) {
      await sleep(120);
      emit({ type: 'step.output', job: 'test', step: 'unit', stream: 'stdout', data: `test case ${i} ok\n` });
    }
    emit({
      type: 'step.output',
      job: 'test',
      step: 'unit',
      stream: 'stderr',
      data: 'assertion failed: expected 1, got 2\n',
    });
    emit({
      type: 'step.end',
      job: 'test',
      step: 'unit',
      index: 0,
      exitCode: 42,
      status: 'failed',
      durationMs: 1700,
    });
    emit({ type: 'release', job: 'test', resource: 'container', id: 'c0ffee02' });
    emit({ type: 'job.end', job: 'test', status: 'failed', durationMs: Date.now() - started });
  };

  await Promise.all([deps(), build(), test()]);
  emit({ type: 'job.end', job: 'deploy', status: 'skipped', reason: 'needs test, which failed' });
  emit({ type: 'run.end', status: 'failed', exitCode: 1, durationMs: Date.now() - started });
  await reporter.close();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
