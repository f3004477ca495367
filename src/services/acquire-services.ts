/**
 * A job's services: their images resolved and their cache volumes made, then a network of the job's own, then each service's
 * container on it (answering to its name and aliases), started, its output streamed as `service.output`
 * events. Every acquire pushes its release, so that LIFO order removes the job's container (pushed
 * later), then the services (TERM, the grace period, KILL, then removal), then the network. The caller
 * makes the job's container join `network`, then awaits `ready` before the first step.
 */
import { StringDecoder } from 'node:string_decoder';
import { cancelledError, ServiceError } from '../errors.js';
import type { Emit } from '../events.js';
import type { CompiledJob, CompiledService } from '../graph/types.js';
import { Label } from '../labels.js';
import { tmpfsOptions } from '../mounts/tmpfs-mounts.js';
import type { ReleaseStack } from '../release.js';
import type { Engine } from '../runtime/engine.js';
import { resolveImage, type ImageRuntime } from '../runtime/images.js';
import { jobHostname } from '../graph/compile-services.js';
import { waitUntilReady, type WaitingService } from './readiness.js';
import { acquireServiceNetwork, serviceLabels, serviceNetworkName } from './service-network.js';
import { LogTail } from './log-tail.js';
import { acquireServiceCaches, serviceCacheMounts } from './service-caches.js';
import type { AcquireMountsContext } from '../mounts/kinds/index.js';
import type { DockerMount } from '../runtime/containers.js';

/** How many of a failed service's last lines of output its error shows. */
export const FAILED_SERVICE_LINES = 20;

/** How long a service that exited is given for the rest of its output to arrive, at most. */
const LAST_OUTPUT_MS = 2_000;

export interface ServicesContext {
  readonly engine: Pick<Engine, 'containers' | 'exec' | 'networks'>;
  readonly images: ImageRuntime;
  readonly project: string;
  readonly runId: string;
  readonly emit: Emit;
  readonly stack: ReleaseStack;
  /** Cancels the wait for readiness. */
  readonly signal: AbortSignal;
  /** Aborted: the services are killed at release, without the grace period. */
  readonly killSignal: AbortSignal;
  /** How long a service is given to stop after TERM, before KILL, in ms. */
  readonly graceMs: number;
  /** What the services' cache volumes are acquired with (as a job's mounts are). */
  readonly mounts: AcquireMountsContext;
}

/** The services of a job, started (see acquireServices). */
export interface JobServices {
  /** The network the job's container joins. */
  readonly network: string;
  /** The names the job's container answers to there (its job's name, when that is a host name). */
  readonly aliases: readonly string[];
  /**
   * Waits until every service is ready, checking ports from the job's container; throws a ServiceError
   * (with the service's last lines of output) for the first that exits or never becomes ready.
   */
  ready(jobContainerId: string): Promise<void>;
}

/** A running service of this job. */
interface Running extends WaitingService {
  readonly tail: LogTail;
  /** Resolves once its output has ended (it stopped, or the release stopped reading it). */
  readonly output: Promise<void>;
  failed: boolean;
}

/** Starts the job's services (none: undefined); see the module's comment. */
export async function acquireServices(
  job: CompiledJob,
  ctx: ServicesContext,
): Promise<JobServices | undefined> {
  const specs = job.services ?? [];
  if (specs.length === 0) return undefined;
  const imageIds = await Promise.all(specs.map((s) => resolveImage(ctx.images, s.image, job.name)));
  if (ctx.signal.aborted) throw cancelledError(ctx.signal);
  const caches = await acquireServiceCaches(
    job,
    specs.flatMap((s) => s.caches),
    ctx.mounts,
  );
  const labels = serviceLabels(ctx.project, job.name, ctx.runId);
  const network = serviceNetworkName(ctx.runId, job.name);
  await acquireServiceNetwork(ctx.engine, ctx.stack, labels, network);
  const running: Running[] = [];
  for (const [i, spec] of specs.entries()) {
    if (ctx.signal.aborted) throw cancelledError(ctx.signal);
    const mounts = serviceCacheMounts(spec.caches, caches);
    running.push(await startService(job.name, spec, imageIds[i]!, mounts, network, labels, ctx));
  }
  const hostname = jobHostname(job.name);
  return {
    network,
    aliases: hostname !== undefined ? [hostname] : [],
    ready: (jobContainerId) => allReady(job.name, running, jobContainerId, ctx),
  };
}

async function startService(
  job: string,
  spec: CompiledService,
  imageId: string,
  mounts: readonly DockerMount[],
  network: string,
  labels: Readonly<Record<string, string>>,
  ctx: ServicesContext,
): Promise<Running> {
  const { containers } = ctx.engine;
  const description = `service ${spec.name} of job ${job}`;
  const id = await containers.create({
    image: imageId,
    ...(spec.entrypoint ? { entrypoint: spec.entrypoint.length > 0 ? spec.entrypoint : [''] } : {}),
    ...(spec.command ? { cmd: spec.command } : {}),
    env: spec.env,
    ...(spec.user !== undefined ? { user: spec.user } : {}),
    labels: { ...labels, [Label.service]: spec.name },
    mounts,
    tmpfs: Object.fromEntries(spec.tmpfs.map((t) => [t.target, tmpfsOptions(t)])),
    network,
    networkAliases: [spec.name, ...spec.aliases],
    stopTimeoutS: graceSeconds(ctx.graceMs),
    description: `the container of ${description}`,
  });
  const reading = new AbortController();
  const tail = new LogTail(FAILED_SERVICE_LINES);
  let startedAt = Date.now();
  let output: Promise<void> = Promise.resolve();
  const service: Running = {
    spec,
    containerId: id,
    get startedAt() {
      return startedAt;
    },
    tail,
    get output() {
      return output;
    },
    failed: false,
  };
  ctx.stack.push('service', `${job}:${spec.name}`, () => releaseService(job, service, reading, ctx));
  await containers.start(id, `the container of ${description} (image ${spec.image})`);
  startedAt = Date.now();
  ctx.emit({ type: 'service.start', job, service: spec.name, image: spec.image, container: id.slice(0, 12) });
  // One decoder per stream: a character split between two chunks comes out whole.
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  output = containers
    .follow(
      id,
      (stream, chunk) => {
        const data = decoders[stream].write(chunk);
        if (data === '') return;
        tail.push(data);
        ctx.emit({ type: 'service.output', job, service: spec.name, stream, data });
      },
      reading.signal,
    )
    .catch(() => {});
  return service;
}

/** Stops the service (TERM, the grace period, KILL; at once after a second interrupt), then removes it. */
async function releaseService(
  job: string,
  service: Running,
  reading: AbortController,
  ctx: ServicesContext,
): Promise<void> {
  const { containers } = ctx.engine;
  let exitCode: number | undefined;
  try {
    if (!ctx.killSignal.aborted) {
      // A service that is no longer running exited on its own while the job ran: it failed.
      const before = await containers.inspect(service.containerId).catch(() => undefined);
      if (before !== undefined && !before.running && !service.failed) {
        service.failed = true;
        ctx.emit({
          type: 'warning',
          job,
          message:
            `service ${service.spec.name} exited on its own, with code ${before.exitCode ?? 'unknown'}, ` +
            `while the job ran; its output is in its log`,
        });
      }
      if (before?.running)
        await containers.stop(service.containerId, graceSeconds(ctx.graceMs)).catch(() => {});
      exitCode = (await containers.inspect(service.containerId).catch(() => undefined))?.exitCode;
    }
    await withinMs(service.output, LAST_OUTPUT_MS);
  } finally {
    reading.abort();
    await containers.remove(service.containerId, `the container of service ${service.spec.name}`);
    ctx.emit({
      type: 'service.end',
      job,
      service: service.spec.name,
      status: service.failed ? 'failed' : 'stopped',
      ...(exitCode !== undefined ? { exitCode } : {}),
      durationMs: Date.now() - service.startedAt,
    });
  }
}

/** Waits for every service at once; the first that fails stops the others' waits. */
async function allReady(
  job: string,
  services: readonly Running[],
  jobContainerId: string,
  ctx: ServicesContext,
): Promise<void> {
  const local = new AbortController();
  const signal = AbortSignal.any([ctx.signal, local.signal]);
  await Promise.all(
    services.map(async (service) => {
      try {
        await waitUntilReady(service, jobContainerId, { engine: ctx.engine, job, signal });
        ctx.emit({
          type: 'service.ready',
          job,
          service: service.spec.name,
          durationMs: Date.now() - service.startedAt,
        });
      } catch (error) {
        if (ctx.signal.aborted) throw cancelledError(ctx.signal);
        if (local.signal.aborted) return; // another service failed first
        local.abort();
        if (!(error instanceof ServiceError)) throw error;
        service.failed = true;
        throw await withLastLines(error, service);
      }
    }),
  );
  if (ctx.signal.aborted) throw cancelledError(ctx.signal);
}

/**
 * The error, once the service's output is all in when it exited (the summary shows its last lines), with
 * those lines on it for a caller of the API.
 */
async function withLastLines(error: ServiceError, service: Running): Promise<ServiceError> {
  if (/exited with code|is gone/.test(error.message)) await withinMs(service.output, LAST_OUTPUT_MS);
  error.lastLines = service.tail.lines();
  return error;
}

function graceSeconds(graceMs: number): number {
  return Math.max(0, Math.ceil(graceMs / 1000));
}

async function withinMs(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
