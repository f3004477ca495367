/**
 * Fixtures for the mounts and executor tests: compiled jobs and graphs built by hand, temporary folders,
 * an event recorder, and (for the integration tests) the real engine, test containers on it, and a small
 * exec helper.
 */
import Dockerode from 'dockerode';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import type { KilnEvent, Emit } from '../../src/events.js';
import { createEmitter } from '../../src/events.js';
import type { SecretSource } from '../../src/definition/types.js';
import type {
  BuildGraph,
  CompiledBindMount,
  CompiledCacheMount,
  CompiledContainerMount,
  CompiledJob,
  CompiledSecretMount,
  CompiledSshMount,
  CompiledStep,
  CompiledStepMount,
  CompiledTmpfsMount,
} from '../../src/graph/types.js';
import { Label } from '../../src/labels.js';
import { prepareMounts } from '../../src/mounts/prepare-mounts.js';
import type { PreparedMounts } from '../../src/mounts/types.js';
import { ReleaseStack } from '../../src/release.js';
import type { VolumeRuntime } from '../../src/runtime/volumes.js';
import type { DockerMount } from '../../src/runtime/containers.js';
import { createEngine, type Engine } from '../../src/runtime/engine.js';

export const FIXTURE_IMAGE = 'kiln-fixture/busybox:latest';
export const TEST_LABEL = 'dev.kiln.test';
export const TEST_LABELS = { [Label.managed]: 'true', [TEST_LABEL]: 'mounts' };

/** A fresh temporary folder (through symlinks), removed when the test ends. */
export async function tempDir(t: ExecutionContext, prefix = 'kiln-mounts-'): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), prefix)));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A unique project name, so a test's cache volumes can be found and removed. */
export function uniqueProject(prefix = 'mtest'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Compiled mounts as the compiler makes them, with its defaults; `extra` overrides any field. */
export function bindMount(
  source: string,
  target: string,
  extra: Partial<CompiledBindMount> = {},
): CompiledBindMount {
  return {
    type: 'bind',
    source,
    exclude: [],
    target,
    readonly: false,
    allowOutsideProject: false,
    allowDockerSocket: false,
    keepOwner: false,
    ...extra,
  };
}

export function cacheMount(id: string, extra: Partial<CompiledCacheMount> = {}): CompiledCacheMount {
  return { type: 'cache', id, target: `/${id}`, sharing: 'shared', readonly: false, ...extra };
}

export function tmpfsMount(target: string, extra: Partial<CompiledTmpfsMount> = {}): CompiledTmpfsMount {
  return { type: 'tmpfs', target, mode: 0o1777, ...extra };
}

export function secretMount(id: string, extra: Partial<CompiledSecretMount> = {}): CompiledSecretMount {
  return {
    type: 'secret',
    id,
    target: `/run/secrets/${id}`,
    mode: 0o400,
    uid: 0,
    gid: 0,
    required: true,
    ...extra,
  };
}

export function sshMount(id = 'default', extra: Partial<CompiledSshMount> = {}): CompiledSshMount {
  return { type: 'ssh', id, target: `/run/kiln/ssh-${id}.sock`, required: true, ...extra };
}

export function step(
  index: number,
  mounts: readonly CompiledStepMount[] = [],
  name = `step-${index + 1}`,
): CompiledStep {
  return {
    index,
    name,
    argv: ['/bin/sh', '-c', 'true'],
    display: 'true',
    env: {},
    workdir: '/',
    mounts,
    allowFailure: false,
  };
}

export function job(
  name: string,
  mounts: readonly CompiledContainerMount[],
  steps: readonly CompiledStep[] = [step(0)],
): CompiledJob {
  return {
    name,
    image: FIXTURE_IMAGE,
    workdir: '/',
    env: {},
    shell: ['/bin/sh', '-c'],
    needs: [],
    mounts,
    steps,
    outputs: [],
    reuse: false,
  };
}

export function graph(
  projectDir: string,
  project: string,
  jobs: readonly CompiledJob[],
  secrets: Record<string, SecretSource> = {},
): BuildGraph {
  return {
    projectDir,
    project,
    secrets,
    jobs: new Map(jobs.map((j) => [j.name, j])),
    order: jobs.map((j) => j.name),
  };
}

/** Records events; `emit` stamps them like the real emitter. */
export function recorder(): { events: KilnEvent[]; emit: Emit } {
  const events: KilnEvent[] = [];
  return { events, emit: createEmitter((e) => events.push(e)) };
}

export interface MountsProjectOptions {
  /** Where cache volumes go: the real engine's, or in-memory ones. */
  readonly volumes: VolumeRuntime;
  /** kiln's environment (the state folder is the project's own `.state`). */
  readonly env?: NodeJS.ProcessEnv;
  readonly runId?: string;
  /** Default: a unique name (see uniqueProject). */
  readonly project?: string;
  /** Default: kiln's (see PlanMountsContext). */
  readonly dockerSocketPaths?: readonly string[];
}

export interface PrepareOptions {
  readonly steps?: readonly CompiledStep[];
  readonly secrets?: Record<string, SecretSource>;
  readonly signal?: AbortSignal;
}

/**
 * A project folder with a state folder of its own, and `prepare`, which prepares the mounts of one job
 * of it as a run would, on a release stack of its own (released at the end of the test at the latest;
 * `stacks` holds them all, the last one even when prepare threw). `events` collects every job's events;
 * `eventWhere` waits for one.
 */
export async function mountsProject(t: ExecutionContext, options: MountsProjectOptions) {
  const dir = await tempDir(t);
  const project = options.project ?? uniqueProject();
  const state = join(dir, '.state');
  const env = { KILN_STATE_DIR: state, ...options.env };
  const events: KilnEvent[] = [];
  const waiting: Array<{ wanted: (e: KilnEvent) => boolean; resolve: (e: KilnEvent) => void }> = [];
  const emit = createEmitter((event) => {
    events.push(event);
    for (const w of waiting.splice(0)) {
      if (w.wanted(event)) w.resolve(event);
      else waiting.push(w);
    }
  });
  /** The first event, already told or to come, for which `wanted` holds. */
  const eventWhere = (wanted: (e: KilnEvent) => boolean): Promise<KilnEvent> => {
    const told = events.find(wanted);
    return told ? Promise.resolve(told) : new Promise((resolve) => waiting.push({ wanted, resolve }));
  };
  const stacks: ReleaseStack[] = [];
  const prepare = async (
    name: string,
    mounts: readonly CompiledContainerMount[],
    more: PrepareOptions = {},
  ): Promise<{ prepared: PreparedMounts; stack: ReleaseStack; job: CompiledJob }> => {
    const stack = new ReleaseStack();
    stacks.push(stack);
    t.teardown(() => stack.release());
    const j = job(name, mounts, more.steps);
    const prepared = await prepareMounts(j, {
      volumes: options.volumes,
      graph: graph(dir, project, [j], more.secrets),
      runId: options.runId ?? 'run-it',
      emit,
      stack,
      signal: more.signal ?? new AbortController().signal,
      env,
      ...(options.dockerSocketPaths ? { dockerSocketPaths: options.dockerSocketPaths } : {}),
    });
    return { prepared, stack, job: j };
  };
  return { dir, project, state, env, events, eventWhere, stacks, prepare };
}

// ---- real engine --------------------------------------------------------------------------------

/** The real engine: kiln's implementations of the runtime interfaces, and `docker` for the tests' own calls. */
export function engine(): Engine & { readonly docker: Dockerode } {
  return { ...createEngine(), docker: new Dockerode() };
}

export interface TestContainerOptions {
  readonly mounts?: readonly DockerMount[];
  readonly tmpfs?: Readonly<Record<string, string>>;
}

/** Starts a busybox container that sleeps, with these mounts; removed (with force) when the test ends. */
export async function startContainer(
  t: ExecutionContext,
  docker: Dockerode,
  options: TestContainerOptions,
): Promise<Dockerode.Container> {
  const container = await docker.createContainer({
    Image: FIXTURE_IMAGE,
    Entrypoint: ['/bin/sh'],
    Cmd: ['-c', 'sleep 3600'],
    Labels: TEST_LABELS,
    HostConfig: {
      Mounts: (options.mounts ?? []).map((m) => ({ ...m })) as Dockerode.MountSettings[],
      ...(options.tmpfs ? { Tmpfs: { ...options.tmpfs } } : {}),
    },
  });
  t.teardown(() => container.remove({ force: true }).catch(() => undefined));
  await container.start();
  return container;
}

export interface ExecResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs argv in the container and collects its output and exit code. */
export async function execIn(
  container: Dockerode.Container,
  argv: readonly string[],
  options: { env?: Record<string, string>; user?: string } = {},
): Promise<ExecResult> {
  const exec = await container.exec({
    Cmd: [...argv],
    AttachStdout: true,
    AttachStderr: true,
    Env: Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(options.user ? { User: options.user } : {}),
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  container.modem.demuxStream(stream, stdout, stderr);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  const info = await exec.inspect();
  return {
    exitCode: info.ExitCode,
    stdout: Buffer.concat(out).toString(),
    stderr: Buffer.concat(err).toString(),
  };
}

/** Removes every volume of a test project (cache volumes carry the project label). */
export async function removeProjectVolumes(docker: Dockerode, project: string): Promise<void> {
  const { Volumes } = await docker.listVolumes({ filters: { label: [`${Label.project}=${project}`] } });
  await Promise.all(
    (Volumes ?? []).map((v) =>
      docker
        .getVolume(v.Name)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}
