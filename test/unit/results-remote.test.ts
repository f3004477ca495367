/**
 * The shared cache's pure parts: entries and their signatures, the folder backend, and the HTTP backend's
 * answers to a server on a loopback port (404 is absent, 5xx is tried again, a token goes in the header and
 * never in a message, a server that does not answer is given up on in time).
 */
import test from 'ava';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeEntry,
  DirectoryRemoteCache,
  encodeEntry,
  HttpRemoteCache,
  KEY_FORMAT,
  REMOTE_FORMAT,
  RemoteCacheError,
  remoteSettings,
  type RemoteEntry,
} from '../../src/results/index.js';

const KEY = `sha256:${'ab'.repeat(32)}`;

const ENTRY: Omit<RemoteEntry, 'signature'> = {
  format: REMOTE_FORMAT,
  key: KEY,
  job: 'build',
  outputs: [{ path: '/out', digest: `sha256:${'cd'.repeat(32)}`, blob: 'ef'.repeat(32), size: 12 }],
  createdAt: '2026-11-29T00:00:00.000Z',
  inputs: {
    format: KEY_FORMAT,
    image: { ref: 'img', id: `sha256:${'01'.repeat(32)}` },
    env: {},
    workdir: '/',
    shell: ['/bin/sh', '-c'],
    steps: [],
    mounts: [],
    binds: [],
    consumed: [],
    outputs: ['/out'],
  },
};

test('an unsigned entry reads back as written; a signed one only with its key', (t) => {
  t.like(decodeEntry(encodeEntry(ENTRY), KEY), { job: 'build', key: KEY });
  const signed = encodeEntry(ENTRY, 'secret-one');
  t.like(decodeEntry(signed, KEY, 'secret-one'), { job: 'build' });
  t.is(decodeEntry(signed, KEY, 'secret-two'), 'its signature does not match KILN_CACHE_SIGNING_KEY');
  t.is(
    decodeEntry(encodeEntry(ENTRY), KEY, 'secret-one'),
    'its entry is not signed, and KILN_CACHE_SIGNING_KEY is set',
  );
  t.false(signed.toString().includes('secret-one'), 'the key itself is not in the entry');
});

test('a tampered, foreign or damaged entry is refused with the reason', (t) => {
  const signed = JSON.parse(encodeEntry(ENTRY, 'k').toString()) as RemoteEntry;
  const tampered = Buffer.from(JSON.stringify({ ...signed, job: 'other' }));
  t.is(decodeEntry(tampered, KEY, 'k'), 'its signature does not match KILN_CACHE_SIGNING_KEY');
  t.is(decodeEntry(encodeEntry(ENTRY), `sha256:${'00'.repeat(32)}`), 'its entry names another key');
  t.is(decodeEntry(Buffer.from('{not json'), KEY), 'its entry is not JSON');
  const badBlob = Buffer.from(JSON.stringify({ ...ENTRY, outputs: [{ ...ENTRY.outputs[0], blob: '../x' }] }));
  t.is(decodeEntry(badBlob, KEY), 'its outputs are damaged');
});

test('the folder backend stores entries and blobs under their names and leaves no temporary file', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kiln-remote-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const cache = new DirectoryRemoteCache(root);
  t.is(await cache.getEntry(KEY), undefined);
  await cache.putEntry(KEY, Buffer.from('entry'));
  t.is((await cache.getEntry(KEY))!.toString(), 'entry');
  const file = join(root, 'blob-source');
  await writeFile(file, 'blob bytes');
  t.false(await cache.hasBlob('ef'.repeat(32)));
  await cache.putBlob('ef'.repeat(32), file);
  t.true(await cache.hasBlob('ef'.repeat(32)));
  t.deepEqual(await readdir(join(root, 'cas')), ['ef'.repeat(32)]);
  t.deepEqual(await readdir(join(root, 'ac')), ['ab'.repeat(32)]);
});

test('KILN_CACHE_URL picks the backend: http(s) URLs, file URLs and paths; credentials in a URL are refused', (t) => {
  t.is(remoteSettings({ env: {} }), undefined);
  t.true(
    remoteSettings({ env: { KILN_CACHE_URL: 'http://127.0.0.1:1/c' } })!.cache instanceof HttpRemoteCache,
  );
  t.true(remoteSettings({ env: { KILN_CACHE_URL: 'file:///tmp/c' } })!.cache instanceof DirectoryRemoteCache);
  t.true(remoteSettings({ env: { KILN_CACHE_URL: './c' } })!.cache instanceof DirectoryRemoteCache);
  t.true(remoteSettings({ env: { KILN_CACHE_URL: '/c', KILN_CACHE_READONLY: '1' } })!.readonly);
  const error = t.throws(() => remoteSettings({ env: { KILN_CACHE_URL: 'http://user:pw@host/c' } }));
  t.false(error!.message.includes('pw'));
});

/** A server on a loopback port whose answers the test scripts. */
async function server(
  t: import('ava').ExecutionContext,
  handle: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void,
): Promise<string> {
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => http.close(() => resolve())));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/cache`;
}

test('HTTP: PUT then GET in the ac/ and cas/ layout, with the bearer token in the header', async (t) => {
  const stored = new Map<string, Buffer>();
  const seen: string[] = [];
  const url = await server(t, (req, res, body) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    if (req.method === 'PUT') {
      stored.set(req.url!, body);
      res.writeHead(201).end();
    } else if (stored.has(req.url!)) {
      res.writeHead(200).end(req.method === 'HEAD' ? undefined : stored.get(req.url!));
    } else res.writeHead(404).end();
  });
  const cache = new HttpRemoteCache(url, { token: 't0ken' });
  t.is(await cache.getEntry(KEY), undefined);
  await cache.putEntry(KEY, Buffer.from('entry'));
  t.is((await cache.getEntry(KEY))!.toString(), 'entry');
  t.true(seen.includes(`PUT /cache/ac/${'ab'.repeat(32)} Bearer t0ken`));
  t.false(await cache.hasBlob('ef'.repeat(32)));
});

test('HTTP: a 5xx is tried again, then a RemoteCacheError that names the answer and not the token', async (t) => {
  let calls = 0;
  const url = await server(t, (_req, res) => {
    calls += 1;
    res.writeHead(503, 'Busy').end();
  });
  const cache = new HttpRemoteCache(url, { token: 'hidden-token', attempts: 3 });
  const error = await t.throwsAsync(cache.getEntry(KEY), { instanceOf: RemoteCacheError });
  t.is(calls, 3);
  t.regex(error!.message, /answered 503/);
  t.false(error!.message.includes('hidden-token'));
});

test('HTTP: a 401 is not tried again', async (t) => {
  let calls = 0;
  const url = await server(t, (_req, res) => {
    calls += 1;
    res.writeHead(401).end();
  });
  await t.throwsAsync(new HttpRemoteCache(url).getEntry(KEY), { message: /answered 401/ });
  t.is(calls, 1);
});

test('HTTP: a server that does not answer is given up on after the time limit', async (t) => {
  const url = await server(t, () => {
    // never answers
  });
  const cache = new HttpRemoteCache(url, { timeoutMs: 200, attempts: 2 });
  const started = Date.now();
  await t.throwsAsync(cache.getEntry(KEY), { message: /no answer within 0.2 s/ });
  t.true(Date.now() - started < 5_000);
});
