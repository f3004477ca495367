/**
 * Services beside a job, against the real engine: ready before the first step (by health command, by
 * port from the job's network), a service that crashes or never becomes ready failing the job before any
 * step with its last lines in the summary, two jobs each with its own `db`, cancellation while waiting,
 * the plain view's `[job:db]` lines, and nothing (container or network) left after any of them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import {
  BUSYBOX,
  containersOf,
  docker,
  eventsOf,
  kiln,
  makeProject,
  outputOf,
  repoRoot,
  startKilnUntil,
  sweepProjects,
  type KilnRun,
  type Project,
} from '../helpers/kiln-cli.js';

const REDIS = 'kiln-fixture/redis:bookworm';

/** kiln's networks whose project label starts with the project's folder name. */
async function networksOf(project: Project): Promise<string[]> {
  const base = project.dir.split('/').pop()!.toLowerCase();
  const networks = await docker.listNetworks({ filters: { label: ['dev.kiln.managed=true'] } });
  return networks.filter((n) => (n.Labels?.['dev.kiln.project'] ?? '').startsWith(base)).map((n) => n.Name);
}

const made: Project[] = [];
async function project(yaml: string): Promise<Project> {
  const p = await makeProject(yaml);
  made.push(p);
  return p;
}

test.after.always(async () => {
  // Containers first: a network goes once nothing is on it.
  await sweepProjects();
  for (const p of made.splice(0)) {
    for (const name of await networksOf(p))
      await docker
        .getNetwork(name)
        .remove()
        .catch(() => {});
  }
});

async function nothingLeft(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, p: Project) {
  t.deepEqual(
    (await containersOf(p)).map((c) => c.Names),
    [],
    'no container left',
  );
  t.deepEqual(await networksOf(p), [], 'no network left');
}

const types = (run: KilnRun) => run.events.map((e) => `${e.type}${e.service ? `:${e.service}` : ''}`);

test('a service with a health command is ready before the first step, which reaches it by name and alias', async (t) => {
  const p = await project(`
version: 1
jobs:
  test:
    image: ${REDIS}
    services:
      db:
        image: ${REDIS}
        command: sleep 1; exec redis-server --save '' --protected-mode no
        aliases: [cache]
        health: { run: redis-cli ping, interval: 0.2 }
    steps:
      - run: redis-cli -h db set greeting hello >/dev/null && redis-cli -h cache get greeting
`);
  const run = await kiln(p, ['run', '--json']);
  t.is(run.code, 0, run.stdout + run.stderr);
  t.is(outputOf(run, 'test', 'step-1'), 'hello\n');
  const order = types(run);
  t.true(order.indexOf('service.ready:db') < order.indexOf('step.start'), order.join(' '));
  t.true(order.indexOf('service.end:db') > order.indexOf('step.end'), order.join(' '));
  t.true(eventsOf(run, 'service.ready')[0]!.durationMs >= 900, 'it waited for the server that sleeps 1 s');
  t.like(eventsOf(run, 'service.end')[0], { job: 'test', service: 'db', status: 'stopped' });
  t.true(
    eventsOf(run, 'service.output').some((e) => /Ready to accept connections/.test(e.data)),
    "the server's output is kept",
  );
  await nothingLeft(t, p);
});

test('without health, a service is ready once its ports accept connections from the job network', async (t) => {
  const p = await project(`
version: 1
jobs:
  test:
    image: ${REDIS}
    services:
      db:
        image: ${REDIS}
        command: sleep 1.5; exec redis-server --save '' --protected-mode no
        ports: [6379]
    steps:
      - run: redis-cli -h db ping
`);
  const run = await kiln(p, ['run', '--json']);
  t.is(run.code, 0, run.stdout + run.stderr);
  t.is(outputOf(run, 'test', 'step-1'), 'PONG\n');
  t.true(eventsOf(run, 'service.ready')[0]!.durationMs >= 1400);
  await nothingLeft(t, p);
});

test('a service that exits fails its job before any step, with its last lines in the summary', async (t) => {
  const p = await project(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  test:
    services:
      db:
        image: ${BUSYBOX}
        command: for i in $(seq 1 25); do echo "db line $i"; done; exit 3
        ports: [5432]
    steps:
      - run: echo never
`);
  const run = await kiln(p, ['run']);
  t.is(run.code, 1, run.stdout + run.stderr);
  t.notRegex(run.stdout, /never/);
  t.regex(run.stdout, /\[test:db\] +db line 1\n/);
  t.regex(run.stdout, /job test, service db: exited with code 3 before it was ready/);
  const summary = run.stdout.slice(run.stdout.indexOf('FAIL test / service db'));
  t.regex(summary, /\| db line 6\n[^]*\| db line 25\n/, run.stdout);
  t.notRegex(summary, /\| db line 5\n/, 'only the last 20 lines');
  const log = /full log: (\S+service-db\.log)/.exec(summary)?.[1];
  t.regex(await readFile(log!, 'utf8'), /^db line 1\n[^]*db line 25\n$/);
  await nothingLeft(t, p);
});

test('a service whose health check keeps failing fails its job after its retries', async (t) => {
  const p = await project(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  test:
    services:
      db:
        image: ${BUSYBOX}
        command: echo starting; trap 'exit 0' TERM; while :; do sleep 0.1; done
        health: { run: echo not yet; exit 1, interval: 0.1, retries: 3 }
    steps:
      - run: echo never
`);
  const run = await kiln(p, ['run', '--json']);
  t.is(run.code, 1, run.stdout + run.stderr);
  t.deepEqual(eventsOf(run, 'step.start'), []);
  t.regex(
    eventsOf(run, 'error')[0]!.message,
    /^job test, service db: never became ready: its health check failed 3 times in a row \(last: exit code 1: not yet\)$/,
  );
  t.like(eventsOf(run, 'service.end')[0], { service: 'db', status: 'failed' });
  t.deepEqual(eventsOf(run, 'service.ready'), []);
  await nothingLeft(t, p);
});

test('two jobs at once each have their own db on their own network', async (t) => {
  const job = (name: string) => `
  ${name}:
    services:
      db: { image: ${REDIS}, health: { run: redis-cli ping, interval: 0.2 } }
    steps:
      - run: test "$(redis-cli -h db incr hits)" = 1 && sleep 1 && test "$(redis-cli -h db get hits)" = 1
`;
  const p = await project(`
version: 1
defaults: { image: ${REDIS} }
jobs:${job('one')}${job('two')}`);
  const run = await kiln(p, ['run', '--json', '--concurrency', '2']);
  t.is(run.code, 0, run.stdout + run.stderr);
  const starts = eventsOf(run, 'service.start');
  t.is(starts.length, 2);
  t.not(starts[0]!.container, starts[1]!.container);
  const order = types(run);
  t.true(
    order.lastIndexOf('service.start:db') < order.indexOf('service.end:db'),
    'the two db services ran at the same time',
  );
  await nothingLeft(t, p);
});

/** A job whose service never becomes ready: kiln waits for it until the run is interrupted. */
const NEVER_READY = `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  test:
    services:
      db:
        image: ${BUSYBOX}
        command: sleep 600
        health: { run: "false", interval: 0.2, retries: 10000 }
    steps:
      - run: echo never
`;

test('SIGINT while a service is not ready yet cancels the job and releases the service and its network', async (t) => {
  const p = await project(NEVER_READY);
  // Once the job's container is made, kiln waits for the service, which never becomes ready.
  const { child, done } = await startKilnUntil(
    p,
    ['run', '--json', '--grace-period', '1'],
    '"container.create"',
  );
  child.kill('SIGINT');
  const run = await done;
  t.is(run.code, 130, run.stdout + run.stderr);
  t.deepEqual(eventsOf(run, 'step.start'), []);
  t.deepEqual(eventsOf(run, 'service.ready'), []);
  t.like(eventsOf(run, 'job.end')[0], { job: 'test', status: 'cancelled' });
  t.deepEqual(
    eventsOf(run, 'release').map((e) => e.resource),
    ['container', 'service', 'network'],
    'the job container, then the service, then its network',
  );
  t.deepEqual(eventsOf(run, 'error'), [], 'a cancel is no error');
  await nothingLeft(t, p);
});

test("the example in fixtures/services (the README's) runs: the plain view prefixes the service output [job:db]", async (t) => {
  const yaml = await readFile(join(repoRoot, 'fixtures', 'services', 'kiln.yaml'), 'utf8');
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Services beside a job'));
  const block = /```yaml\n([^]*?)```/.exec(section)?.[1];
  t.is(block, yaml.replace(/^#.*\n/gm, ''), "the README's example is the fixture's");
  const p = await project(yaml);
  const run = await kiln(p, ['run']);
  t.is(run.code, 0, run.stdout + run.stderr);
  t.regex(run.stdout, /\[test\] +service db started \(kiln-fixture\/redis:bookworm\)\n/);
  t.regex(run.stdout, /\[test:db\] +.*Ready to accept connections/);
  t.regex(run.stdout, /\[test\] +service db ready \(/);
  t.regex(run.stdout, /\[test\/read\] +db says: hello from kiln\n/);
  t.regex(run.stdout, /\[test\] +service db stopped\n/);
  const plan = await kiln(p, ['plan']);
  t.regex(
    plan.stdout,
    /test +runs +not cached: it has services \(db\), whose state is not in its key; cache: true caches it/,
  );
  await nothingLeft(t, p);
});

test("a dead run's services and network are listed by kiln prune and swept by the next run", async (t) => {
  const p = await project(NEVER_READY);
  const { child, done } = await startKilnUntil(p, ['run', '--json'], '"container.create"');
  child.kill('SIGKILL');
  await done;
  t.is((await containersOf(p)).length, 2, 'the dead run left its job container and its service');
  t.is((await networksOf(p)).length, 1, 'and its network');
  const listed = await kiln(p, ['prune', '--project', '--dry-run']);
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stdout, /would remove network kiln-\S+ \(run\)/);
  const other = await project(`
version: 1
jobs:
  other: { image: ${BUSYBOX}, steps: [{ run: "true" }] }
`);
  const sweeper = await kiln(other, ['run']);
  t.is(sweeper.code, 0, sweeper.stderr);
  await nothingLeft(t, p);
});

test("a service with neither health nor ports is ready once it runs, and sees none of the job's env", async (t) => {
  const p = await project(`
version: 1
defaults: { image: ${BUSYBOX}, env: { JOB_ONLY: from-the-job } }
jobs:
  test:
    services:
      helper:
        image: ${BUSYBOX}
        env: { OWN: its-own }
        command: env; trap 'exit 0' TERM; while :; do sleep 0.1; done
    steps:
      - run: echo "$JOB_ONLY"
`);
  const run = await kiln(p, ['run', '--json', '--reuse']);
  t.is(run.code, 0, run.stdout + run.stderr);
  t.is(outputOf(run, 'test', 'step-1'), 'from-the-job\n');
  t.like(eventsOf(run, 'service.ready')[0], { service: 'helper' });
  const printed = eventsOf(run, 'service.output')
    .map((e) => e.data)
    .join('');
  t.regex(printed, /OWN=its-own/);
  t.notRegex(printed, /JOB_ONLY/);
  t.like(eventsOf(run, 'container.create')[0], { job: 'test' }, '--reuse leaves a job with services out');
  t.deepEqual(eventsOf(run, 'container.reuse'), []);
  await nothingLeft(t, p);
});

test("a service's cache mount is the project's cache volume, which the job can mount too", async (t) => {
  const p = await project(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  test:
    mounts: [{ type: cache, id: shared-data, target: /data }]
    services:
      writer:
        image: ${BUSYBOX}
        mounts: [{ type: cache, id: shared-data, target: /cache }, { type: tmpfs, target: /scratch }]
        command: echo "from the service" > /scratch/x && cp /scratch/x /cache/hello; trap 'exit 0' TERM; while :; do sleep 0.1; done
        health: { run: test -f /cache/hello, interval: 0.1 }
    steps:
      - run: cat /data/hello
`);
  const run = await kiln(p, ['run', '--json']);
  t.is(run.code, 0, run.stdout + run.stderr);
  t.is(outputOf(run, 'test', 'step-1'), 'from the service\n');
  await nothingLeft(t, p);
  const volumes =
    (await docker.listVolumes({ filters: { label: ['dev.kiln.cache=shared-data'] } })).Volumes ?? [];
  const base = p.dir.split('/').pop()!.toLowerCase();
  for (const v of volumes.filter((v) => (v.Labels?.['dev.kiln.project'] ?? '').startsWith(base)))
    await docker
      .getVolume(v.Name)
      .remove()
      .catch(() => {});
});

test('a job with services and cache: true is cached, and a change to its services is a miss that says so', async (t) => {
  const yaml = (greeting: string) => `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  test:
    cache: true
    services:
      helper:
        image: ${BUSYBOX}
        env: { GREETING: ${greeting} }
        command: trap 'exit 0' TERM; while :; do sleep 0.1; done
    steps:
      - run: echo ran
`;
  const p = await project(yaml('hello'));
  const plan = await kiln(p, ['plan']);
  t.regex(plan.stdout, /test +runs/, plan.stdout + plan.stderr);
  const first = await kiln(p, ['run', '--json']);
  t.is(first.code, 0, first.stdout + first.stderr);
  const second = await kiln(p, ['run', '--json']);
  t.like(eventsOf(second, 'job.cache')[0], { result: 'hit' });
  t.deepEqual(eventsOf(second, 'service.start'), [], 'a hit starts no service');
  await writeFile(p.file, yaml('bonjour'));
  const third = await kiln(p, ['run', '--json']);
  t.like(eventsOf(third, 'job.cache')[0], { result: 'miss' });
  t.true(
    eventsOf(third, 'job.cache')[0]!.reasons.includes("the job's services changed"),
    JSON.stringify(eventsOf(third, 'job.cache')),
  );
  await nothingLeft(t, p);
});

test('a service that exits on its own while the steps run ends failed, with its exit code and a warning', async (t) => {
  const p = await project(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  test:
    services:
      flaky:
        image: ${BUSYBOX}
        command: nc -l -p 7000 >/dev/null; echo giving up; exit 4
        health: { run: "true" }
    steps:
      - run: until nc -w 1 flaky 7000 </dev/null; do sleep 0.1; done; sleep 1
`);
  const run = await kiln(p, ['run', '--json']);
  t.is(run.code, 0, run.stdout + run.stderr);
  t.like(eventsOf(run, 'service.end')[0], { service: 'flaky', status: 'failed', exitCode: 4 });
  t.regex(
    eventsOf(run, 'warning')
      .map((e) => e.message)
      .join('\n'),
    /service flaky exited on its own, with code 4, while the job ran/,
  );
  await nothingLeft(t, p);
});

test('failed health checks during the start period do not count', async (t) => {
  const p = await project(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  test:
    services:
      db:
        image: ${BUSYBOX}
        command: trap 'exit 0' TERM; while :; do sleep 0.1; done
        health: { run: "false", interval: 0.1, retries: 2, start-period: 1.5 }
    steps:
      - run: echo never
`);
  const run = await kiln(p, ['run', '--json']);
  t.is(run.code, 1, run.stdout + run.stderr);
  const started = Date.parse(eventsOf(run, 'service.start')[0]!.time);
  const failed = Date.parse(eventsOf(run, 'error')[0]!.time);
  t.true(failed - started >= 1500, `failed ${failed - started} ms after its start`);
  t.regex(eventsOf(run, 'error')[0]!.message, /failed 2 times in a row/);
  await nothingLeft(t, p);
});
