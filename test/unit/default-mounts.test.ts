import test from 'ava';
import { parseDefaultMounts } from '../../src/definition/default-mounts.js';
import type { MountSpec } from '../../src/definition/types.js';
import { DefinitionError } from '../../src/errors.js';

const env = { projectDir: '/home/me/app', homeDir: '/home/me' };

const parses = test.macro({
  exec(t, text: string, expected: MountSpec[]) {
    t.deepEqual(parseDefaultMounts(text, env), expected);
  },
  title: (title, text) => title ?? `KILN_DEFAULT_MOUNTS=${JSON.stringify(text)} is read`,
});

test(
  'the short form is a read-write bind with its source resolved against the project folder',
  parses,
  'data:/data',
  [{ type: 'bind', source: '/home/me/app/data', target: '/data', readonly: false }],
);
test(
  'the short form takes :ro and :rw, and ~ is the home folder',
  parses,
  '~/.m2:/root/.m2:ro;/etc/hosts:/h:rw',
  [
    { type: 'bind', source: '/home/me/.m2', target: '/root/.m2', readonly: true },
    { type: 'bind', source: '/etc/hosts', target: '/h', readonly: false },
  ],
);
test('a cache entry keeps its id and sharing', parses, 'type=cache,id=npm,target=/root/.npm,sharing=locked', [
  { type: 'cache', id: 'npm', target: '/root/.npm', sharing: 'locked', readonly: false },
]);
test(
  'a cache entry without an id is named after its target, as in BuildKit',
  parses,
  'type=cache,target=/cache',
  [{ type: 'cache', id: '/cache', target: '/cache', sharing: 'shared', readonly: false }],
);
test('a tmpfs entry has its size and mode parsed', parses, 'type=tmpfs,target=/scratch,size=64m,mode=1770', [
  { type: 'tmpfs', target: '/scratch', size: 64 * 1024 ** 2, mode: 0o1770 },
]);
test('a bind entry takes src/dst aliases and a bare ro flag', parses, 'type=bind,src=.,dst=/src,ro', [
  { type: 'bind', source: '/home/me/app', target: '/src', readonly: true },
]);
test(
  'a bind entry takes readonly=true and the opt-ins',
  parses,
  'type=bind,source=/x,target=/x,readonly=true,allow-outside-project=true',
  [{ type: 'bind', source: '/x', target: '/x', readonly: true, allowOutsideProject: true }],
);
test('empty entries and spaces around entries are ignored', parses, ' a:/a ; ;type=tmpfs,target=/t;', [
  { type: 'bind', source: '/home/me/app/a', target: '/a', readonly: false },
  { type: 'tmpfs', target: '/t' },
]);
test('an empty value gives no mounts', parses, '', []);

const refuses = test.macro({
  exec(t, text: string, expected: string[]) {
    const error = t.throws(() => parseDefaultMounts(text, env), { instanceOf: DefinitionError });
    t.deepEqual(
      error.diagnostics.map((d) => d.message),
      expected,
    );
  },
  title: (title, text) => title ?? `KILN_DEFAULT_MOUNTS=${JSON.stringify(text)} is refused`,
});

test('an unknown type is named with its entry and position', refuses, '.:/src;type=volum,target=/v', [
  "KILN_DEFAULT_MOUNTS entry 2 'type=volum,target=/v': unknown mount type 'volum' (allowed: bind, cache, tmpfs)",
]);
test('secret and ssh mounts cannot be defaults', refuses, 'type=secret,id=t,target=/t;type=ssh,target=/s', [
  "KILN_DEFAULT_MOUNTS entry 1 'type=secret,id=t,target=/t': a secret mount cannot be a default mount (allowed: bind, cache, tmpfs); declare it on the step that needs it",
  "KILN_DEFAULT_MOUNTS entry 2 'type=ssh,target=/s': an ssh mount cannot be a default mount (allowed: bind, cache, tmpfs); declare it on the step that needs it",
]);
test(
  'every faulty entry is reported, counting empty ones in positions',
  refuses,
  'a;;type=cache,id=x;type=tmpfs,target=/t,size=huge;type=cache,target=/c,sharing=all',
  [
    "KILN_DEFAULT_MOUNTS entry 1 'a': expected source:target[:ro|:rw] or type=bind|cache|tmpfs,target=...,key=value",
    "KILN_DEFAULT_MOUNTS entry 3 'type=cache,id=x': missing target=",
    `KILN_DEFAULT_MOUNTS entry 4 'type=tmpfs,target=/t,size=huge': invalid size "huge": write a number of bytes or a number with a unit k, m, g, t (e.g. 512k, 256m, 1g, 64mb, 1GiB)`,
    "KILN_DEFAULT_MOUNTS entry 5 'type=cache,target=/c,sharing=all': unknown sharing 'all' (allowed: shared, private, locked)",
  ],
);
test(
  'unknown keys, missing type, bad booleans and short-form options are named',
  refuses,
  'type=tmpfs,target=/t,id=x;target=/x;type=bind,source=.,target=/s,readonly=yes;a:/b:z',
  [
    "KILN_DEFAULT_MOUNTS entry 1 'type=tmpfs,target=/t,id=x': unknown key 'id' for a tmpfs mount (allowed: target, size, mode)",
    "KILN_DEFAULT_MOUNTS entry 2 'target=/x': missing type= (allowed: bind, cache, tmpfs)",
    "KILN_DEFAULT_MOUNTS entry 3 'type=bind,source=.,target=/s,readonly=yes': readonly=yes is not a boolean (write true or false)",
    "KILN_DEFAULT_MOUNTS entry 4 'a:/b:z': unknown option 'z' (allowed: ro, rw)",
  ],
);
