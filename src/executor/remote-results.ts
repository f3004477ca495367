/**
 * The shared job cache in a run: looking a key up after a local miss, downloading a result into fresh
 * volumes on this engine (each blob checked against its sha256, each output against its content digest,
 * then sealed in the local store), and uploading what the run sealed (blobs first, then the entry, so
 * that a reader never sees an entry whose blobs are missing).
 *
 * A shared cache never fails a build: its first fault is one warning for the run, after which the run
 * carries on as if there were none. A bad entry or blob is a warning and a miss, never used.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, deflateRawSync } from 'node:zlib';
import type { Emit } from '../events.js';
import {
  decodeEntry,
  encodeEntry,
  REMOTE_FORMAT,
  RemoteCacheError,
  type KeyInputs,
  type RemoteEntry,
  type RemoteOutput,
  type RemoteSettings,
  type ResultStore,
  type StoredResult,
  type TarListing,
  tarDigest,
} from '../results/index.js';
import type { LockOwner } from '../lock-files.js';
import type { Engine } from '../runtime/engine.js';
import { createOutputVolume, createReaderContainer, removeOutputVolume } from '../runtime/output-volumes.js';

export interface RemoteResultsOptions {
  readonly engine: Engine;
  readonly store: ResultStore;
  readonly settings: RemoteSettings;
  /** Warnings: the run's first fault of the shared cache, bad entries and blobs. */
  readonly emit: Emit;
}

/** Where a download goes. */
export interface DownloadTarget {
  readonly project: string;
  readonly job: string;
  readonly runId: string;
  /** An image on the engine (the job's, by ID) for the container that fills the volumes. */
  readonly imageId: string;
  readonly owner: LockOwner;
}

export class RemoteResults {
  readonly #options: RemoteResultsOptions;
  /** Set at the first fault: the rest of the run goes without the shared cache. */
  #down = false;
  readonly #uploads: Promise<void>[] = [];
  readonly #refused = new Set<string>();

  constructor(options: RemoteResultsOptions) {
    this.#options = options;
  }

  get description(): string {
    return this.#options.settings.cache.description;
  }

  /**
   * Stops using the key's entry on this machine (its download could not be used when a job needed it):
   * the next run builds the job and its upload replaces the entry.
   */
  refuse(key: string): void {
    this.#refused.add(key);
    void writeFile(this.#refusedPath(key), '').catch(() => {});
  }

  #refusedPath(key: string): string {
    return join(this.#options.store.dir, 'remote-refused', key.slice('sha256:'.length));
  }

  /** The key's entry in the shared cache, when it has a sound one. */
  async lookup(key: string, job: string, signal?: AbortSignal): Promise<RemoteEntry | undefined> {
    if (this.#down || this.#refused.has(key)) return undefined;
    if (
      await stat(this.#refusedPath(key)).then(
        () => true,
        () => false,
      )
    ) {
      // Refused once: used again only after this run's own upload of the key replaced it.
      await rm(this.#refusedPath(key), { force: true });
      return undefined;
    }
    const { cache, signingKey } = this.#options.settings;
    let data: Buffer | undefined;
    try {
      data = await cache.getEntry(key, signal);
    } catch (error) {
      this.#fault(error, signal);
      return undefined;
    }
    if (data === undefined) return undefined;
    const entry = decodeEntry(data, key, signingKey);
    if (typeof entry === 'string') {
      this.#options.emit({
        type: 'warning',
        job,
        message: `the shared cache's result for this job's key is not used: ${entry}`,
      });
      return undefined;
    }
    return entry;
  }

  /**
   * Downloads an entry's outputs into fresh volumes, checks them, and seals them in the local store.
   * Undefined (with a warning) when a blob is missing or does not match; the volumes are then removed.
   */
  async download(
    entry: RemoteEntry,
    target: DownloadTarget,
    signal?: AbortSignal,
  ): Promise<StoredResult | undefined> {
    const { engine, store } = this.#options;
    const volumes: string[] = [];
    const temps: string[] = [];
    let sealed = false;
    try {
      const outputs = [];
      for (const output of entry.outputs) {
        const temp = await this.#fetchBlob(output, target.job, signal);
        if (temp === undefined) return undefined;
        temps.push(temp);
        const volume = await createOutputVolume(engine, {
          project: target.project,
          job: target.job,
          runId: target.runId,
          key: entry.key,
          path: output.path,
          store: store.id,
        });
        volumes.push(volume);
        const filled = await this.#fill(volume, output, temp, target, signal);
        if (!filled) return undefined;
        outputs.push({ path: output.path, volume, digest: output.digest, size: output.size });
      }
      const outcome = await store.seal(
        {
          key: entry.key,
          project: target.project,
          job: target.job,
          outputs,
          producedBy: target.runId,
          createdAt: entry.createdAt,
          inputs: entry.inputs,
        },
        target.owner,
        signal,
      );
      sealed = outcome.outcome === 'sealed';
      return outcome.outcome === 'sealed' ? outcome.result : outcome.winner;
    } catch (error) {
      this.#fault(error, signal);
      return undefined;
    } finally {
      await Promise.all(temps.map((t) => rm(t, { force: true })));
      if (!sealed) {
        for (const volume of volumes) await removeOutputVolume(engine, volume).catch(() => false);
      }
    }
  }

  /** The blob in a temporary file, checked against its sha256; undefined with a warning when it is not sound. */
  async #fetchBlob(output: RemoteOutput, job: string, signal?: AbortSignal): Promise<string | undefined> {
    const stream = await this.#options.settings.cache.getBlob(output.blob, signal);
    if (stream === undefined) {
      this.#options.emit({
        type: 'warning',
        job,
        message: `the shared cache lacks the blob of output ${output.path} (sha256:${output.blob.slice(0, 12)}…): the job runs`,
      });
      return undefined;
    }
    const temp = await this.#tempFile();
    const hash = createHash('sha256');
    await pipeline(stream, hashing(hash), createWriteStream(temp), signal ? { signal } : {});
    const actual = hash.digest('hex');
    if (actual !== output.blob) {
      await rm(temp, { force: true });
      this.#options.emit({
        type: 'warning',
        job,
        message: `the shared cache's blob of output ${output.path} does not match its sha256 (${output.blob.slice(0, 12)}… expected, ${actual.slice(0, 12)}… read): it is not used, and the job runs`,
      });
      return undefined;
    }
    return temp;
  }

  /** Unpacks a blob into its volume through a container that is never started; checks the content digest. */
  async #fill(
    volume: string,
    output: RemoteOutput,
    temp: string,
    target: DownloadTarget,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const { engine } = this.#options;
    const reader = await createReaderContainer(engine, {
      image: target.imageId,
      runId: target.runId,
      project: target.project,
      job: target.job,
      mounts: [{ volume, target: output.path }],
      writable: true,
    });
    try {
      // The tar holds the output's folder under its own name: unpacked into its parent, it lands in the
      // volume. Its content digest is taken from the same stream as it goes in.
      const tar = createReadStream(temp).pipe(createGunzip());
      const [listing] = await both(
        tar,
        (copy) => tarDigest(copy, signal ? { signal } : {}),
        (copy) => engine.containers.putArchive(reader.id, dirname(output.path), copy),
      );
      if (listing.digest !== output.digest) {
        this.#options.emit({
          type: 'warning',
          job: target.job,
          message: `the shared cache's output ${output.path} unpacks to other content than its entry says: it is not used, and the job runs`,
        });
        return false;
      }
      return true;
    } finally {
      await reader.remove();
    }
  }

  /** Whether what the run seals is sent to the shared cache (not read-only, not down). */
  get uploading(): boolean {
    return !this.#down && !this.#options.settings.readonly;
  }

  /**
   * Reads an output's archive once for both its content digest and its blob (gzip-compressed, in a
   * temporary file, with its sha256): what `upload` then sends.
   */
  async digestAndPack(
    archive: Readable,
    signal?: AbortSignal,
  ): Promise<{ listing: TarListing; packed: Packed }> {
    const file = await this.#tempFile();
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      const [listing] = await both(
        archive,
        (copy) => tarDigest(copy, signal ? { signal } : {}),
        (copy) =>
          pipeline(
            copy,
            adaptiveGzip(),
            hashing(hash, (n) => (bytes += n)),
            createWriteStream(file),
            signal ? { signal } : {},
          ),
      );
      return { listing, packed: { file, blob: hash.digest('hex'), bytes } };
    } catch (error) {
      await rm(file, { force: true });
      throw error;
    }
  }

  /**
   * Sends a sealed result in the background, blobs first and then its entry; `flush` waits for it. The
   * packed files are removed once sent (or when the shared cache is down or read-only).
   */
  upload(result: {
    key: string;
    job: string;
    inputs: KeyInputs;
    outputs: readonly { path: string; digest: string; size: number; packed: Packed }[];
  }): void {
    const files = result.outputs.map((o) => o.packed.file);
    const discard = () => Promise.all(files.map((f) => rm(f, { force: true }))).then(() => {});
    if (!this.uploading) {
      this.#uploads.push(discard());
      return;
    }
    const entry: Omit<RemoteEntry, 'signature'> = {
      format: REMOTE_FORMAT,
      key: result.key,
      job: result.job,
      outputs: result.outputs.map(({ path, digest, size, packed }) => ({
        path,
        digest,
        blob: packed.blob,
        size,
      })),
      createdAt: new Date().toISOString(),
      inputs: result.inputs,
    };
    const { cache, signingKey } = this.#options.settings;
    const sending = (async () => {
      try {
        for (const { packed } of result.outputs) {
          if (this.#down) return;
          if (!(await cache.hasBlob(packed.blob)))
            await cache.putBlob(packed.blob, packed.file, packed.bytes);
        }
        if (!this.#down) await cache.putEntry(result.key, encodeEntry(entry, signingKey));
      } catch (error) {
        this.#fault(error);
      } finally {
        await discard();
      }
    })();
    this.#uploads.push(sending);
  }

  /** Removes packed files that will not be sent (the seal lost to another kiln). */
  discard(packed: readonly Packed[]): void {
    this.#uploads.push(Promise.all(packed.map((p) => rm(p.file, { force: true }))).then(() => {}));
  }

  /** How many uploads are still going. */
  get pending(): number {
    return this.#uploads.length;
  }

  /** Waits for every upload of the run. */
  async flush(): Promise<void> {
    while (this.#uploads.length > 0) await this.#uploads.shift();
  }

  async #tempFile(): Promise<string> {
    const dir = join(this.#options.store.dir, 'transfers');
    await mkdir(dir, { recursive: true });
    return join(dir, `${process.pid}-${randomBytes(6).toString('hex')}.tgz`);
  }

  /** The run's first fault of the shared cache is told once; the run then goes without it. */
  #fault(error: unknown, signal?: AbortSignal): void {
    if (signal?.aborted) throw error;
    if (this.#down) return;
    this.#down = true;
    const why = error instanceof RemoteCacheError ? error.message : (error as Error).message;
    this.#options.emit({
      type: 'warning',
      message: `the shared cache ${this.description} failed (${why}); this run goes on without it`,
    });
  }
}

/** An output packed for the shared cache: its blob in a temporary file, the blob's sha256 and size. */
export interface Packed {
  readonly file: string;
  readonly blob: string;
  readonly bytes: number;
}

/**
 * Feeds one stream to two consumers at once (each gets every byte; the slower one sets the pace) and
 * resolves with both results; a failure of either ends the other.
 */
async function both<A, B>(
  source: Readable,
  first: (copy: Readable) => Promise<A>,
  second: (copy: Readable) => Promise<B>,
): Promise<[A, B]> {
  const a = new PassThrough();
  const b = new PassThrough();
  source.on('error', (error) => {
    a.destroy(error);
    b.destroy(error);
  });
  source.pipe(a);
  source.pipe(b);
  const fail = (error: unknown) => {
    source.destroy();
    a.destroy();
    b.destroy();
    throw error;
  };
  return Promise.all([first(a).catch(fail), second(b).catch(fail)]);
}

/** Bytes looked at before choosing how hard to compress a blob. */
const SAMPLE_BYTES = 256 * 1024;

/**
 * Gzip that compresses (level 1) only what compresses: it deflates the first {@link SAMPLE_BYTES} once,
 * and when that saves less than a tenth (media, archives, random data), it writes stored blocks (level 0)
 * instead, several times faster. Either way the result is plain gzip.
 */
export function adaptiveGzip(): Transform {
  const sample: Buffer[] = [];
  let sampled = 0;
  let gzip: ReturnType<typeof createGzip> | undefined;
  const start = (self: Transform): ReturnType<typeof createGzip> => {
    const head = Buffer.concat(sample);
    const level = head.length > 0 && deflateRawSync(head, { level: 1 }).length > head.length * 0.9 ? 0 : 1;
    const z = createGzip({ level });
    z.on('data', (chunk: Buffer) => self.push(chunk));
    z.on('error', (error) => self.destroy(error));
    z.write(head);
    sample.length = 0;
    return z;
  };
  const write = (z: ReturnType<typeof createGzip>, chunk: Buffer, callback: () => void) => {
    if (z.write(chunk)) callback();
    else z.once('drain', callback);
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (gzip !== undefined) return write(gzip, chunk, () => callback());
      sample.push(chunk);
      sampled += chunk.length;
      if (sampled >= SAMPLE_BYTES) gzip = start(this);
      callback();
    },
    flush(callback) {
      const z = gzip ?? start(this);
      z.once('end', () => callback());
      z.end();
    },
  });
}

/** A pass-through stream that feeds what passes into `hash` (and counts it). */
function hashing(hash: ReturnType<typeof createHash>, count?: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      count?.(chunk.length);
      callback(null, chunk);
    },
  });
}
