import test from 'ava';
import { cacheVolumeName } from '../../src/mounts/cache-volume-name.js';
import { isSafeName } from '../../src/names.js';
import { cacheVolumeLabels } from '../../src/mounts/cache-volumes.js';
import { tmpfsOptions } from '../../src/mounts/tmpfs-mounts.js';

const named = test.macro({
  exec(t, project: string, id: string, slot: number, expected: string | RegExp) {
    const name = cacheVolumeName(project, id, slot);
    if (typeof expected === 'string') t.is(name, expected);
    else t.regex(name, expected);
    t.true(isSafeName(name), name);
  },
  title: (provided = '', project, id, slot) =>
    `${provided}: project ${project}, cache ${id}, slot ${slot}`.trim(),
});

test(
  'names a cache volume after its project and id',
  named,
  'app-1a2b3c4d',
  'ccache',
  0,
  'kiln-cache-app-1a2b3c4d-ccache',
);
test(
  'names the extra slots of a private cache',
  named,
  'app-1a2b3c4d',
  'npm',
  2,
  'kiln-cache-app-1a2b3c4d-npm-private-2',
);
test('keeps dots, dashes and underscores', named, 'p', 'go_mod.v2-x', 0, 'kiln-cache-p-go_mod.v2-x');
test(
  'turns refused characters into dashes and adds a hash',
  named,
  'p',
  'a/b c',
  0,
  /^kiln-cache-p-a-b-c-[0-9a-f]{8}$/,
);
test('makes a valid name of a non-ASCII id', named, 'p', 'caché', 0, /^kiln-cache-p-cach--[0-9a-f]{8}$/);

test('ids that differ only in refused characters get different volumes', (t) => {
  t.not(cacheVolumeName('p', 'a/b'), cacheVolumeName('p', 'a:b'));
  t.not(cacheVolumeName('p', 'a/b'), cacheVolumeName('p', 'a-b'));
});

test('cache volumes are labelled as kept caches, with no run or pid', (t) => {
  t.deepEqual(cacheVolumeLabels('app-1', 'ccache'), {
    'dev.kiln.managed': 'true',
    'dev.kiln.scope': 'cache',
    'dev.kiln.cache': 'ccache',
    'dev.kiln.project': 'app-1',
  });
});

test('a tmpfs is executable, with its size and octal mode', (t) => {
  t.is(tmpfsOptions({ sizeBytes: 268435456, mode: 0o1777 }), 'exec,size=268435456,mode=1777');
  t.is(tmpfsOptions({ mode: 0o755 }), 'exec,mode=755');
});
