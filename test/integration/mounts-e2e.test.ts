/**
 * Typed mounts through `kiln run` against the real engine: what a user sees, and what must never be seen.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, realpathSync, symlinkSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import test from 'ava';
import {
  BUSYBOX,
  containersOf,
  docker,
  eventsOf,
  kiln,
  makeProject,
  outputOf,
  startKilnUntil,
  sweepProjects,
  waitFor,
} from '../helpers/kiln-cli.js';

test.after.always(sweepProjects);

const SECRET = `s3cr3t-${process.pid}-value`;

test('a secret is readable in its step, gone in the next, masked, and absent from inspect, exec inspect, events and export', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
secrets:
  token: { env: KILN_TEST_TOKEN }
jobs:
  deploy:
    steps:
      - name: use
        mounts: [{ type: secret, id: token, env: TOKEN }]
        run: 'cat /run/secrets/token; echo; echo "env=$TOKEN"; ls -l /run/secrets/token | cut -c1-10; echo in-use; i=0; while [ ! -e /tmp/inspected ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done'
      - name: after
        run: 'test -e /run/secrets/token && echo still-there || echo gone; echo "env=[$TOKEN]"'
`);
  const since = Math.floor(Date.now() / 1000) - 1;
  const { child, done } = await startKilnUntil(project, ['run', '--json'], 'in-use', {
    KILN_TEST_TOKEN: SECRET,
  });
  // While the step runs: the container, every exec, and the container's filesystem.
  const [info] = await containersOf(project);
  const container = docker.getContainer(info!.Id);
  const inspected = await container.inspect();
  const execs = await Promise.all((inspected.ExecIDs ?? []).map((id) => docker.getExec(id).inspect()));
  const exported = await new Promise<Buffer>((resolve, reject) => {
    container.export((err: Error | null, stream: NodeJS.ReadableStream) => {
      if (err) return reject(err);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
      stream.on('error', reject);
    });
  });
  // The step waits (a minute at most) until everything above was looked at while it ran.
  const exec = await container.exec({ Cmd: ['touch', '/tmp/inspected'] });
  await exec.start({});
  const run = await done;
  const events = execFileSync(
    'docker',
    [
      'events',
      '--since',
      String(since),
      '--until',
      String(Math.ceil(Date.now() / 1000)),
      '--format',
      '{{json .}}',
    ],
    {
      encoding: 'utf8',
    },
  );

  t.is(run.code, 0, run.stderr);
  t.is(outputOf(run, 'deploy', 'use'), '***\nenv=***\n-r--------\nin-use\n');
  t.is(outputOf(run, 'deploy', 'after'), 'gone\nenv=[]\n');
  t.true(execs.length > 0);
  t.false(JSON.stringify(inspected).includes(SECRET), 'docker inspect of the container');
  t.false(JSON.stringify(execs).includes(SECRET), 'docker inspect of every exec');
  t.false(exported.includes(SECRET), 'docker export of the container');
  t.true(events.includes(info!.Id), 'the events of the run were recorded');
  t.false(events.includes(SECRET), 'docker events during the run');
  t.false(JSON.stringify(run.events).includes(SECRET), "kiln's own events");
});

test('a missing secret is an error naming the job, step and source, unless required: false', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
secrets:
  missing: { env: KILN_TEST_NOT_SET }
jobs:
  strict:
    steps:
      - { name: s, run: "true", mounts: [{ type: secret, id: missing }] }
  lenient:
    steps:
      - { name: s, run: "test -e /run/secrets/missing || echo absent", mounts: [{ type: secret, id: missing, required: false }] }
`);
  const run = await kiln(project, ['run', '--json', '--keep-going']);
  t.is(run.code, 2, run.stdout);
  const error = eventsOf(run, 'error').find((e) => e.job === 'strict');
  t.regex(error?.message ?? '', /strict.*missing.*KILN_TEST_NOT_SET/s);
  t.is(outputOf(run, 'lenient', 's'), 'absent\n');
  t.deepEqual(
    eventsOf(run, 'container.create').map((e) => e.job),
    ['lenient'],
    'no container for the refused job',
  );
});

test('a bind through a symlink out of the project, or onto the Docker socket, is refused before any container', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  escape:
    mounts: [{ type: bind, source: ./outside, target: /mnt }]
    steps: [{ run: "true" }]
  socket:
    mounts: [{ type: bind, source: /var/run/docker.sock, target: /var/run/docker.sock, allow-outside-project: true }]
    steps: [{ run: "true" }]
`);
  symlinkSync('/etc', join(project.dir, 'outside'));
  const run = await kiln(project, ['run', '--json', '--keep-going']);
  t.is(run.code, 2);
  const messages = eventsOf(run, 'error')
    .map((e) => `${e.job}: ${e.message}`)
    .join('\n');
  t.regex(messages, /escape: .*outside.*allow-outside-project/s);
  t.regex(messages, /socket: .*docker\.sock.*allow-docker-socket/s);
  t.is(eventsOf(run, 'container.create').length, 0);
  t.deepEqual(await containersOf(project), []);
});

test('a read-only bind is read-only, a tmpfs runs a binary written into it, and a cache survives two runs', async (t) => {
  const project = await makeProject(
    `
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  mounts:
    # Both runs must run the steps, to see the cache volume survive: the job cache may not skip them.
    cache: false
    mounts:
      - { type: bind, source: ./src, target: /src, readonly: true }
      - { type: tmpfs, target: /build, size: 16m }
      - { type: cache, id: e2e-cache, target: /cache }
    steps:
      - { name: ro, run: "cat /src/hello.txt; touch /src/new 2>/dev/null && echo writable || echo read-only" }
      - { name: exec, run: "printf '#!/bin/sh\\necho ran from tmpfs\\n' > /build/t && chmod +x /build/t && /build/t" }
      - { name: cache, run: "echo x >> /cache/runs; wc -l < /cache/runs" }
`,
    { 'src/hello.txt': 'hello from the host\n' },
  );
  const first = await kiln(project, ['run', '--json']);
  t.is(first.code, 0, first.stdout + first.stderr);
  t.is(outputOf(first, 'mounts', 'ro'), 'hello from the host\nread-only\n');
  t.is(outputOf(first, 'mounts', 'exec'), 'ran from tmpfs\n');
  t.is(outputOf(first, 'mounts', 'cache').trim(), '1');
  const second = await kiln(project, ['run', '--json']);
  t.is(outputOf(second, 'mounts', 'cache').trim(), '2');
});

test('two jobs on one locked cache never overlap, and the waiting one says who holds it', async (t) => {
  const job = (name: string) => `
  ${name}:
    mounts: [{ type: cache, id: shared-lock, target: /cache, sharing: locked }]
    steps:
      - { name: write, run: "echo start-${name} >> /cache/log; sleep 1; echo end-${name} >> /cache/log; cat /cache/log" }`;
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:${job('one')}${job('two')}
`);
  const run = await kiln(project, ['run', '--json', '--concurrency', '2']);
  t.is(run.code, 0, run.stderr);
  const log = [outputOf(run, 'one', 'write'), outputOf(run, 'two', 'write')].sort(
    (a, b) => a.length - b.length,
  )[1]!;
  const lines = log.trim().split('\n');
  t.is(lines.length, 4);
  // Each job's start is followed by its own end: no interleaving.
  t.is(lines[0]!.replace('start-', ''), lines[1]!.replace('end-', ''));
  t.is(lines[2]!.replace('start-', ''), lines[3]!.replace('end-', ''));
  const waits = eventsOf(run, 'mount.wait');
  t.true(waits.length >= 1);
  t.regex(waits[0]!.holder, /job (one|two)/);
});

test('release events come in exact reverse order of acquisition, on success, a failed step, and an interrupt', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
secrets:
  token: { env: KILN_TEST_TOKEN }
jobs:
  ok:
    mounts: [{ type: cache, id: order-a, target: /a, sharing: locked }, { type: cache, id: order-b, target: /b, sharing: locked }]
    steps:
      - { name: s, run: "true", mounts: [{ type: secret, id: token }] }
  fails:
    mounts: [{ type: cache, id: order-c, target: /c, sharing: locked }]
    steps:
      - { name: s, run: "exit 3", mounts: [{ type: secret, id: token }] }
`);
  const run = await kiln(project, ['run', '--json', '--keep-going'], { KILN_TEST_TOKEN: SECRET });
  const releases = (job: string) =>
    eventsOf(run, 'release')
      .filter((e) => e.job === job)
      .map((e) => e.resource);
  t.deepEqual(releases('ok'), ['secret', 'container', 'lock', 'lock'], run.stdout + run.stderr);
  t.deepEqual(releases('fails'), ['secret', 'container', 'lock']);
  const locks = eventsOf(run, 'release')
    .filter((e) => e.job === 'ok' && e.resource === 'lock')
    .map((e) => e.id as string);
  t.true(
    locks[0]!.includes('order-b') && locks[1]!.includes('order-a'),
    `locks released last-taken first: ${locks}`,
  );

  const interrupted = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
secrets:
  token: { env: KILN_TEST_TOKEN }
jobs:
  long:
    mounts: [{ type: cache, id: order-d, target: /d, sharing: locked }]
    steps:
      - { name: s, run: "echo ready; sleep 30", mounts: [{ type: secret, id: token }] }
`);
  const { child, done } = await startKilnUntil(
    interrupted,
    ['run', '--json', '--grace-period', '1'],
    '"data":"ready',
    { KILN_TEST_TOKEN: SECRET },
  );
  child.kill('SIGINT');
  const cancelled = await done;
  t.is(cancelled.code, 130);
  t.deepEqual(
    eventsOf(cancelled, 'release').map((e) => e.resource),
    ['secret', 'container', 'lock'],
  );
});

test('ssh forwarding: a key added to a real agent is listed from inside the step', async (t) => {
  const project = await makeProject(`
version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  git:
    mounts: [{ type: bind, source: ./probe, target: /probe, readonly: true }]
    steps:
      - { name: no-agent, run: 'echo "[$SSH_AUTH_SOCK]"' }
      - name: list
        mounts: [{ type: ssh }]
        run: '/probe/loader --library-path /probe /probe/ssh-add -l'
`);
  // The host's ssh-add and its libraries, so that a busybox image can speak the agent protocol.
  const probe = join(project.dir, 'probe');
  mkdirSync(probe);
  const ldd = execFileSync('ldd', ['/usr/bin/ssh-add'], { encoding: 'utf8' });
  for (const path of ldd.match(/\/\S+/g) ?? []) {
    const real = realpathSync(path);
    const name = /ld-linux/.test(path) ? 'loader' : basename(path);
    if (!existsSync(join(probe, name))) copyFileSync(real, join(probe, name));
  }
  copyFileSync('/usr/bin/ssh-add', join(probe, 'ssh-add'));
  const socket = join(project.dir, 'agent.sock');
  const key = join(project.dir, 'id_test');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kiln-e2e-key', '-f', key]);
  const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  t.teardown(() => agent.kill());
  await waitFor(() => existsSync(socket), 5000);
  execFileSync('ssh-add', [key], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'ignore' });
  const run = await kiln(project, ['run', '--json'], { SSH_AUTH_SOCK: socket });
  t.is(run.code, 0, run.stdout + run.stderr);
  t.is(outputOf(run, 'git', 'no-agent'), '[]\n', 'SSH_AUTH_SOCK only for the declaring step');
  t.regex(outputOf(run, 'git', 'list'), /ED25519|kiln-e2e-key/);

  const missing = await kiln(project, ['run', '--json'], { SSH_AUTH_SOCK: '' });
  t.is(missing.code, 2);
  t.regex(eventsOf(missing, 'error')[0]?.message ?? '', /ssh|SSH_AUTH_SOCK|agent/);
});
