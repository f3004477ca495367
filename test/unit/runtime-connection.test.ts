import test from 'ava';
import { createServer } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineUnavailableError, ExitCode } from '../../src/errors.js';
import { createEngine, isRemoteHost } from '../../src/runtime/engine.js';
import { dockerConnection, tlsVerifyRequested } from '../../src/runtime/docker-connection.js';
import { unreachableError } from '../../src/runtime/docker-errors.js';

test('isRemoteHost: a tcp, ssh or https DOCKER_HOST is another machine; a unix socket or none is this one', (t) => {
  const env = {};
  t.true(isRemoteHost('tcp://10.0.0.5:2376', env));
  t.true(isRemoteHost('ssh://builder@box', env));
  t.true(isRemoteHost('https://box:2376', env));
  t.false(isRemoteHost('unix:///var/run/docker.sock', env));
  t.false(isRemoteHost(undefined, env));
});

test('isRemoteHost: KILN_ENGINE_REMOTE overrides what the address says, either way', (t) => {
  t.true(isRemoteHost('unix:///run/engine.sock', { KILN_ENGINE_REMOTE: '1' }));
  t.true(isRemoteHost(undefined, { KILN_ENGINE_REMOTE: 'true' }));
  t.false(isRemoteHost('tcp://127.0.0.1:2375', { KILN_ENGINE_REMOTE: '0' }));
  t.true(isRemoteHost('tcp://127.0.0.1:2375', { KILN_ENGINE_REMOTE: '' }));
});

test('createEngine marks a tcp engine remote and names its endpoint', (t) => {
  const engine = createEngine({ dockerHost: 'tcp://127.0.0.1:1' });
  t.true(engine.remote);
  t.is(engine.endpoint, 'tcp://127.0.0.1:1');
  t.is(engine.socketPath, undefined);
});

test('a socket given to createEngine wins over a tcp DOCKER_HOST of the environment', async (t) => {
  // A stand-in engine on a unix socket that answers the ping.
  const dir = await mkdtemp(join(tmpdir(), 'kiln-sock-'));
  const socketPath = join(dir, 'engine.sock');
  const server = createServer((req, res) => res.end(req.url?.endsWith('/_ping') ? 'OK' : '{}'));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const saved = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = 'tcp://127.0.0.1:1';
  t.teardown(async () => {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  const engine = createEngine({ dockerHost: `unix://${socketPath}` });
  t.is(engine.socketPath, socketPath);
  t.false(engine.remote);
  await t.notThrowsAsync(engine.system.ping());
});

test('dockerConnection: no DOCKER_HOST or a unix one is a socket', (t) => {
  t.deepEqual(dockerConnection(undefined, {}), { socketPath: '/var/run/docker.sock' });
  t.deepEqual(dockerConnection('unix:///run/x.sock', {}), { socketPath: '/run/x.sock' });
});

test('dockerConnection: tcp without DOCKER_TLS_VERIFY is plain HTTP, port 2375 by default', (t) => {
  t.deepEqual(dockerConnection('tcp://box', {}), { protocol: 'http', host: 'box', port: 2375 });
  t.deepEqual(dockerConnection('box:4000', { DOCKER_TLS_VERIFY: '' }), {
    protocol: 'http',
    host: 'box',
    port: 4000,
  });
});

test('DOCKER_TLS_VERIFY asks for TLS when set to anything but 0 or false, as the docker CLI reads it', (t) => {
  t.true(tlsVerifyRequested({ DOCKER_TLS_VERIFY: '1' }));
  t.true(tlsVerifyRequested({ DOCKER_TLS_VERIFY: 'yes' }));
  t.false(tlsVerifyRequested({ DOCKER_TLS_VERIFY: '0' }));
  t.false(tlsVerifyRequested({ DOCKER_TLS_VERIFY: 'false' }));
  t.false(tlsVerifyRequested({ DOCKER_TLS_VERIFY: '' }));
  t.false(tlsVerifyRequested({}));
});

test('dockerConnection: tcp with DOCKER_TLS_VERIFY passes the CA, certificate and key of DOCKER_CERT_PATH', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await Promise.all(['ca', 'cert', 'key'].map((f) => writeFile(join(dir, `${f}.pem`), `${f} pem`)));
  const connection = dockerConnection('tcp://127.0.0.1:23760', {
    DOCKER_TLS_VERIFY: '1',
    DOCKER_CERT_PATH: dir,
  });
  t.is(connection.protocol, 'https');
  t.is(connection.host, '127.0.0.1');
  t.is(connection.port, 23760);
  t.is(connection.ca?.toString(), 'ca pem');
  t.is(connection.cert?.toString(), 'cert pem');
  t.is(connection.key?.toString(), 'key pem');
  // Without a port, TLS means 2376.
  t.is(dockerConnection('tcp://box', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }).port, 2376);
});

test('a missing certificate file is an EngineUnavailableError naming the file and DOCKER_CERT_PATH', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'ca.pem'), 'ca');
  const error = t.throws(
    () => dockerConnection('tcp://box:2376', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }),
    { instanceOf: EngineUnavailableError },
  );
  t.is(error?.exitCode, ExitCode.infrastructure);
  t.true(error?.message.includes(join(dir, 'cert.pem')), error?.message);
  t.regex(error?.message ?? '', /DOCKER_CERT_PATH/);
  t.regex(error?.message ?? '', /does not exist/);
});

test('without DOCKER_CERT_PATH the certificates are looked for in ~/.docker, and the message says so', (t) => {
  const error = t.throws(
    () =>
      dockerConnection('tcp://box:2376', { DOCKER_TLS_VERIFY: '1' }, () => {
        throw Object.assign(new Error('no'), { code: 'ENOENT' });
      }),
    { instanceOf: EngineUnavailableError },
  );
  t.regex(error?.message ?? '', /\.docker\/ca\.pem/);
  t.regex(error?.message ?? '', /DOCKER_CERT_PATH is not set/);
});

test('dockerConnection: ssh names the user, host and port and uses the ssh agent', (t) => {
  t.deepEqual(dockerConnection('ssh://builder@box:2222', { SSH_AUTH_SOCK: '/run/agent' }), {
    protocol: 'ssh',
    host: 'box',
    port: 2222,
    username: 'builder',
    sshOptions: { agent: '/run/agent' },
  });
  t.is(dockerConnection('ssh://box', {}).port, 22);
});

test('an address kiln cannot use is an EngineUnavailableError, not a crash', (t) => {
  t.throws(() => dockerConnection('ftp://box', {}), { instanceOf: EngineUnavailableError });
  t.throws(() => dockerConnection('tcp://[bad', {}), { instanceOf: EngineUnavailableError });
});

test('a TLS fault is told as one, with what to check: the CA, the client certificate, the name', (t) => {
  const endpoint = 'tcp://box:2376';
  const fault = (code: string) => Object.assign(new Error(code), { code });
  t.regex(
    unreachableError(endpoint, fault('UNABLE_TO_VERIFY_LEAF_SIGNATURE')).message,
    /TLS handshake with the Docker engine at tcp:\/\/box:2376 failed .*not signed by the CA of DOCKER_CERT_PATH's ca\.pem/,
  );
  t.regex(
    unreachableError(endpoint, fault('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE')).message,
    /refused this client: DOCKER_CERT_PATH must hold a client certificate/,
  );
  t.regex(
    unreachableError(endpoint, fault('ERR_TLS_CERT_ALTNAME_INVALID')).message,
    /certificate does not name the host of DOCKER_HOST/,
  );
});

test('a refused connection to an engine on another host says to check that host, not to start dockerd here', (t) => {
  const error = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
  const remote = unreachableError('tcp://box:2376', error, { answeredBefore: false }).message;
  t.regex(remote, /engine on that host runs and listens at this address \(docker -H tcp:\/\/box:2376 info/);
  t.notRegex(remote, /systemctl/);
  const local = unreachableError('unix:///var/run/docker.sock', error, { answeredBefore: false }).message;
  t.regex(local, /systemctl start docker/);
});

test('plain HTTP answered by a TLS engine says to set DOCKER_TLS_VERIFY', (t) => {
  const error = Object.assign(
    new Error('(HTTP code 400) unexpected - Client sent an HTTP request to an HTTPS server.'),
    {
      statusCode: 400,
      json: { message: 'Client sent an HTTP request to an HTTPS server.' },
    },
  );
  t.regex(unreachableError('tcp://box:2376', error).message, /speaks TLS only: set DOCKER_TLS_VERIFY=1/);
});
