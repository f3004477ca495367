/**
 * An ssh agent prepared by prepareMounts answers inside the container. busybox cannot speak to a unix
 * socket, so the proof is the host's own `ssh-add -l`, run in the container through the host's dynamic
 * loader with the few libraries it needs bound read-only under /probe: it lists the key that was added
 * to the agent on the host.
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { ReleaseStack } from '../../src/release.js';
import { prepareMounts } from '../../src/mounts/index.js';
import type { DockerMount } from '../../src/mounts/types.js';
import {
  engine,
  execIn,
  graph,
  job,
  recorder,
  sshMount,
  startContainer,
  step,
  tempDir,
  uniqueProject,
} from '../helpers/mounts-fixtures.js';
import { waitFor } from '../helpers/kiln-cli.js';

const run = promisify(execFile);
const kiln = engine();
const { docker } = kiln;

/** Read-only binds of a host program and the shared libraries it loads, under /probe; and its loader. */
async function probeBinds(program: string): Promise<{ mounts: DockerMount[]; loader: string }> {
  const { stdout } = await run('ldd', [program]);
  const paths = stdout.split('\n').flatMap((line) => {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    return match ? [match[1]!] : [];
  });
  const loader = paths.find((p) => basename(p).startsWith('ld-'));
  if (!loader) throw new Error(`no dynamic loader in ldd ${program}:\n${stdout}`);
  const mounts = await Promise.all(
    [program, ...paths].map(async (p): Promise<DockerMount> => ({
      Type: 'bind',
      Source: await realpath(p),
      Target: `/probe/${basename(p)}`,
      ReadOnly: true,
    })),
  );
  return { mounts, loader: `/probe/${basename(loader)}` };
}

test('the host ssh agent answers through the prepared socket inside the container', async (t) => {
  for (const tool of ['ssh-agent', 'ssh-add', 'ssh-keygen', 'ldd']) {
    try {
      await run('which', [tool]);
    } catch {
      t.fail(`${tool} is missing: install openssh-client (apt-get install openssh-client)`);
      return;
    }
  }
  const dir = await tempDir(t);
  const socket = join(dir, 'agent.sock');
  const key = join(dir, 'id_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kiln-mounts-test', '-f', key]);
  const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  t.teardown(() => {
    agent.kill();
  });
  await waitFor(() => existsSync(socket), 5000);
  await run('ssh-add', [key], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
  const fingerprint = (await run('ssh-keygen', ['-l', '-f', `${key}.pub`])).stdout.trim();

  const stack = new ReleaseStack();
  t.teardown(() => stack.release());
  const { events, emit } = recorder();
  const j = job('clone', [], [step(0, [sshMount()])]);
  const prepared = await prepareMounts(j, {
    volumes: kiln.volumes,
    graph: graph(dir, uniqueProject(), [j]),
    runId: 'run-ssh',
    emit,
    stack,
    signal: new AbortController().signal,
    env: { SSH_AUTH_SOCK: socket, KILN_STATE_DIR: join(dir, '.state') },
  });
  t.deepEqual(prepared.steps[0]!.ssh, [{ id: 'default', target: '/run/kiln/ssh-default.sock' }]);
  t.like(events[0], { type: 'mount.prepare', mount: 'ssh', source: 'default', step: 'step-1' });

  const probe = await probeBinds('/usr/bin/ssh-add');
  // The runtime's own tmpfs at /run/kiln is there too: the socket is bound inside it.
  const container = await startContainer(t, docker, {
    mounts: [...prepared.mounts, ...probe.mounts],
    tmpfs: { '/run/kiln': 'rw,exec,nosuid,size=16m,mode=755', ...prepared.tmpfs },
  });
  const listed = await execIn(container, [probe.loader, '--library-path', '/probe', '/probe/ssh-add', '-l'], {
    env: { SSH_AUTH_SOCK: prepared.steps[0]!.ssh[0]!.target },
  });
  t.is(listed.exitCode, 0, listed.stderr);
  t.is(listed.stdout.trim(), fingerprint);
  t.regex(listed.stdout, /kiln-mounts-test \(ED25519\)/);
});
