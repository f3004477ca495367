import test from 'ava';
import type { KilnEvent } from '../../src/events.js';
import { JsonReporter } from '../../src/reporters/json-reporter.js';
import { at, cachedRun, memoryStream, sampleRun } from '../helpers/fake-run.js';

test('every event becomes one JSON line that parses back to the same event', async (t) => {
  const stream = memoryStream();
  const reporter = new JsonReporter(stream);
  const events = sampleRun();
  events.forEach((event) => reporter.onEvent(event));
  await reporter.close();
  const lines = stream.text().split('\n');
  t.is(lines.pop(), '', 'the output ends with a newline');
  t.is(lines.length, events.length);
  t.deepEqual(
    lines.map((line) => JSON.parse(line)),
    events,
  );
});

test('job.cache events go out as they came, hits, misses and disabled jobs alike', async (t) => {
  const stream = memoryStream();
  const reporter = new JsonReporter(stream);
  const events = cachedRun();
  events.forEach((event) => reporter.onEvent(event));
  await reporter.close();
  const sent = stream
    .text()
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as KilnEvent)
    .filter((event) => event.type === 'job.cache');
  t.deepEqual(
    sent,
    events.filter((event) => event.type === 'job.cache'),
  );
  t.deepEqual(
    sent.map((event) => event.type === 'job.cache' && [event.job, event.result]),
    [
      ['lint', 'disabled'],
      ['fetch', 'hit'],
      ['build', 'miss'],
    ],
  );
});

test('output with newlines and escapes stays on its one line', async (t) => {
  const stream = memoryStream();
  const reporter = new JsonReporter(stream);
  const event = at(0, {
    type: 'step.output',
    job: 'a',
    step: 's',
    stream: 'stdout',
    data: 'one\ntwo\r\n\x1b[31mred\n',
  });
  reporter.onEvent(event);
  await reporter.close();
  t.is(stream.text().split('\n').length, 2);
  t.deepEqual(JSON.parse(stream.text()), event);
});

test('a slow stream gets every line, in order, by the time close resolves', async (t) => {
  const stream = memoryStream({ highWaterMark: 256, delayMs: 1 });
  const reporter = new JsonReporter(stream);
  const count = 300;
  for (let i = 0; i < count; i++) {
    reporter.onEvent(
      at(i, { type: 'step.output', job: 'a', step: 's', stream: 'stdout', data: `line ${i}\n` }),
    );
  }
  t.true(stream.chunks.length < count, 'writes wait for the stream to drain');
  await reporter.close();
  const data = stream
    .text()
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line).data);
  t.deepEqual(
    data,
    Array.from({ length: count }, (_, i) => `line ${i}\n`),
  );
});

test('a stream that fails does not throw into the run', async (t) => {
  const stream = memoryStream();
  const reporter = new JsonReporter(stream);
  stream.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  await new Promise((resolve) => setImmediate(resolve));
  t.notThrows(() => reporter.onEvent(sampleRun()[0]!));
  await t.notThrowsAsync(reporter.close());
});
