/**
 * Fixtures for the mounts tests: compiled jobs and graphs built by hand, temporary folders, an event
 * recorder, and (for the integration tests) test containers on the real engine with a small exec helper.
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
  CompiledContainerMount,
  CompiledJob,
  CompiledStep,
  CompiledStepMount,
} from '../../src/graph/types.js';
import { Label } from '../../src/labels.js';
import type { DockerMount } from '../../src/mounts/types.js';

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

/** A Docker client for an engine that does not exist: proves a code path makes no Docker call. */
export function unreachableDocker(): Dockerode {
  return new Dockerode({ socketPath: '/nonexistent/kiln-test-docker.sock' });
}

// ---- real engine --------------------------------------------------------------------------------

export function engine(): Dockerode {
  return new Dockerode();
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
