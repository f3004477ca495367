/**
 * Runs the real `kiln` binary in a temporary project, as a user would, and reads back its events.
 * Everything a test creates is labelled with its project and swept by `sweepProjects`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';

export const BUSYBOX = 'kiln-fixture/busybox:latest';
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const kilnBin = join(repoRoot, 'bin', 'kiln.js');
export const docker = new Docker({ socketPath: '/var/run/docker.sock' });

export interface KilnRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly events: Array<Record<string, any>>;
}

export interface Project {
  readonly dir: string;
  readonly file: string;
  readonly stateDir: string;
}

const made: string[] = [];

/** A temp project folder with the given kiln.yaml (and extra files). */
export async function makeProject(yaml: string, files: Record<string, string> = {}): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-test-'));
  made.push(dir);
  const file = join(dir, 'kiln.yaml');
  await writeFile(file, yaml);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return { dir, file, stateDir: join(dir, '.kiln-state') };
}

export function startKiln(
  project: Project,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; done: Promise<KilnRun> } {
  const child = spawn(process.execPath, [kilnBin, ...args], {
    cwd: project.dir,
    env: { ...process.env, KILN_STATE_DIR: project.stateDir, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, done: collectRun(child, args.includes('--json')) };
}

/** What a kiln child (stdout and stderr piped) said, once it closes; with its events if `json`. */
export function collectRun(child: ChildProcess, json: boolean): Promise<KilnRun> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise<KilnRun>((resolvePromise) => {
    child.on('close', (code, signal) => {
      const events = json
        ? stdout
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .map((l) => JSON.parse(l) as Record<string, any>)
        : [];
      resolvePromise({ code, signal, stdout, stderr, events });
    });
  });
}

export function kiln(
  project: Project,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<KilnRun> {
  return startKiln(project, args, env).done;
}

/** The concatenated output of one step's stream. */
export function outputOf(
  run: KilnRun,
  job: string,
  step: string,
  stream: 'stdout' | 'stderr' = 'stdout',
): string {
  return run.events
    .filter((e) => e.type === 'step.output' && e.job === job && e.step === step && e.stream === stream)
    .map((e) => e.data as string)
    .join('');
}

export function eventsOf(run: KilnRun, type: string): Array<Record<string, any>> {
  return run.events.filter((e) => e.type === type);
}

/** kiln containers whose project label starts with the project's folder name. */
export async function containersOf(project: Project, all = true): Promise<Docker.ContainerInfo[]> {
  const list = await docker.listContainers({ all, filters: { label: ['dev.kiln.managed=true'] } });
  const base = project.dir.split('/').pop()!.toLowerCase();
  return list.filter((c) => (c.Labels['dev.kiln.project'] ?? '').startsWith(base));
}

/** Removes every container and volume the test projects made, and their folders. */
export async function sweepProjects(): Promise<void> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: ['dev.kiln.managed=true'] },
  });
  const volumes = (await docker.listVolumes({ filters: { label: ['dev.kiln.managed=true'] } })).Volumes ?? [];
  const bases = made.map((d) => d.split('/').pop()!.toLowerCase());
  const ours = (labels: Record<string, string> | undefined) =>
    bases.some((b) => (labels?.['dev.kiln.project'] ?? '').startsWith(b));
  await Promise.all(
    containers
      .filter((c) => ours(c.Labels))
      .map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => {}),
      ),
  );
  await Promise.all(
    volumes
      .filter((v) => ours(v.Labels))
      .map((v) =>
        docker
          .getVolume(v.Name)
          .remove()
          .catch(() => {}),
      ),
  );
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export { sleep };

/** Waits until `predicate` holds, polling; fails after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  describe: () => string = () => '',
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await predicate()) return;
    await sleep(50);
  }
  throw new Error(`condition not met in ${timeoutMs} ms${describe() ? `; saw:\n${describe()}` : ''}`);
}

/** The bytes of every step log of the project's runs (under its state folder's `runs/`). */
async function stepLogBytes(project: Project): Promise<number> {
  const entries = await readdir(join(project.stateDir, 'runs'), { recursive: true }).catch(() => []);
  const sizes = await Promise.all(
    entries
      .filter((e) => e.endsWith('.log'))
      .map((e) =>
        stat(join(project.stateDir, 'runs', e)).then(
          (s) => s.size,
          () => 0,
        ),
      ),
  );
  return sizes.reduce((sum, n) => sum + n, 0);
}

/**
 * Resolves once kiln has stopped reading step output: its step logs have grown, then kept their size for
 * `quietMs` (kiln writes them at the pace of its slowest reader, so they stall when a reader does).
 */
export async function outputStalled(project: Project, quietMs = 1000, timeoutMs = 60_000): Promise<void> {
  let last = -1;
  let since = Date.now();
  await waitFor(
    async () => {
      const bytes = await stepLogBytes(project);
      if (bytes !== last) [last, since] = [bytes, Date.now()];
      return bytes > 0 && Date.now() - since >= quietMs;
    },
    timeoutMs,
    () => `step logs at ${last} bytes, still growing`,
  );
}

/**
 * Starts kiln and resolves once its stdout shows `marker` (e.g. a step's output in --json mode); `seen()` is
 * its stdout so far.
 */
export async function startKilnUntil(
  project: Project,
  args: readonly string[],
  marker: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; done: Promise<KilnRun>; seen(): string }> {
  const started = startKiln(project, args, env);
  let seen = '';
  started.child.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
  await waitFor(
    () => seen.includes(marker),
    60_000,
    () => seen,
  );
  return { ...started, seen: () => seen };
}

/** Follows the peak resident memory (VmHWM) of a running process; `stop()` returns it in KiB. */
export function watchPeakRss(pid: number): { stop(): number } {
  let peakKb = 0;
  const read = () => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      // the process has ended
    }
  };
  const poll = setInterval(read, 100);
  return {
    stop() {
      clearInterval(poll);
      return peakKb;
    },
  };
}

/** The names of the job cache's output volumes a project's runs made on an engine. */
export async function resultVolumesOf(project: Project, engine: Docker = docker): Promise<string[]> {
  const base = project.dir.split('/').pop()!.toLowerCase();
  const volumes = (await engine.listVolumes({ filters: { label: ['dev.kiln.scope=result'] } })).Volumes ?? [];
  return volumes.filter((v) => (v.Labels?.['dev.kiln.project'] ?? '').startsWith(base)).map((v) => v.Name);
}

/** Each job's `job.cache` event of a `--json` run, by job. */
export function jobCacheOf(run: KilnRun): Map<string, Record<string, any>> {
  return new Map(eventsOf(run, 'job.cache').map((e) => [e.job as string, e]));
}

/** A job's status in the `job.end` event of a `--json` run (undefined if it never ended). */
export function statusOf(run: KilnRun, job: string): string | undefined {
  return eventsOf(run, 'job.end').find((e) => e.job === job)?.status;
}
