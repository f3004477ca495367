import { Writable } from 'node:stream';
import test from 'ava';
import { OutputPressure } from '../../src/output-pressure.js';
import { StreamOutput } from '../../src/reporters/output.js';

/** A stream that takes writes only when `release()` lets it, as a pipe whose reader has stopped. */
function stalledStream() {
  const pending: Array<() => void> = [];
  let received = 0;
  const stream = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      pending.push(callback);
    },
  });
  return {
    stream,
    received: () => received,
    /** Lets every write waiting so far complete. */
    release() {
      for (const callback of pending.splice(0)) callback();
    },
  };
}

const MB = 1024 * 1024;
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('the pressure is clear until a reader holds it, and clear again once every holder lets go', async (t) => {
  const pressure = new OutputPressure();
  t.false(pressure.held);
  const a = {};
  const b = {};
  pressure.hold(a);
  pressure.hold(b);
  pressure.hold(a);
  let cleared = false;
  void pressure.whenClear().then(() => (cleared = true));
  pressure.release(a);
  await settle();
  t.true(pressure.held, 'b still holds it');
  t.false(cleared);
  pressure.release(b);
  await settle();
  t.false(pressure.held);
  t.true(cleared);
  await pressure.whenClear();
});

test('an output whose stream stops taking text holds the pressure past 1 MiB and lets go once it drained', async (t) => {
  const pressure = new OutputPressure();
  const sink = stalledStream();
  const out = new StreamOutput(sink.stream, pressure);
  const line = 'x'.repeat(1023) + '\n';
  for (let i = 0; i < 512; i++) out.write(line);
  t.false(pressure.held, 'half a MiB waiting is not yet pressure');
  for (let i = 0; i < 600; i++) out.write(line);
  t.true(pressure.held, 'over a MiB waiting holds it');

  for (let round = 0; round < 200 && pressure.held; round++) {
    sink.release();
    await settle();
  }
  t.false(pressure.held, 'let go once the stream took the text');
  while (sink.received() < 1112 * 1024) {
    sink.release();
    await settle();
  }
  sink.release();
  await out.flush();
  t.is(sink.received(), 1112 * 1024, 'nothing was lost');
});

test('an output whose stream fails lets the pressure go', async (t) => {
  const pressure = new OutputPressure();
  const sink = stalledStream();
  const out = new StreamOutput(sink.stream, pressure);
  out.write(Buffer.alloc(2 * MB));
  t.true(pressure.held);
  sink.stream.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  await settle();
  t.false(pressure.held);
  t.is(out.error?.message, 'write EPIPE');
});
