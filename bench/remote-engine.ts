/**
 * The README's example project on a remote engine that cannot see it (engine C: scripts/remote-engine.sh,
 * TLS on a loopback port, its own mount namespace) against the same runs on the local engine:
 *
 * - a cold run (an empty state folder and a source tree the engine has never seen, so that every job
 *   runs and the remote engine is sent the tree), as a ratio to a cold run on the local engine;
 * - an unchanged rerun (every job the cache takes is cached), as a ratio to the same on the local engine,
 *   and the bytes it uploaded (mount.prepare's uploadedBytes; goal 0).
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './kiln-runs.js';
import { eventedRun, type EventedRun } from './cache-cli.js';
import { commandOutput } from './command-output.js';
import type { BenchContext } from './context.js';
import { runRounds, samplesOf, type Variant } from './repeat.js';
import { atMost, metric, ratio, type CaseResult } from './report.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'remote-engine.sh');
const IMAGES = 'kiln-fixture/busybox:latest kiln-fixture/debian-gcc:bookworm';

/** Runs the remote engine's script; its stdout, or a rejection with its stderr. */
function script(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return commandOutput('bash', [SCRIPT, ...args], env);
}

/** `kiln run --progress json` in `cwd`: its wall time, the bytes its binds uploaded, its jobs' ends. */
function run(cwd: string, env: NodeJS.ProcessEnv): Promise<EventedRun> {
  return eventedRun({ args: [], cwd, env });
}

export async function benchRemoteEngine(context: BenchContext): Promise<CaseResult> {
  const wasRunning = await script(['status']).then(
    () => true,
    () => false,
  );
  context.log('remote-engine: starting engine C (its images are copied from this engine once)');
  const out = await script(['start'], { ...process.env, KILN_ENGINE_C_IMAGES: IMAGES });
  const value = (name: string) => new RegExp(`^${name}=(.+)$`, 'm').exec(out)?.[1] ?? '';
  const remoteEnv = {
    DOCKER_HOST: value('DOCKER_HOST'),
    DOCKER_TLS_VERIFY: value('DOCKER_TLS_VERIFY'),
    DOCKER_CERT_PATH: value('DOCKER_CERT_PATH'),
  };
  const dir = await mkdtemp(join(context.workDir, 'remote-'));
  const projects = { remote: join(dir, 'remote'), local: join(dir, 'local') };
  for (const project of Object.values(projects)) {
    await cp(join(REPO_ROOT, 'fixtures', 'example'), project, { recursive: true });
  }
  let states = 0;
  const envOf = (remote: boolean): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {
      ...context.env,
      KILN_STATE_DIR: join(dir, `state-${states++}`),
      EXAMPLE_PUBLISH_TOKEN: 'bench-token',
      KILN_ENGINE_REMOTE: '',
    };
    if (remote) Object.assign(env, remoteEnv);
    else for (const name of ['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']) delete env[name];
    return env;
  };
  const names = new Set<string>();
  /** A cold run (a new state folder, a tree no engine has seen), then the unchanged rerun. */
  const pair = async (side: 'remote' | 'local'): Promise<Record<string, number>> => {
    const project = projects[side];
    await writeFile(join(project, 'src', 'bench-token.txt'), `${Date.now()} ${Math.random()}\n`);
    const env = envOf(side === 'remote');
    const cold = await run(project, env);
    const unchanged = await run(project, env);
    names.add(`${side}\u0000${cold.project}`);
    if (unchanged.status.get('build') !== 'cached') throw new Error(`the unchanged ${side} run built again`);
    return side === 'remote'
      ? {
          coldRemote: cold.wallMs,
          unchangedRemote: unchanged.wallMs,
          uploaded: unchanged.uploadedBytes,
          coldBytes: cold.uploadedBytes,
        }
      : { coldLocal: cold.wallMs, unchangedLocal: unchanged.wallMs };
  };
  try {
    const variants: Variant[] = [
      { name: 'remote engine', run: () => pair('remote') },
      { name: 'local engine', run: () => pair('local') },
    ];
    const { samples, retries } = await runRounds(context, 'remote-engine', variants);
    const of = (key: string) => samplesOf(samples, key);
    const coldRemote = metric('cold run on the remote engine: wall', 'ms', of('coldRemote'));
    const coldLocal = metric('cold run on the local engine: wall', 'ms', of('coldLocal'));
    const unchangedRemote = metric('unchanged rerun on the remote engine: wall', 'ms', of('unchangedRemote'));
    const unchangedLocal = metric('unchanged rerun on the local engine: wall', 'ms', of('unchangedLocal'));
    const uploaded = metric('bytes uploaded by the unchanged rerun (goal 0)', 'B', of('uploaded'));
    const coldBytes = metric('bytes uploaded by the cold run', 'B', of('coldBytes'));
    const zero = of('uploaded').every((b) => b === 0);
    return {
      id: 'remote-engine',
      title: 'Remote engine: the example over TLS',
      setup:
        `the README's example (4 jobs, a bind of the project, a tmpfs, a secret, an output and an export) on ` +
        `engine C (scripts/remote-engine.sh: TLS on a loopback port, a mount namespace that hides the ` +
        `project) and on the local engine; a cold run then an unchanged rerun each; ${context.repetitions} ` +
        `repetitions, interleaved.`,
      params: { unchangedUploadsNothing: zero },
      metrics: [coldRemote, coldLocal, unchangedRemote, unchangedLocal, coldBytes, uploaded],
      ratios: [
        ratio('cold run: remote / local engine', coldRemote, coldLocal),
        ratio('unchanged rerun: remote / local engine', unchangedRemote, unchangedLocal, atMost(1.5)),
      ],
      notes: [
        `The unchanged rerun uploaded ${zero ? 'nothing, as it should' : 'bytes: the goal of 0 was missed'}.`,
        'Engine C runs on this machine: the ratios show what kiln adds (shipping the tree, the TLS connection, copying back), not a network.',
        ...retries,
      ],
    };
  } finally {
    await cleanUp(names, remoteEnv);
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    if (!wasRunning) await script(['stop']).catch(() => '');
  }
}

/** Removes what the bench's projects left on both engines (labelled with their project names). */
async function cleanUp(names: ReadonlySet<string>, remoteEnv: Record<string, string>): Promise<void> {
  for (const entry of names) {
    const [side, project] = entry.split('\u0000') as [string, string];
    const label = `dev.kiln.project=${project}`;
    const env = side === 'remote' ? { ...process.env, ...remoteEnv } : { ...process.env, DOCKER_HOST: '' };
    const docker = (args: string[]) =>
      new Promise<string>((resolve) => {
        const child = spawn('docker', args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', () => resolve(out));
        child.on('error', () => resolve(''));
      });
    const containers = (await docker(['ps', '-aq', '--filter', `label=${label}`]))
      .split('\n')
      .filter(Boolean);
    if (containers.length > 0) await docker(['rm', '-f', ...containers]);
    const volumes = (await docker(['volume', 'ls', '-q', '--filter', `label=${label}`]))
      .split('\n')
      .filter(Boolean);
    if (volumes.length > 0) await docker(['volume', 'rm', '-f', ...volumes]);
  }
}
