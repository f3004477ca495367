/**
 * The cost of masking per byte does not grow with the number of patterns: a key file of 3000 lines is
 * 3001 patterns, and is masked about as fast as one short secret. Measured as a ratio in one process,
 * never against a wall clock.
 */
import test from 'ava';
import { performance } from 'node:perf_hooks';
import { compileMask, type CompiledMask } from '../../src/mounts/secret-masker.js';
import { prng } from '../helpers/random.js';

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function base64Line(random: () => number, length = 64): string {
  let line = '';
  for (let i = 0; i < length; i++) line += BASE64.charAt(Math.floor(random() * 64));
  return line;
}

/** A PEM-like key of `lines` lines of 64 characters. */
function pemKey(random: () => number, lines: number): string {
  const body = Array.from({ length: lines }, () => base64Line(random)).join('\n');
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

/** Masks `output` in 64 KiB chunks; returns the time it took, in ms, and the masked output. */
function timeMasking(mask: CompiledMask, output: Buffer): { ms: number; masked: Buffer } {
  const started = performance.now();
  const masker = mask.createMasker();
  const parts: Buffer[] = [];
  for (let at = 0; at < output.length; at += 65536) parts.push(masker.push(output.subarray(at, at + 65536)));
  parts.push(masker.flush());
  const ms = performance.now() - started;
  return { ms, masked: Buffer.concat(parts) };
}

/** How many times `text` occurs in `buffer`. */
function count(buffer: Buffer, text: string): number {
  let n = 0;
  for (let at = buffer.indexOf(text); at !== -1; at = buffer.indexOf(text, at + 1)) n++;
  return n;
}

test('masking a 3000-line secret costs about as much per byte as masking one line', (t) => {
  const random = prng(7);
  const key = pemKey(random, 3000);
  const keyLines = key.split('\n');
  // Log-like output in the secret's own alphabet (the hardest case: many partial matches), with a few
  // lines of the key printed among it.
  const lines: string[] = [];
  for (let i = 0; i < 64_000; i++) {
    lines.push(i % 16_000 === 17 ? `leaked: ${keyLines[1 + (i % 3000)]!}` : base64Line(random, 60));
  }
  const output = Buffer.from(lines.join('\n'));

  // Compiled once per run, then used for every step: the compiling is not part of the cost per byte.
  const oneMask = compileMask([Buffer.from(keyLines[1 + 17]!)]);
  const manyMask = compileMask([Buffer.from(key)]);
  // The best of a few runs each, taken in turns, so that a busy machine weighs on both alike.
  let one: { ms: number; masked: Buffer } = { ms: Infinity, masked: Buffer.alloc(0) };
  let many: { ms: number; masked: Buffer } = { ms: Infinity, masked: Buffer.alloc(0) };
  for (let round = 0; round < 7; round++) {
    const a = timeMasking(oneMask, output);
    if (a.ms < one.ms) one = a;
    const b = timeMasking(manyMask, output);
    if (b.ms < many.ms) many = b;
  }
  // Both found what they should.
  t.is(count(one.masked, 'leaked: ***'), 2);
  t.is(count(many.masked, 'leaked: ***'), 4);
  const ratio = many.ms / one.ms;
  t.log(
    `1 pattern: ${one.ms.toFixed(1)} ms, 3001 patterns: ${many.ms.toFixed(1)} ms, ratio ${ratio.toFixed(2)}`,
  );
  t.true(ratio < 5, `3001 patterns took ${ratio.toFixed(1)}x the time of one`);
});
