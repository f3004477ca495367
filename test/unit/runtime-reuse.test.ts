import test from 'ava';
import { containerLockPath } from '../../src/executor/reuse-lock.js';
import { MAX_NAME_LENGTH } from '../../src/names.js';
import { reuseName } from '../../src/runtime/reuse.js';

test('a derived reuse name that fits is kiln-<project>-<job>-w<slot>, unchanged', (t) => {
  t.is(reuseName('app-1a2b3c4d', 'build', '0'), 'kiln-app-1a2b3c4d-build-w0');
});

test('two long job names that share their first 200 characters get two containers', (t) => {
  const stem = 'j'.repeat(240);
  const a = reuseName('app-1a2b3c4d', `${stem}-one`, '0');
  const b = reuseName('app-1a2b3c4d', `${stem}-two`, '0');
  t.not(a, b);
  t.true(a.length <= MAX_NAME_LENGTH && b.length <= MAX_NAME_LENGTH);
  t.regex(a, /^[a-zA-Z0-9][a-zA-Z0-9_.-]*-[0-9a-f]{8}$/);
});

test("a reused container's lock file is under the state folder's locks/containers", (t) => {
  t.is(containerLockPath('/state', 'my-builder'), '/state/locks/containers/my-builder.lock');
  t.true(containerLockPath('/state', 'x'.repeat(400)).length < 260);
});
