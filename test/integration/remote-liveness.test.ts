/**
 * A run's liveness on an engine many hosts share (engine C, scripts/remote-engine.sh): each run keeps a
 * keeper container whose stdin its kiln holds, so that a kiln on another host (played with KILN_HOST_ID)
 * can tell a killed run's leftovers, which it sweeps, from a live run's resources, which it never touches.
 */
import test from 'ava';
import type Docker from 'dockerode';
import {
  BUSYBOX,
  kiln,
  makeProject,
  startKilnUntil,
  sweepProjects,
  waitFor,
  type Project,
} from '../helpers/kiln-cli.js';
import { asHost, remoteEngineHooks, startRemoteEngine, type RemoteEngine } from '../helpers/remote-engine.js';

remoteEngineHooks(test);
test.after.always(sweepProjects);

/** A job that makes an output volume (unsealed while it runs), says MARK-R1, then sleeps. */
const longJob = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  long:
    outputs: [{ path: /out }]
    steps:
      - run: echo made > /out/file; echo MARK-R1; sleep 120
`;

const quickJob = `version: 1
defaults: { image: ${BUSYBOX} }
jobs:
  quick:
    cache: false
    steps:
      - run: echo quick
`;

interface Leftovers {
  readonly containers: string[];
  readonly volumes: string[];
  readonly keepers: string[];
}

/** What kiln made on engine C for run `runId`: its containers (keeper apart) and volumes. */
async function leftoversOf(docker: Docker, runId: string): Promise<Leftovers> {
  const label = [`dev.kiln.run=${runId}`];
  const containers = await docker.listContainers({ all: true, filters: { label } });
  const volumes = (await docker.listVolumes({ filters: { label } })).Volumes ?? [];
  const scoped = (scope: string) =>
    containers.filter((c) => (c.Labels['dev.kiln.scope'] === 'keeper') === (scope === 'keeper'));
  return {
    containers: scoped('job').map((c) => c.Names[0]!.slice(1)),
    keepers: scoped('keeper')
      .filter((c) => c.State === 'running')
      .map((c) => c.Names[0]!.slice(1)),
    volumes: volumes.map((v) => v.Name),
  };
}

/** Starts the long job on engine C and waits until it runs; returns the run id and the running kiln. */
async function startLongRun(c: RemoteEngine, project: Project, env: NodeJS.ProcessEnv = {}) {
  const started = await startKilnUntil(project, ['run', '--json'], 'MARK-R1', { ...c.env, ...env });
  const runId = /"runId":"([^"]+)"/.exec(started.seen())?.[1];
  if (!runId) throw new Error(`no run id in the events:\n${started.seen()}`);
  return { ...started, runId };
}

test.serial(
  'a run on a remote engine keeps a keeper while it runs, named on what it makes, gone at its end',
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(longJob.replace('sleep 120', 'sleep 5'));
    const run = await startLongRun(c, project);
    const during = await leftoversOf(c.docker, run.runId);
    t.is(during.keepers.length, 1);
    const keeper = during.keepers[0]!;
    const job = await c.docker.getContainer(during.containers[0]!).inspect();
    t.is(job.Config.Labels['dev.kiln.keeper'], keeper);
    const result = await run.done;
    t.is(result.code, 0, result.stderr);
    await waitFor(async () => (await leftoversOf(c.docker, run.runId)).keepers.length === 0, 10_000);
    t.is((await c.docker.listContainers({ all: true, filters: { name: [keeper] } })).length, 0);
  },
);

test.serial(
  'what a SIGKILLed run left on a remote engine is swept by the next run of another host',
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(longJob);
    const run = await startLongRun(c, project);
    const before = await leftoversOf(c.docker, run.runId);
    t.is(before.containers.length, 1);
    t.true(before.volumes.length >= 1, 'the unsealed output volume');
    run.child.kill('SIGKILL');
    await run.done;
    // The engine ends the keeper once the dead kiln's connection is gone.
    await waitFor(async () => (await leftoversOf(c.docker, run.runId)).keepers.length === 0, 15_000);
    const left = await leftoversOf(c.docker, run.runId);
    t.is(left.containers.length, 1, 'nothing swept it yet');

    // kiln on another host: the dead run's pid means nothing there; its keeper's absence does.
    const other = await makeProject(quickJob);
    const next = await kiln(other, ['run'], asHost(c, 'another-host', project.stateDir));
    t.is(next.code, 0, next.stderr);
    const after = await leftoversOf(c.docker, run.runId);
    t.deepEqual(after, { containers: [], volumes: [], keepers: [] });
  },
);

test.serial(
  'a live run’s resources on a remote engine are never swept by a run of another host',
  async (t) => {
    const c = await startRemoteEngine();
    const project = await makeProject(longJob);
    const run = await startLongRun(c, project, { KILN_CANCEL_GRACE_PERIOD: '1' });
    const before = await leftoversOf(c.docker, run.runId);
    const other = await makeProject(quickJob);
    const next = await kiln(other, ['run'], asHost(c, 'another-host', project.stateDir));
    t.is(next.code, 0, next.stderr);
    const pruned = await kiln(other, ['prune'], asHost(c, 'another-host', project.stateDir));
    t.is(pruned.code, 0, pruned.stderr);
    t.deepEqual(await leftoversOf(c.docker, run.runId), before);
    // Still alive and well: it ends as a cancelled run does.
    run.child.kill('SIGINT');
    const result = await run.done;
    t.is(result.code, 130, result.stderr);
  },
);
