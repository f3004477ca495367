/**
 * Services beside a job, without an engine: the step file's `services:` through the schema, the loader
 * and the compiler (merged over the defaults', positioned diagnostics), the builder's withService, and
 * the cache policy of a job with services.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { job, pipeline } from '../../src/definition/builder.js';
import { loadDefinitionText } from '../../src/definition/loader.js';
import { packageRoot } from '../../src/definition/schema.js';
import type { Definition, JobSpec } from '../../src/definition/types.js';
import { validateDocument } from '../../src/definition/validate.js';
import { DefinitionError, formatDiagnostic } from '../../src/errors.js';
import { cachePolicy } from '../../src/executor/job-key.js';
import { compile } from '../../src/graph/index.js';

const IMAGE = 'kiln-fixture/busybox:latest';
const REDIS = 'kiln-fixture/redis:bookworm';
const run = [{ run: 'true' }];

function definition(jobs: Record<string, JobSpec>, rest: Partial<Definition> = {}): Definition {
  return { version: 1, projectDir: '/home/me/app', defaults: { image: IMAGE }, jobs, ...rest };
}

function problemsOf(def: Definition): string[] {
  try {
    compile(def);
  } catch (error) {
    if (error instanceof DefinitionError) return error.diagnostics.map(formatDiagnostic);
    throw error;
  }
  return [];
}

function loadProblems(yaml: string): string[] {
  try {
    compile(loadDefinitionText(yaml, '/home/me/app/kiln.yaml'));
  } catch (error) {
    if (error instanceof DefinitionError) return error.diagnostics.map(formatDiagnostic);
    throw error;
  }
  return [];
}

test('the schema accepts the services example (fixtures/services/kiln.yaml)', (t) => {
  const document = parse(readFileSync(join(packageRoot(), 'fixtures', 'services', 'kiln.yaml'), 'utf8'));
  t.deepEqual(
    validateDocument(document).map((p) => p.message),
    [],
  );
});

test('the schema refuses an unknown key of a service and a service name that is no host name', (t) => {
  const found = validateDocument({
    version: 1,
    jobs: {
      a: {
        image: IMAGE,
        services: { db: { image: REDIS, prot: [1] }, Bad_Name: { image: REDIS } },
        steps: run,
      },
    },
  }).map((p) => p.message);
  t.true(
    found.some((m) => m.includes("unknown key 'prot'")),
    found.join('\n'),
  );
  t.true(
    found.some((m) => m.includes('Bad_Name')),
    found.join('\n'),
  );
});

test("a job's services are merged by name over the defaults', compiled with the health check's defaults", (t) => {
  const graph = compile(
    loadDefinitionText(
      `
version: 1
defaults:
  image: ${IMAGE}
  services:
    db: { image: ${REDIS}, ports: [6379] }
    cache: { image: ${REDIS}, command: redis-server --port 7000, env: { A: "1" } }
jobs:
  a:
    services:
      db:
        image: ${REDIS}
        aliases: [database]
        health: { run: redis-cli ping, interval: 0.5, start-period: 2s }
        mounts: [{ type: tmpfs, target: /data, size: 1m }]
    steps: [{ run: "true" }]
`,
      '/home/me/app/kiln.yaml',
    ),
  );
  const services = graph.jobs.get('a')!.services!;
  t.deepEqual(
    services.map((s) => s.name),
    ['db', 'cache'],
  );
  t.like(services[0], {
    image: REDIS,
    aliases: ['database'],
    ports: [],
    health: {
      argv: ['/bin/sh', '-c', 'redis-cli ping'],
      intervalMs: 500,
      timeoutMs: 5000,
      retries: 30,
      startPeriodMs: 2000,
    },
    tmpfs: [{ type: 'tmpfs', target: '/data', sizeBytes: 1024 * 1024, mode: 0o1777 }],
  });
  t.like(services[1], { command: ['/bin/sh', '-c', 'redis-server --port 7000'], env: { A: '1' } });
});

test('a job without services has none in its compiled form', (t) => {
  const graph = compile(definition({ a: { steps: run } }));
  t.is(graph.jobs.get('a')!.services, undefined);
});

test("a duplicate alias and a name that is the job's own host name are errors at their lines", (t) => {
  const found = loadProblems(`
version: 1
defaults: { image: ${IMAGE} }
jobs:
  api:
    services:
      db: { image: ${REDIS}, aliases: [store] }
      cache: { image: ${REDIS}, aliases: [store] }
      api: { image: ${REDIS} }
    steps: [{ run: "true" }]
`);
  t.deepEqual(found, [
    `/home/me/app/kiln.yaml:8:62: job 'api', service 'cache': alias "store" is taken by service 'db': each name on the job's network must be unique`,
    `/home/me/app/kiln.yaml:9:7: job 'api', service 'api': name "api" is the job's own host name on its network; rename the service or the alias`,
  ]);
});

test('bad health durations and retries of a definition built in code are errors at their pointers', (t) => {
  let error: DefinitionError | undefined;
  try {
    compile(
      definition({
        a: {
          services: {
            slow: { image: REDIS, health: { run: 'true', interval: 0, timeout: 'soon', retries: 0 } },
          },
          steps: run,
        },
      }),
    );
  } catch (thrown) {
    error = thrown as DefinitionError;
  }
  t.deepEqual(
    error?.diagnostics.map((d) => [d.pointer, d.message]),
    [
      [
        '/jobs/a/services/slow/health/interval',
        "job 'a', service 'slow': health interval: must be longer than 0",
      ],
      [
        '/jobs/a/services/slow/health/timeout',
        `job 'a', service 'slow': health timeout: invalid duration "soon": write a number of seconds or parts with units ms, s, m, h, d (e.g. 90s, 10m, 1h30m, 500ms)`,
      ],
      [
        '/jobs/a/services/slow/health/retries',
        "job 'a', service 'slow': health retries must be a whole number from 1 to 10000, not 0",
      ],
    ],
  );
});

test('a service name that is no host name, network and reuse beside services are errors (builder)', (t) => {
  const found = problemsOf(
    definition({
      a: {
        network: 'host',
        reuse: true,
        services: { 'Not A Host': { image: REDIS }, db: { image: REDIS, ports: [0] } },
        steps: run,
      },
    }),
  );
  t.true(
    found.some((l) => l.includes(`name "Not A Host" is not a host name`)),
    found.join('\n'),
  );
  t.true(
    found.some((l) => l.includes('cannot also set network (host)')),
    found.join('\n'),
  );
  t.true(
    found.some((l) => l.includes('reuse cannot be combined with services')),
    found.join('\n'),
  );
  t.true(
    found.some((l) => l.includes('port 0 must be a whole number from 1 to 65535')),
    found.join('\n'),
  );
});

test('withService returns a new builder and replaces a service of the same name', (t) => {
  const base = job('test').withImage(IMAGE).withStep('true');
  const one = base.withService('db', { image: REDIS, ports: [6379] });
  const two = one.withService('db', { image: REDIS, health: { run: 'redis-cli ping' } });
  const definitionOf = (j: typeof base) => pipeline({ projectDir: '/home/me/app' }).withJob(j).toDefinition();
  t.is(definitionOf(base).jobs['test']!.services, undefined);
  t.deepEqual(definitionOf(one).jobs['test']!.services, { db: { image: REDIS, ports: [6379] } });
  t.deepEqual(definitionOf(two).jobs['test']!.services, {
    db: { image: REDIS, health: { run: 'redis-cli ping' } },
  });
  const graph = compile(definitionOf(two));
  t.like(graph.jobs.get('test')!.services![0], { name: 'db', health: { retries: 30 } });
});

test('a job with services is not cached unless it says cache: true', (t) => {
  const graph = compile(
    definition({
      plain: { services: { db: { image: REDIS } }, steps: run },
      opted: { services: { db: { image: REDIS } }, cache: true, steps: run },
    }),
  );
  t.deepEqual(cachePolicy(graph.jobs.get('plain')!, '/home/me/app'), {
    cached: false,
    reasons: ['it has services (db), whose state is not in its key; cache: true caches it'],
  });
  t.deepEqual(cachePolicy(graph.jobs.get('opted')!, '/home/me/app'), { cached: true, reasons: [] });
});

test('kiln run --reuse leaves a job with services out, and a reused job keeps its one reason', (t) => {
  const graph = compile(
    definition({
      served: { services: { db: { image: REDIS } }, steps: run },
      reused: { reuse: true, steps: run },
    }),
  );
  t.deepEqual(cachePolicy(graph.jobs.get('served')!, '/home/me/app', true).reasons, [
    'it has services (db), whose state is not in its key; cache: true caches it',
  ]);
  t.deepEqual(cachePolicy(graph.jobs.get('reused')!, '/home/me/app', true).reasons, [
    'it reuses its container across runs (reuse)',
  ]);
});

test("a service's cache must be shared, and mounts a service cannot take are errors", (t) => {
  const found = problemsOf(
    definition({
      a: {
        services: {
          db: {
            image: REDIS,
            mounts: [
              { type: 'cache', id: 'pg', target: '/var/lib/pg', sharing: 'locked' },
              { type: 'cache', id: 'ok', target: '/ok' },
              { type: 'bind', source: '.', target: '/src' } as never,
            ],
          },
        },
        steps: run,
      },
    }),
  );
  t.deepEqual(found, [
    "job 'a', service 'db': cache pg: a service's cache must be shared (sharing: shared): a locked or private cache is held by one job at a time, and its own job would wait for it",
    "job 'a', service 'db': a service takes tmpfs and cache mounts only ({ type: tmpfs, target: /path })",
  ]);
});
