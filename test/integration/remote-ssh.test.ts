/**
 * kiln over DOCKER_HOST=ssh://: the host's engine reached through an sshd of the tests' own
 * (scripts/ssh-engine.sh), as a builder box would be. Such an engine counts as remote.
 */
import test from 'ava';
import { BUSYBOX, docker, kiln, makeProject, sweepProjects } from '../helpers/kiln-cli.js';
import { startSshEngine, stopSshEngine } from '../helpers/remote-engine.js';

test.after.always(stopSshEngine);
test.after.always(sweepProjects);

const project = () =>
  makeProject(`version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  hello:
    cache: false
    steps:
      - run: echo over ssh
`);

test.serial(
  'kiln runs a job on an engine reached over ssh, with the keys of SSH_AUTH_SOCK, as a remote engine',
  async (t) => {
    const ssh = await startSshEngine();
    const since = Math.floor(Date.now() / 1000) - 1;
    const result = await kiln(await project(), ['run'], { ...ssh.env, KILN_ENGINE_REMOTE: '' });
    t.is(result.code, 0, result.stderr);
    t.regex(result.stdout, /over ssh/);
    // Remote: the run kept a keeper (runtime/keepers.ts) on the engine.
    const stream = (await docker.getEvents({
      since,
      until: Math.ceil(Date.now() / 1000) + 1,
      filters: { type: ['container'], event: ['create'], label: ['dev.kiln.scope=keeper'] },
    })) as NodeJS.ReadableStream;
    let events = '';
    for await (const chunk of stream) events += chunk.toString();
    t.regex(events, /kiln-keeper-/);
  },
);

test.serial('an ssh agent without the key is an exit-3 message that says what to check', async (t) => {
  const ssh = await startSshEngine();
  const result = await kiln(await project(), ['run'], {
    ...ssh.env,
    SSH_AUTH_SOCK: '',
    KILN_ENGINE_REMOTE: '',
  });
  t.is(result.code, 3);
  t.true(result.stderr.includes(`the Docker engine at ${ssh.env.DOCKER_HOST} over ssh`), result.stderr);
  t.regex(result.stderr, /SSH_AUTH_SOCK/);
});
