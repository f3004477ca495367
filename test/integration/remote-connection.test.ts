/**
 * kiln against a remote engine over TCP with TLS (engine C, scripts/remote-engine.sh): it connects with
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, and every way the connection can be wrong ends in a message
 * that names the endpoint and what to fix, with exit code 3.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { BUSYBOX, kiln, makeProject, sweepProjects } from '../helpers/kiln-cli.js';
import { remoteEngineHooks, startRemoteEngine } from '../helpers/remote-engine.js';

remoteEngineHooks(test);
test.after.always(sweepProjects);

const run = promisify(execFile);

/** The containers created on `docker` since `since` (seconds) with `label`, from the engine's event log. */
async function eventsSince(docker: Docker, since: number, label: string): Promise<unknown[]> {
  const stream = (await docker.getEvents({
    since,
    until: Math.ceil(Date.now() / 1000) + 1,
    filters: { type: ['container'], event: ['create'], label: [label] },
  })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
}

const oneJob = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  hello:
    steps:
      - run: echo "hello from $(cat /proc/sys/kernel/hostname)"
`;

test('kiln runs a job on a TLS engine given by DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH', async (t) => {
  const c = await startRemoteEngine();
  const project = await makeProject(oneJob);
  const since = Math.floor(Date.now() / 1000) - 1;
  const result = await kiln(project, ['run'], c.env);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /hello from/);
  // The job's container was made on engine C.
  const created = await eventsSince(c.docker, since, 'dev.kiln.managed=true');
  t.true(created.length > 0);
});

test('a certificate folder without the client certificate is named in an exit-3 message', async (t) => {
  const c = await startRemoteEngine();
  const project = await makeProject(oneJob);
  const dir = await mkdtemp(join(tmpdir(), 'kiln-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await copyFile(join(c.env.DOCKER_CERT_PATH, 'ca.pem'), join(dir, 'ca.pem'));
  const result = await kiln(project, ['run'], { ...c.env, DOCKER_CERT_PATH: dir });
  t.is(result.code, 3);
  t.true(result.stderr.includes(join(dir, 'cert.pem')), result.stderr);
  t.regex(result.stderr, /DOCKER_CERT_PATH/);
  t.notRegex(result.stderr, /internal error|at .*\.js:\d+/);
});

test('a client certificate the engine does not trust is a TLS message naming the endpoint', async (t) => {
  const c = await startRemoteEngine();
  const project = await makeProject(oneJob);
  const dir = await mkdtemp(join(tmpdir(), 'kiln-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await copyFile(join(c.env.DOCKER_CERT_PATH, 'ca.pem'), join(dir, 'ca.pem'));
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=stranger',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  const result = await kiln(project, ['run'], { ...c.env, DOCKER_CERT_PATH: dir });
  t.is(result.code, 3);
  t.true(result.stderr.includes(c.dockerHost), result.stderr);
  t.regex(result.stderr, /TLS handshake .* failed/);
  t.regex(result.stderr, /refused this client/);
});

test('plain TCP to an engine that speaks TLS only says to set DOCKER_TLS_VERIFY', async (t) => {
  const c = await startRemoteEngine();
  const project = await makeProject(oneJob);
  const result = await kiln(project, ['run'], {
    DOCKER_HOST: c.dockerHost,
    DOCKER_TLS_VERIFY: '',
    DOCKER_CERT_PATH: '',
  });
  t.is(result.code, 3);
  t.true(result.stderr.includes(c.dockerHost), result.stderr);
  t.regex(result.stderr, /speaks TLS only: set DOCKER_TLS_VERIFY=1/);
});
