/**
 * Bind sources on an engine that does not see this host's files (`Engine.remote`): their content travels
 * to the engine as a tar stream into a volume, and only when the engine does not hold that content yet.
 *
 * A source volume is keyed by the content digest of the bind source (the job cache's digest, see
 * results/tree-digest.ts), in two volumes, because a volume's labels cannot change once it is made:
 * - the content, `kiln-source-<digest prefix>-<random>`, labelled `dev.kiln.scope=source`, the digest, and
 *   the run, pid and host of the kiln that uploads it (made empty, then filled through a container that is
 *   never started);
 * - its completion mark, `kiln-source-<digest>`, made only once the upload is complete, whose
 *   `dev.kiln.content` label names the content volume. A content volume without a mark is an upload that
 *   did not finish: it is never mounted, and `kiln prune` removes it once its kiln is gone.
 * So an unchanged source is found by its digest with one inspect, and sent again only when its mark (or
 * the volume it names) is missing. Two kilns that upload the same digest at once both upload; the first
 * mark wins and the other's content volume is removed. `kiln prune` removes a mark before its content
 * and never content that a container uses; a run that found a mark in the instant before would mount a
 * volume that is gone, which the engine makes anew, empty: executor/acquire-container.ts checks for that
 * once the container exists, and fails the job.
 *
 * A read-write bind gets a run-scoped copy instead (`dev.kiln.scope=run`, swept with its run), which is
 * read back when the job ends (mounts/ship-binds.ts).
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Label, ownerIsGone, ownerLabels } from '../labels.js';
import type { DockerMount } from './containers.js';
import type { Engine } from './engine.js';
import { createReaderContainer, outputMount } from './output-volumes.js';
import { liveKeepers } from './sweep.js';
import { KILN_VERSION } from './version.js';

/** The names of source volumes (content and marks) start so. */
export const SOURCE_VOLUME_PREFIX = 'kiln-source-';

/** Where the volume is mounted in the container that fills or reads it. */
const STAGING_PATH = '/kiln-source';

/** The completion mark's name for a digest (`sha256:<hex>`). */
export function sourceMarkName(digest: string): string {
  return `${SOURCE_VOLUME_PREFIX}${digest.replace(/^sha256:/, '')}`;
}

/**
 * The mount of a source volume: an output's (never filled from the image), read-only unless it is a
 * run's copy.
 */
export const sourceMount: (volume: string, target: string, readonly: boolean) => DockerMount = outputMount;

/** The content volume of a digest when a complete one is on the engine, else undefined. */
export async function findSourceVolume(engine: Engine, digest: string): Promise<string | undefined> {
  const mark = await engine.volumes.inspect(sourceMarkName(digest));
  if (mark === undefined) return undefined;
  const content = mark.labels[Label.content];
  if (content !== undefined && mark.labels[Label.digest] === digest) {
    const found = await engine.volumes.inspect(content);
    if (found !== undefined && found.labels[Label.digest] === digest) return content;
  }
  // A mark whose content is gone (removed by hand): it marks nothing.
  await engine.volumes.remove(sourceMarkName(digest));
  return undefined;
}

export interface ShipOptions {
  /** The content digest of what `tar` carries. */
  readonly digest: string;
  /** A tar stream of the tree, its paths relative to the volume's root. */
  readonly tar: () => Readable;
  /** An image present on the engine (the job's, by ID), for the container that is never started. */
  readonly image: string;
  readonly runId: string;
  readonly project: string;
  readonly job: string;
}

export interface Shipped {
  readonly volume: string;
  /** Bytes of the tar stream sent to the engine: 0 when the content was there already. */
  readonly uploadedBytes: number;
}

/** The content volume of `digest`: found on the engine, or uploaded now and marked complete. */
export async function shipSource(engine: Engine, options: ShipOptions): Promise<Shipped> {
  const found = await findSourceVolume(engine, options.digest);
  if (found !== undefined) return { volume: found, uploadedBytes: 0 };
  const hex = options.digest.replace(/^sha256:/, '');
  const volume = `${SOURCE_VOLUME_PREFIX}${hex.slice(0, 16)}-${randomBytes(6).toString('hex')}`;
  const labels = {
    ...ownerLabels(options.runId),
    [Label.scope]: 'source',
    [Label.digest]: options.digest,
    [Label.project]: options.project,
    [Label.version]: KILN_VERSION,
  };
  await engine.volumes.create(volume, labels, `the volume of bind source ${hex.slice(0, 12)}`);
  let uploadedBytes: number;
  try {
    uploadedBytes = await fillVolume(engine, volume, options);
  } catch (error) {
    await engine.volumes.remove(volume).catch(() => undefined);
    throw error;
  }
  await engine.volumes.create(
    sourceMarkName(options.digest),
    {
      [Label.managed]: 'true',
      [Label.scope]: 'source',
      [Label.digest]: options.digest,
      [Label.content]: volume,
      // The project that made it (another project with the same content uses it all the same).
      [Label.project]: options.project,
      [Label.version]: KILN_VERSION,
    },
    `the completion mark of bind source ${hex.slice(0, 12)}`,
  );
  // The mark that stands names the content to use: another kiln may have marked the same content first
  // (an engine may answer a second create of a name as if it made it).
  const marked = await findSourceVolume(engine, options.digest);
  if (marked !== undefined && marked !== volume) {
    await engine.volumes.remove(volume).catch(() => undefined);
    return { volume: marked, uploadedBytes };
  }
  return { volume, uploadedBytes };
}

/**
 * Makes a run-scoped volume holding `tar` (a read-write bind's copy), removed with its run; returns its
 * name and the bytes sent. Removing it is the caller's.
 */
export async function createRunCopy(
  engine: Engine,
  options: Omit<ShipOptions, 'digest'> & { readonly target: string },
): Promise<Shipped> {
  const volume = `kiln-bind-${randomBytes(8).toString('hex')}`;
  await engine.volumes.create(
    volume,
    {
      ...ownerLabels(options.runId),
      [Label.scope]: 'run',
      [Label.project]: options.project,
      [Label.job]: options.job,
      [Label.version]: KILN_VERSION,
    },
    `the copy of read-write bind ${options.target} of job ${options.job}`,
  );
  try {
    return { volume, uploadedBytes: await fillVolume(engine, volume, options) };
  } catch (error) {
    await engine.volumes.remove(volume).catch(() => undefined);
    throw error;
  }
}

/** Fills a volume with a tar stream through a container that is never started; the bytes sent. */
async function fillVolume(
  engine: Engine,
  volume: string,
  options: Omit<ShipOptions, 'digest'>,
): Promise<number> {
  const writer = await createReaderContainer(engine, {
    image: options.image,
    runId: options.runId,
    project: options.project,
    job: options.job,
    mounts: [{ volume, target: STAGING_PATH }],
    writable: true,
  });
  try {
    let bytes = 0;
    const counted = new PassThrough();
    counted.on('data', (chunk: Buffer) => (bytes += chunk.length));
    const source = options.tar();
    const [packed, put] = await Promise.allSettled([
      pipeline(source, counted),
      engine.containers.putArchive(writer.id, STAGING_PATH, counted),
    ]);
    // The stream's own fault (a file that changed as it was read) says more than the upload it cut off.
    if (packed.status === 'rejected') throw packed.reason;
    if (put.status === 'rejected') throw put.reason;
    return bytes;
  } finally {
    await writer.remove();
  }
}

/**
 * Reads a volume back as a tar stream (its entries under one root folder, as Docker's archive gives
 * them), through a container that is never started. `done()` removes the container once the stream was
 * read.
 */
export async function readVolume(
  engine: Engine,
  volume: string,
  options: { readonly image: string; readonly runId: string; readonly project: string; readonly job: string },
): Promise<{ readonly archive: Readable; done(): Promise<void> }> {
  const reader = await createReaderContainer(engine, {
    ...options,
    mounts: [{ volume, target: STAGING_PATH }],
  });
  try {
    const archive = await engine.containers.archive(reader.id, STAGING_PATH);
    return { archive, done: () => reader.remove() };
  } catch (error) {
    await reader.remove();
    throw error;
  }
}

/** A source volume (content or mark) as `kiln prune` sees it. */
export interface SourceVolumeInfo {
  readonly name: string;
  readonly digest: string;
  /** When it was made, ms since the epoch (0 when the engine does not say). */
  readonly createdMs: number;
}

export interface PruneSourcesOptions {
  /** Remove the complete ones made longer ago than this. */
  readonly olderThanMs: number;
  /** Every one that no container uses. Default false. */
  readonly all?: boolean;
  readonly dryRun?: boolean;
  /** Only those made by this project (`kiln prune --project`). Default: every project's. */
  readonly project?: string;
  readonly now?: number;
}

/**
 * Removes source volumes made longer ago than `olderThanMs` (or all with `all`), mark first so that no
 * kiln finds content that is about to go, and content volumes whose upload never finished and whose kiln
 * is gone. One that a container uses is kept. Returns what was (or would be) removed.
 */
export async function pruneSourceVolumes(
  engine: Engine,
  options: PruneSourcesOptions,
): Promise<{ readonly removed: SourceVolumeInfo[]; readonly kept: SourceVolumeInfo[] }> {
  const now = options.now ?? Date.now();
  const volumes = (await engine.volumes.list([`${Label.managed}=true`, `${Label.scope}=source`])).filter(
    (v) => options.project === undefined || v.labels[Label.project] === options.project,
  );
  // Looked up after the volumes were listed: a run that starts meanwhile has a keeper of its own.
  const live = await liveKeepers(engine);
  const marks = volumes.filter((v) => v.labels[Label.content] !== undefined);
  const marked = new Set(marks.map((m) => m.labels[Label.content]!));
  const info = (v: (typeof volumes)[number]): SourceVolumeInfo => ({
    name: v.name,
    digest: v.labels[Label.digest] ?? '',
    createdMs: v.createdAt ? Date.parse(v.createdAt) || 0 : 0,
  });
  const removed: SourceVolumeInfo[] = [];
  const kept: SourceVolumeInfo[] = [];
  const usage = await engine.volumes.usage().catch(() => new Map<string, { containers: number }>());
  for (const mark of marks) {
    const content = mark.labels[Label.content]!;
    const old = options.all || now - info(mark).createdMs > options.olderThanMs;
    if (!old) continue;
    if ((usage.get(content)?.containers ?? 0) > 0) {
      kept.push(info(mark));
      continue;
    }
    removed.push(info(mark));
    if (options.dryRun) continue;
    await engine.volumes.remove(mark.name);
    if ((await engine.volumes.remove(content)) === 'in-use') kept.push(info(mark));
  }
  for (const v of volumes) {
    if (v.labels[Label.content] !== undefined || marked.has(v.name) || !ownerIsGone(v.labels, live)) {
      continue;
    }
    removed.push(info(v));
    if (!options.dryRun) await engine.volumes.remove(v.name);
  }
  return { removed, kept };
}
