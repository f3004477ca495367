/**
 * Blobs for the shared cache are gzip: compressed when their start compresses, stored blocks when it does
 * not (which is several times faster on media, archives and random bytes). Either way they read back.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import { adaptiveGzip } from '../../src/executor/remote-results.js';

async function gzipOf(data: Buffer, chunk = 64 * 1024): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk));
  return buffer(Readable.from(parts).pipe(adaptiveGzip()));
}

test('text that compresses is compressed, and reads back', async (t) => {
  const text = Buffer.from('int main(void) { return 0; }\n'.repeat(40_000));
  const gz = await gzipOf(text);
  t.true(gz.length < text.length / 10, `${gz.length} of ${text.length}`);
  t.deepEqual(gunzipSync(gz), text);
});

test('random bytes are stored, not compressed, and read back', async (t) => {
  const data = randomBytes(2 * 1024 * 1024);
  const gz = await gzipOf(data);
  t.true(gz.length >= data.length, 'stored blocks are a little larger than their content');
  t.true(gz.length < data.length * 1.01);
  t.deepEqual(gunzipSync(gz), data);
});

test('input shorter than the sample, and empty input, are valid gzip', async (t) => {
  t.deepEqual(gunzipSync(await gzipOf(Buffer.from('short'))), Buffer.from('short'));
  t.deepEqual(gunzipSync(await gzipOf(Buffer.alloc(0))), Buffer.alloc(0));
});
