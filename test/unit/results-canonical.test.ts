import test from 'ava';
import { createHash } from 'node:crypto';
import {
  canonicalEncode,
  canonicalJson,
  digestHex,
  digestOf,
  isDigest,
  shortDigest,
} from '../../src/results/canonical.js';

test('object keys are sorted, so the order a value was built in does not change its digest', (t) => {
  const a = { b: 1, a: { y: [1, 2], x: 'z' } };
  const b = { a: { x: 'z', y: [1, 2] }, b: 1 };
  t.is(canonicalJson(a), '{"a":{"x":"z","y":[1,2]},"b":1}');
  t.is(digestOf(a), digestOf(b));
  t.not(JSON.stringify(a), JSON.stringify(b));
});

test('keys sort by UTF-16 code units, not by locale', (t) => {
  t.is(canonicalJson({ b: 1, B: 2, ä: 3, a: 4 }), '{"B":2,"a":4,"b":1,"ä":3}');
});

test('properties that are undefined are left out; an undefined array item is refused', (t) => {
  t.is(canonicalJson({ a: 1, b: undefined }), '{"a":1}');
  t.is(digestOf({ a: 1, b: undefined }), digestOf({ a: 1 }));
  t.throws(() => canonicalJson([1, undefined]), { instanceOf: TypeError, message: /\[1\] is undefined/ });
});

test('numbers are written as JSON writes them, with -0 as 0; non-finite numbers are refused', (t) => {
  t.is(canonicalJson([1, 1.5, -0, 1e21, 0.1]), '[1,1.5,0,1e+21,0.1]');
  t.throws(() => canonicalJson({ n: Number.NaN }), { message: /n is NaN/ });
  t.throws(() => canonicalJson(Infinity), { instanceOf: TypeError });
});

test('values with no canonical form are refused rather than converted', (t) => {
  t.throws(() => canonicalJson({ when: new Date(0) }), { message: /when is a Date, not a plain object/ });
  t.throws(() => canonicalJson(new Map()), { message: /Map/ });
  t.throws(() => canonicalJson(1n), { message: /bigint/ });
  t.throws(() => canonicalJson({ f: () => 1 }), { message: /function/ });
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  t.throws(() => canonicalJson(cycle), { message: /refers back to itself/ });
});

test('the same object twice (not a cycle) is accepted', (t) => {
  const shared = { x: 1 };
  t.is(canonicalJson({ a: shared, b: shared }), '{"a":{"x":1},"b":{"x":1}}');
});

test('the encoding is UTF-8 after a format line, and the digest is its sha256', (t) => {
  const bytes = canonicalEncode({ name: 'größe' });
  t.is(bytes.toString('utf8'), 'kiln-canonical-v1\n{"name":"größe"}');
  const expected = createHash('sha256').update(bytes).digest('hex');
  t.is(digestOf({ name: 'größe' }), `sha256:${expected}`);
});

test('a known value has a known digest (the encoding must never drift)', (t) => {
  t.is(
    digestOf({ steps: [{ argv: ['sh', '-c', 'make'], env: { CC: 'gcc' } }], image: 'sha256:00' }),
    'sha256:' +
      createHash('sha256')
        .update(
          'kiln-canonical-v1\n{"image":"sha256:00","steps":[{"argv":["sh","-c","make"],"env":{"CC":"gcc"}}]}',
        )
        .digest('hex'),
  );
});

test('digest helpers check and shorten sha256 digests', (t) => {
  const d = digestOf(null);
  t.true(isDigest(d));
  t.false(isDigest('sha256:abc'));
  t.is(digestHex(d).length, 64);
  t.throws(() => digestHex('md5:00'));
  t.is(shortDigest('sha256:ab12cd34ef56ab12cd34'), 'sha256:ab12cd34ef56…');
});
