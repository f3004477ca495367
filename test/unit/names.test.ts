import test from 'ava';
import { isSafeName, MAX_NAME_LENGTH, safeName } from '../../src/names.js';

test('a name in Docker’s alphabet is kept as it is', (t) => {
  t.is(safeName('kiln-app-1a2b3c4d-build-w0'), 'kiln-app-1a2b3c4d-build-w0');
  t.is(safeName('go_mod.v2-x'), 'go_mod.v2-x');
});

test('names that differ only in characters Docker refuses stay apart', (t) => {
  t.not(safeName('kiln-p-j-wa/b'), safeName('kiln-p-j-wa:b'));
  t.not(safeName('a/b'), safeName('a-b'));
  t.regex(safeName('kiln-p-j-wa/b'), /^kiln-p-j-wa-b-[0-9a-f]{8}$/);
  t.regex(safeName('caché'), /^cach--[0-9a-f]{8}$/);
});

test('a name with nothing Docker takes, or nothing at all, becomes its hash', (t) => {
  t.regex(safeName('///'), /^[0-9a-f]{8}$/);
  t.regex(safeName(''), /^[0-9a-f]{8}$/);
  t.not(safeName('///'), safeName(''));
});

test('a name too long is cut and hashed, and stays valid', (t) => {
  const long = safeName('x'.repeat(400));
  t.is(long.length, MAX_NAME_LENGTH);
  t.true(isSafeName(long));
  t.is(safeName('y'.repeat(300), 20).length, 20);
});

test('what leads up to the first letter or digit is dropped: Docker refuses it', (t) => {
  t.false(isSafeName('-x'));
  t.false(isSafeName('a/b'));
  t.true(isSafeName('a.b-c_d'));
  t.true(isSafeName(safeName('-x')));
  t.regex(safeName('.hidden'), /^hidden-[0-9a-f]{8}$/);
});
