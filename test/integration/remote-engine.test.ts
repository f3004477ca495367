/**
 * The remote engine the tests run kiln against (engine C, scripts/remote-engine.sh): TLS only, blind to
 * this host's projects, and harmless to the host engine's network. These tests prove the stand-in itself.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { BUSYBOX, docker as engineA, makeProject, sweepProjects } from '../helpers/kiln-cli.js';
import {
  TEST_LABEL,
  remoteEngineHooks,
  runRemoteEngineScript,
  startRemoteEngine,
} from '../helpers/remote-engine.js';

remoteEngineHooks(test);
test.after.always(sweepProjects);

const run = promisify(execFile);

/** Runs `cmd` in a new busybox container on `docker` and returns its output (stdout and stderr). */
async function runOnce(docker: Docker, cmd: string[], binds: string[] = []): Promise<string> {
  const container = await docker.createContainer({
    Image: BUSYBOX,
    Cmd: cmd,
    Tty: true,
    Labels: { [TEST_LABEL]: 'remote-engine' },
    HostConfig: { Binds: binds },
  });
  try {
    await container.start();
    await container.wait();
    return (await container.logs({ stdout: true, stderr: true })).toString('utf8');
  } finally {
    await container.remove({ force: true, v: true });
  }
}

test('engine C is another engine than the host’s, answering over TLS with the client certificate', async (t) => {
  const c = await startRemoteEngine();
  t.regex(c.env.DOCKER_HOST, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.is(c.env.DOCKER_TLS_VERIFY, '1');
  for (const file of ['ca.pem', 'cert.pem', 'key.pem']) {
    await t.notThrowsAsync(readFile(`${c.env.DOCKER_CERT_PATH}/${file}`), file);
  }
  const [infoA, infoC] = await Promise.all([engineA.info(), c.docker.info()]);
  t.not(infoC.ID, infoA.ID);
  t.is(infoC.Name, 'kiln-engine-c');
  t.is(infoC.DockerRootDir, '/var/lib/kiln-engine-c');
  // The docker CLI, with nothing but the printed environment, reaches it too.
  const { stdout } = await run('docker', ['info', '--format', '{{.Name}}'], {
    env: { ...process.env, ...c.env },
  });
  t.is(stdout.trim(), 'kiln-engine-c');
});

test('engine C refuses a client without a certificate, and plain HTTP', async (t) => {
  const c = await startRemoteEngine();
  const url = new URL(c.dockerHost);
  const ca = await readFile(`${c.env.DOCKER_CERT_PATH}/ca.pem`);
  // TLS that trusts the engine's CA but shows no client certificate: the handshake is refused.
  const noCert = new Docker({ protocol: 'https', host: url.hostname, port: Number(url.port), ca });
  await t.throwsAsync(noCert.ping());
  // Plain HTTP: the engine answers only that it speaks HTTPS.
  const plain = new Docker({ protocol: 'http', host: url.hostname, port: Number(url.port) });
  const error = await t.throwsAsync(plain.ping());
  t.regex(String(error?.message), /HTTPS|400|bad request/i);
});

test('engine C cannot see a test project’s files: a bind of the project shows an empty folder', async (t) => {
  const c = await startRemoteEngine();
  const project = await makeProject('version: 1\njobs: {}\n', { 'src/main.c': 'int main;\n' });
  const onC = await runOnce(c.docker, ['ls', '-A', '/p'], [`${project.dir}:/p:ro`]);
  t.is(onC.trim(), '');
  // The same bind on the host's engine sees the project: the bind itself is sound.
  const onA = await runOnce(engineA, ['ls', '-A', '/p'], [`${project.dir}:/p:ro`]);
  t.regex(onA, /kiln\.yaml/);
  t.regex(onA, /src/);
});

test('a container on engine C gets an address on engine C’s own bridge', async (t) => {
  const c = await startRemoteEngine();
  const out = await runOnce(c.docker, ['ip', '-o', '-4', 'addr', 'show', 'eth0']);
  t.regex(out, /inet 10\.213\.7\.\d+\//);
});

test.serial(
  'stopping and starting engine C (over a stale pid file) leaves the host’s docker0 and its containers working',
  async (t) => {
    const c = await startRemoteEngine();
    const stopped = await runRemoteEngineScript(['stop']);
    t.is(stopped.code, 0, stopped.stderr);
    const afterStop = await runRemoteEngineScript(['check-host']);
    t.is(afterStop.code, 0, afterStop.stderr);
    t.is((await runRemoteEngineScript(['status'])).code, 1);
    // A pid that is alive but not a dockerd: this test's own process.
    await writeFile('/run/kiln-engine-c.pid', `${process.pid}\n`);
    const started = await runRemoteEngineScript(['start']);
    t.is(started.code, 0, started.stderr);
    t.regex(started.stderr, /removing a stale pid file/);
    t.is((await c.docker.info()).Name, 'kiln-engine-c');
    const afterStart = await runRemoteEngineScript(['check-host']);
    t.is(afterStart.code, 0, afterStart.stderr);
    const { stdout } = await run('ip', ['-o', 'link', 'show', 'docker0']);
    t.regex(stdout, /docker0/);
  },
);
