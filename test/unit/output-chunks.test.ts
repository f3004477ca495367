import test from 'ava';
import { stepOutputBytes, type StepOutputEvent } from '../../src/events.js';
import { OutputEncoder } from '../../src/executor/output-chunks.js';

function roundTrip(chunks: Buffer[]): { bytes: Buffer; encodings: Array<string | undefined> } {
  const encoder = new OutputEncoder();
  const out = [...chunks.map((c) => encoder.push(c)), encoder.end()].filter((c) => c !== undefined);
  const events = out.map((c) => ({ type: 'step.output', ...c }) as unknown as StepOutputEvent);
  return { bytes: Buffer.concat(events.map(stepOutputBytes)), encodings: out.map((c) => c.encoding) };
}

test('text stays text, also when a character is split across chunks', (t) => {
  const text = Buffer.from('héllo wörld ✓ 🚀 end');
  const chunks = [text.subarray(0, 2), text.subarray(2, 16), text.subarray(16, 21), text.subarray(21)];
  const { bytes, encodings } = roundTrip(chunks);
  t.deepEqual(bytes, text);
  t.true(encodings.every((e) => e === undefined));
});

test('binary output passes byte for byte, as base64', (t) => {
  const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
  const chunks = [binary.subarray(0, 1000), binary.subarray(1000, 1001), binary.subarray(1001)];
  const { bytes, encodings } = roundTrip(chunks);
  t.deepEqual(bytes, binary);
  t.true(encodings.includes('base64'));
});

test('a stream that ends inside a character keeps its last bytes', (t) => {
  const cut = Buffer.from('ok ✓').subarray(0, 4);
  t.deepEqual(roundTrip([cut]).bytes, cut);
});

test('on random chunkings of mixed text and bytes the output is the input', (t) => {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let round = 0; round < 200; round++) {
    const parts: Buffer[] = [];
    for (let i = 0; i < 8; i++) {
      parts.push(next() < 0.7 ? Buffer.from('line é ✓ 🚀\n') : Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x80]));
    }
    const input = Buffer.concat(parts);
    const chunks: Buffer[] = [];
    for (let at = 0; at < input.length;) {
      const size = 1 + Math.floor(next() * 17);
      chunks.push(input.subarray(at, at + size));
      at += size;
    }
    t.deepEqual(roundTrip(chunks).bytes, input);
  }
});
