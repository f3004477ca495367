import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseDuration } from '../../src/definition/durations.js';
import { FIELD_TABLES } from '../../src/definition/fields.js';
import { packageRoot, resolveRef, stepFileSchema, type SchemaNode } from '../../src/definition/schema.js';
import { validateDocument } from '../../src/definition/validate.js';

const root = packageRoot();
const fixture = (name: string): unknown => parse(readFileSync(join(root, 'fixtures', name), 'utf8'));
const messages = (document: unknown): string[] => validateDocument(document).map((p) => p.message);

test('the schema accepts the full example step file (fixtures/design-example.yaml)', (t) => {
  t.deepEqual(messages(fixture('design-example.yaml')), []);
});

const rejects = test.macro({
  exec(t, file: string, expected: string) {
    const found = messages(fixture(`invalid/${file}`));
    t.true(
      found.some((m) => m.includes(expected)),
      `expected a problem containing "${expected}", got:\n${found.join('\n')}`,
    );
  },
  title: (_, file, expected) => `the schema rejects invalid/${file}: ${expected}`,
});

test(rejects, 'unknown-key.yaml', "unknown key 'imgae' in job 'build', did you mean 'image'?");
test(
  rejects,
  'camel-case-key.yaml',
  "unknown key 'allowFailure' in step 1 of job 'build', did you mean 'allow-failure'?",
);
test(rejects, 'needs-not-a-list.yaml', "'needs' of job 'test' must be a list of job names, not 'build'");
test(
  rejects,
  'unknown-mount-type.yaml',
  "unknown mount type 'volume' (allowed: bind, cache, tmpfs, secret, ssh)",
);
test(rejects, 'bad-version.yaml', 'version must be 1, not 2');
test(rejects, 'missing-jobs.yaml', "missing required key 'jobs' at the top level");
test(rejects, 'no-steps.yaml', "'steps' of job 'build' must be a non-empty list of steps, not an empty list");
test(rejects, 'env-number.yaml', `'CI' of 'env' of job 'build' must be a string (quote it: "1"), not 1`);
test(rejects, 'bad-job-name.yaml', "'build all' is not a valid job name in 'jobs'");
test(
  rejects,
  'bad-timeout.yaml',
  "'timeout' of job 'build' must be a duration (e.g. 90s, 10m, 1h30m, 500ms, 600)",
);
test(rejects, 'bad-sharing.yaml', "must be one of shared, private, locked, not 'exclusive'");
test(rejects, 'secret-two-sources.yaml', "secret 'token' must be a secret source");
test(
  rejects,
  'empty-run.yaml',
  "'run' of step 1 of job 'build' must be a non-empty string or non-empty list of strings",
);
test(rejects, 'mount-missing-target.yaml', "missing required key 'target' in mount 1 of job 'build'");

const job = (fields: Record<string, unknown>): unknown => ({
  version: 1,
  jobs: { a: { steps: [{ run: 'true' }], ...fields } },
});

const accepts = test.macro({
  exec(t, fields: Record<string, unknown>) {
    t.deepEqual(messages(job(fields)), []);
  },
  title: (_, fields) => `the schema accepts a job with ${JSON.stringify(fields)}`,
});

test(accepts, { timeout: '90s' });
test(accepts, { timeout: '1h30m' });
test(accepts, { timeout: '2.5s' });
test(accepts, { timeout: 600 });
test(accepts, { shell: '/bin/bash -c' });
test(accepts, { shell: ['/bin/sh', '-ec'] });
test(accepts, { reuse: true });
test(accepts, { reuse: { name: 'kiln-dev' } });
test(accepts, { steps: [{ run: ['ls', '-l'], 'allow-failure': true }] });
test(accepts, { mounts: [{ type: 'tmpfs', target: '/t', size: '256m', mode: '1777' }] });
test(accepts, { mounts: [{ type: 'tmpfs', target: '/t', size: 1048576, mode: 0o1777 }] });
test(accepts, { mounts: [{ type: 'secret', id: 'tok', env: 'TOKEN', mode: '0400', uid: 1000, gid: 1000 }] });
test(accepts, { mounts: [{ type: 'ssh' }, { type: 'ssh', id: 'deploy', required: false }] });
test(accepts, {
  mounts: [{ type: 'bind', source: '/var/run/docker.sock', target: '/s', 'allow-docker-socket': true }],
});
test(accepts, {
  outputs: [
    '/out',
    'dist',
    { path: 'site' },
    { path: '/pkg', export: '../pkg', 'allow-outside-project': true },
  ],
});
test(accepts, { outputs: [], cache: false });
test(accepts, { cache: true });
test(accepts, { mounts: [{ type: 'bind', from: 'build', source: '/out', target: '/in', readonly: true }] });
test(accepts, {
  mounts: [{ type: 'bind', source: '.', target: '/src', exclude: ['.git/', '*.log', '!keep.log'] }],
});
test(accepts, {
  steps: [{ run: 'x', mounts: [{ type: 'bind', from: 'build', source: 'dist', target: '/d' }] }],
});

const rejectsField = test.macro({
  exec(t, fields: Record<string, unknown>, expected: string) {
    const found = messages(job(fields));
    t.true(
      found.some((m) => m.includes(expected)),
      found.join('\n'),
    );
  },
  title: (_, fields, expected) => `the schema rejects a job with ${JSON.stringify(fields)}: ${expected}`,
});

test(rejectsField, { timeout: '10 min' }, "'timeout' of job 'a' must be a duration");
test(rejectsField, { timeout: 0 }, "'timeout' of job 'a' must be a duration");
test(rejectsField, { reuse: 'yes' }, "'reuse' of job 'a' must be a boolean or reuse options");
test(rejectsField, { reuse: { nam: 'x' } }, "unknown key 'nam' in 'reuse' of job 'a', did you mean 'name'?");
test(rejectsField, { shell: [] }, "'shell' of job 'a' must be a string or list of strings");
test(rejectsField, { needs: ['x y'] }, "item 1 of 'needs' of job 'a' must be a job name");
test(
  rejectsField,
  { mounts: [{ target: '/x' }] },
  "missing required key 'type' in mount 1 of job 'a' (one of bind",
);
test(
  rejectsField,
  { mounts: [{ type: 'tmpfs', target: '/t', size: '1 GB' }] },
  "'size' of mount 1 of job 'a' must be a size",
);
test(rejectsField, { mounts: [{ type: 'tmpfs', target: '/t', mode: '999' }] }, 'must be a file mode');
test(
  rejectsField,
  { mounts: [{ type: 'cache', id: 'c', target: '/c', source: '.' }] },
  "unknown key 'source' in mount 1",
);
test(rejectsField, { 'default-mounts': 'no' }, "'default-mounts' of job 'a' must be a boolean, not 'no'");
test(
  rejectsField,
  { outputs: '/out' },
  "'outputs' of job 'a' must be a list of non-empty strings or outputs",
);
test(rejectsField, { outputs: [''] }, "item 1 of 'outputs' of job 'a' must be a non-empty string or output");
test(rejectsField, { outputs: [{ export: './d' }] }, "missing required key 'path' in item 1 of 'outputs'");
test(
  rejectsField,
  { outputs: [{ path: '/o', exprt: './d' }] },
  "unknown key 'exprt' in item 1 of 'outputs' of job 'a', did you mean 'export'?",
);
test(
  rejectsField,
  { outputs: [{ path: '/o', export: '' }] },
  "'export' of item 1 of 'outputs' of job 'a' must be",
);
test(rejectsField, { cache: 'yes' }, "'cache' of job 'a' must be a boolean, not 'yes'");
test(
  rejectsField,
  { mounts: [{ type: 'bind', from: 'x y', source: '/o', target: '/t' }] },
  "'from' of mount 1 of job 'a' must be a job name",
);
test(
  rejectsField,
  { mounts: [{ type: 'bind', from: 'b', target: '/t' }] },
  "missing required key 'source' in mount 1 of job 'a'",
);
test(
  rejectsField,
  { mounts: [{ type: 'cache', id: 'c', target: '/t', from: 'b' }] },
  "unknown key 'from' in mount 1 of job 'a'",
);
test(
  rejectsField,
  { mounts: [{ type: 'bind', source: '.', target: '/t', exclude: 'build' }] },
  "'exclude' of mount 1 of job 'a' must be a list of non-empty strings",
);
test(
  rejectsField,
  { mounts: [{ type: 'bind', source: '.', target: '/t', exclude: [''] }] },
  "item 1 of 'exclude' of mount 1 of job 'a' must be a non-empty string",
);

test('the schema accepts x- extension keys at the top level only', (t) => {
  t.deepEqual(messages({ ...(job({}) as object), 'x-base': { image: 'i' } }), []);
  t.true(messages(job({ 'x-note': 1 })).some((m) => m.startsWith("unknown key 'x-note' in job 'a'")));
});

test('a typo far from every allowed key gets no suggestion', (t) => {
  const [message] = messages(job({ colour: 'red' }));
  t.is(
    message,
    `unknown key 'colour' in job 'a' (allowed: ${Object.keys(FIELD_TABLES['job'] ?? {}).join(', ')})`,
  );
});

function* walk(node: SchemaNode, path: string): Generator<[string, SchemaNode]> {
  for (const [key, property] of Object.entries(node.properties ?? {})) {
    yield [`${path}/${key}`, property];
    yield* walk(property, `${path}/${key}`);
  }
  for (const [key, property] of Object.entries(node.patternProperties ?? {}))
    yield [`${path}/${key}`, property];
}

test('every property of the schema has a description', (t) => {
  const schema = stepFileSchema();
  const objects: [string, SchemaNode][] = [['', schema], ...Object.entries(schema.definitions)];
  const missing = objects.flatMap(([name, node]) =>
    [...walk(node, name)].filter(([, p]) => (p.description ?? resolveRef(p).description) === undefined),
  );
  t.deepEqual(
    missing.map(([path]) => path),
    [],
  );
});

const tableMatches = test.macro({
  exec(t, object: string) {
    const schema = stepFileSchema();
    const node = object === '' ? schema : schema.definitions[object];
    t.deepEqual(Object.keys(FIELD_TABLES[object] ?? {}).sort(), Object.keys(node?.properties ?? {}).sort());
  },
  title: (_, object) =>
    `the loader's field table of '${object || 'top level'}' lists exactly the schema's keys`,
});

for (const object of Object.keys(FIELD_TABLES)) test(tableMatches, object);

test('every object of the schema with properties has a field table', (t) => {
  const schema = stepFileSchema();
  const objects = Object.entries(schema.definitions)
    .filter(([, node]) => node.properties !== undefined && node.allOf === undefined)
    .map(([name]) => name);
  t.deepEqual(Object.keys(FIELD_TABLES).sort(), ['', ...objects].sort());
});

/** Each place a duration is written, as a job that holds `value` there. */
const DURATION_FIELDS: Readonly<Record<string, (value: unknown) => Record<string, unknown>>> = {
  'job timeout': (value) => ({ timeout: value }),
  'step timeout': (value) => ({ steps: [{ run: 'true', timeout: value }] }),
  'retry delay': (value) => ({ steps: [{ run: 'true', retry: { attempts: 2, delay: value } }] }),
  ...Object.fromEntries(
    ['interval', 'timeout', 'start-period'].map((key) => [
      `service health ${key}`,
      (value: unknown) => ({ services: { db: { image: 'redis', health: { run: 'true', [key]: value } } } }),
    ]),
  ),
};

const DURATION_TEXTS = [
  ...['500ms', '90s', '10m', '1h30m', '2d', '1m30.5s', '1.5h', '30m1h', '1s500ms', ' 45S ', '20', '0.5'],
  ...['soon', '', '10 minutes', '1m30', '5x', '-1s', '1.s', 's', '1h 30m', '5 ms', '1e3s', '.5s'],
];

const durationAgrees = test.macro({
  exec(t, field: string) {
    for (const text of DURATION_TEXTS) {
      let parses = true;
      try {
        parseDuration(text);
      } catch {
        parses = false;
      }
      const found = messages(job(DURATION_FIELDS[field]!(text)));
      t.deepEqual(found.length === 0, parses, `${JSON.stringify(text)}: ${found.join('; ')}`);
    }
  },
  title: (_, field) => `the schema accepts exactly the durations parseDuration reads, as a ${field}`,
});

for (const field of Object.keys(DURATION_FIELDS)) test(durationAgrees, field);
