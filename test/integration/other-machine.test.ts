/**
 * The other machine the shared job cache is tested against: a second Docker engine beside the host's, and
 * a real nginx WebDAV cache server. These tests prove the stand-ins themselves work.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import {
  BUSYBOX,
  containersOf,
  docker as engineA,
  eventsOf,
  kiln,
  makeProject,
  repoRoot,
  sweepProjects,
} from '../helpers/kiln-cli.js';
import {
  TEST_LABEL,
  httpRequest,
  otherMachineHooks,
  startCacheServer,
  startSecondEngine,
} from '../helpers/other-machine.js';

otherMachineHooks(test);
test.after.always(sweepProjects);

const run = promisify(execFile);

/** Runs a command in a running container and returns its stdout. */
async function execIn(container: Docker.Container, cmd: string[]): Promise<string> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => stream.on('end', resolve).on('error', reject));
  // Demultiplex the engine's framed stream: 8-byte headers, stdout frames have type 1.
  const raw = Buffer.concat(chunks);
  let out = '';
  for (let at = 0; at + 8 <= raw.length;) {
    const size = raw.readUInt32BE(at + 4);
    if (raw[at] === 1) out += raw.subarray(at + 8, at + 8 + size).toString('utf8');
    at += 8 + size;
  }
  return out;
}

async function sleeper(docker: Docker): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: BUSYBOX,
    Cmd: ['sleep', '600'],
    Labels: { [TEST_LABEL]: 'other-machine' },
    HostConfig: { AutoRemove: false },
  });
  await container.start();
  return container;
}

test('engine B is another engine than the host’s, with its own ID, name and data root', async (t) => {
  const b = await startSecondEngine();
  t.is(b.dockerHost, 'unix:///run/kiln-engine-b.sock');
  const [infoA, infoB] = await Promise.all([engineA.info(), b.docker.info()]);
  t.not(infoB.ID, infoA.ID);
  t.is(infoB.Name, 'kiln-engine-b');
  t.is(infoB.DockerRootDir, '/var/lib/kiln-engine-b');
});

test('engine B has the busybox fixture image, copied from the host’s engine', async (t) => {
  const b = await startSecondEngine();
  const [onA, onB] = await Promise.all([
    engineA.getImage(BUSYBOX).inspect(),
    b.docker.getImage(BUSYBOX).inspect(),
  ]);
  t.is(onB.Id, onA.Id);
});

test('a busybox container runs on engine B while one runs on the host’s engine, whose docker0 stays', async (t) => {
  const b = await startSecondEngine();
  const [onA, onB] = await Promise.all([sleeper(engineA), sleeper(b.docker)]);
  try {
    const [fromA, fromB] = await Promise.all([
      execIn(onA, ['sh', '-c', 'echo A; ip -o -4 addr show eth0']),
      execIn(onB, ['sh', '-c', 'echo B; ip -o link']),
    ]);
    t.regex(fromA, /^A\n/);
    // The host engine's container still gets its bridge address: docker0 was not touched.
    t.regex(fromA, /eth0\s+inet \d+\.\d+\.\d+\.\d+\//);
    t.regex(fromB, /^B\n/);
    t.notRegex(fromB, /eth0/, 'engine B gives jobs no network');
    const { stdout } = await run('ip', ['-o', 'link', 'show', 'docker0']);
    t.regex(stdout, /docker0/);
  } finally {
    await Promise.all([onA.remove({ force: true }), onB.remove({ force: true })]);
  }
});

test('starting engine B again while it runs changes nothing', async (t) => {
  const b = await startSecondEngine();
  const before = await b.docker.info();
  const pidBefore = await readFile('/run/kiln-engine-b.pid', 'utf8');
  const { stdout, stderr } = await run('bash', ['scripts/second-engine.sh', 'start'], { cwd: repoRoot });
  t.is(stdout.trim(), 'DOCKER_HOST=unix:///run/kiln-engine-b.sock');
  t.is(stderr, '');
  t.is((await b.docker.info()).ID, before.ID);
  t.is(await readFile('/run/kiln-engine-b.pid', 'utf8'), pidBefore);
});

test.serial('engine B starts over a stale pid file left by a daemon that is gone', async (t) => {
  const b = await startSecondEngine();
  await run('bash', ['scripts/second-engine.sh', 'stop'], { cwd: repoRoot });
  // A pid that is alive but not a dockerd: this test's own process.
  await writeFile('/run/kiln-engine-b.pid', `${process.pid}\n`);
  const { stderr } = await run('bash', ['scripts/second-engine.sh', 'start'], { cwd: repoRoot });
  t.regex(stderr, /removing a stale pid file/);
  t.is((await b.docker.info()).Name, 'kiln-engine-b');
  t.not((await readFile('/run/kiln-engine-b.pid', 'utf8')).trim(), String(process.pid));
});

test('kiln runs a project on engine B, whose outputs, exports and job cache work there', async (t) => {
  const b = await startSecondEngine();
  const project = await makeProject(
    `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  build:
    outputs: [{ path: /out, export: ./dist }]
    steps:
      - run: echo made on B > /out/file
  use:
    mounts: [{ type: bind, from: build, source: /out, target: /in }]
    steps:
      - run: cat /in/file
`,
  );
  const env = { DOCKER_HOST: b.dockerHost };
  const first = await kiln(project, ['run', '--json'], env);
  t.is(first.code, 0, first.stderr);
  t.is(await readFile(join(project.dir, 'dist/file'), 'utf8'), 'made on B\n');
  const again = await kiln(project, ['run', '--json'], env);
  t.is(again.code, 0, again.stderr);
  t.deepEqual(
    eventsOf(again, 'job.cache')
      .map((e) => [e.job, e.result])
      .sort(),
    [
      ['build', 'hit'],
      ['use', 'hit'],
    ],
  );
  t.deepEqual(await containersOf(project), [], 'nothing of it on the host’s engine');
});

const key = () => randomBytes(8).toString('hex');

test.serial('the cache server stores a PUT and serves it back by GET and HEAD', async (t) => {
  const cache = await startCacheServer();
  t.is(cache.url, 'http://127.0.0.1:18080');
  const path = `cas/${key()}`;
  const body = randomBytes(100_000);
  const put = await httpRequest('PUT', `${cache.url}/${path}`, { body });
  t.true(put.status === 201 || put.status === 204, `PUT answered ${put.status}`);
  const get = await httpRequest('GET', `${cache.url}/${path}`);
  t.is(get.status, 200);
  t.true(get.body.equals(body));
  const head = await httpRequest('HEAD', `${cache.url}/${path}`);
  t.is(head.status, 200);
  t.is(head.headers['content-length'], String(body.length));
  t.is((await httpRequest('GET', `${cache.url}/ac/${key()}`)).status, 404);
  t.true((await cache.entries()).includes(path));
  t.true((await readFile(join(cache.dir, path))).equals(body));
  const logged = (await cache.requests()).map((r) => `${r.method} ${r.path} ${r.status}`);
  t.true(logged.includes(`PUT /${path} 201`) || logged.includes(`PUT /${path} 204`), logged.join('\n'));
  t.true(logged.includes(`HEAD /${path} 200`), logged.join('\n'));
});

test.serial('the cache server refuses requests without its token when one is set', async (t) => {
  const cache = await startCacheServer({ token: 'test-token-1' });
  const url = `${cache.url}/ac/${key()}`;
  t.is((await httpRequest('PUT', url, { body: 'x' })).status, 401);
  t.is(
    (await httpRequest('PUT', url, { body: 'x', headers: { authorization: 'Bearer wrong' } })).status,
    401,
  );
  t.is((await httpRequest('PUT', url, { body: 'x', headers: cache.headers })).status, 201);
  t.is((await httpRequest('GET', url)).status, 401);
  t.is((await httpRequest('GET', url, { headers: cache.headers })).body.toString(), 'x');
  // Started again without a token, it asks for none.
  const open = await startCacheServer();
  t.is((await httpRequest('GET', url)).status, 200);
  t.deepEqual(open.headers, {});
});

test.serial('the cache server answers 500 when told to, and serves again after', async (t) => {
  const cache = await startCacheServer();
  const url = `${cache.url}/ac/${key()}`;
  t.is((await httpRequest('PUT', url, { body: 'kept' })).status, 201);
  await cache.failWith500(true);
  t.is((await httpRequest('GET', url)).status, 500);
  t.is((await httpRequest('PUT', url, { body: 'lost' })).status, 500);
  await cache.failWith500(false);
  t.is((await httpRequest('GET', url)).body.toString(), 'kept');
});

test.serial(
  'a stopped cache server refuses connections and keeps its entries when started again',
  async (t) => {
    const cache = await startCacheServer();
    const url = `${cache.url}/ac/${key()}`;
    t.is((await httpRequest('PUT', url, { body: 'kept' })).status, 201);
    await cache.stop();
    const refused = await t.throwsAsync(httpRequest('GET', url));
    t.is((refused as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    await cache.start();
    t.is((await httpRequest('GET', url)).body.toString(), 'kept');
  },
);

test.serial(
  'corrupt() changes a stored entry’s bytes but not its size; clear() empties the server',
  async (t) => {
    const cache = await startCacheServer();
    const path = `cas/${key()}`;
    await httpRequest('PUT', `${cache.url}/${path}`, { body: 'abcdef' });
    await cache.corrupt(path);
    const got = (await httpRequest('GET', `${cache.url}/${path}`)).body;
    t.is(got.length, 6);
    t.not(got.toString(), 'abcdef');
    t.is(got.subarray(1).toString(), 'bcdef');
    await cache.clear();
    t.deepEqual(await cache.entries(), []);
    t.is((await httpRequest('GET', `${cache.url}/${path}`)).status, 404);
  },
);

test.serial('the cache server starts over a stale pid file left by a server that is gone', async (t) => {
  const cache = await startCacheServer();
  await cache.stop();
  await writeFile(join(cache.dir, '..', 'nginx.pid'), `${process.pid}\n`);
  await cache.start();
  t.is((await httpRequest('GET', `${cache.url}/ac/${key()}`)).status, 404);
});

test.serial('a slowed-down cache server sends bodies at the given rate', async (t) => {
  const cache = await startCacheServer();
  const path = `cas/${key()}`;
  await httpRequest('PUT', `${cache.url}/${path}`, { body: randomBytes(96 * 1024) });
  await cache.slowDown('32k');
  const started = Date.now();
  const got = await httpRequest('GET', `${cache.url}/${path}`);
  const tookMs = Date.now() - started;
  await cache.slowDown(null);
  t.is(got.body.length, 96 * 1024);
  // 96 KiB at 32 KiB a second: about 3 s.
  t.true(tookMs >= 2000, `took ${tookMs} ms`);
});
