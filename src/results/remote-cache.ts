/**
 * The shared job cache: results kept where every machine can reach them, in the layout of Bazel's remote
 * cache, so that bazel-remote, nginx with WebDAV or a plain folder can serve it:
 *
 * - `ac/<hex>`: a result's entry (JSON) under its key's hex digest: the job, its key inputs, and per
 *   output the content digest and the sha256 of its blob;
 * - `cas/<hex>`: a blob under the sha256 of its bytes: an output as a gzip-compressed tar stream.
 *
 * Blobs are always checked against their sha256 before they are used. With a signing key, an entry
 * carries an HMAC-SHA256 of its canonical encoding, and entries without a valid one are ignored, so that
 * a cache anyone can write cannot poison a build. An entry never holds a secret's value (key inputs hold
 * secret ids only).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import { canonicalJson, digestHex, isDigest } from './canonical.js';
import type { KeyInputs } from './key-inputs.js';

/** The version of an entry's shape. */
export const REMOTE_FORMAT = 1;

export interface RemoteOutput {
  /** The output's path in the job's container. */
  readonly path: string;
  /** Its content digest (tree-format.ts), checked again once it is unpacked. */
  readonly digest: string;
  /** The sha256 (hex) of its blob: the output as a gzip-compressed tar stream. */
  readonly blob: string;
  /** Bytes of its files. */
  readonly size: number;
}

/** A result as the shared cache holds it. */
export interface RemoteEntry {
  readonly format: number;
  readonly key: string;
  readonly job: string;
  readonly outputs: readonly RemoteOutput[];
  /** ISO 8601. */
  readonly createdAt: string;
  readonly inputs: KeyInputs;
  /** `hmac-sha256:<hex>` of the entry without this field, when it was signed. */
  readonly signature?: string;
}

/** What a shared cache stores: entries by key, blobs by their sha256. */
export interface RemoteCache {
  /** Where it is, for messages: never a token. */
  readonly description: string;
  /** The entry's bytes, or undefined when there is none. */
  getEntry(key: string, signal?: AbortSignal): Promise<Buffer | undefined>;
  putEntry(key: string, data: Buffer, signal?: AbortSignal): Promise<void>;
  hasBlob(sha256: string, signal?: AbortSignal): Promise<boolean>;
  /** The blob as a stream, or undefined when there is none. Its bytes are checked by the reader. */
  getBlob(sha256: string, signal?: AbortSignal): Promise<Readable | undefined>;
  /** Stores a blob from a file that holds exactly those bytes. */
  putBlob(sha256: string, file: string, size: number, signal?: AbortSignal): Promise<void>;
}

/** A fault of the shared cache: never a build's failure, only a warning and a miss. */
export class RemoteCacheError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RemoteCacheError';
  }
}

/** The entry's bytes, signed with `signingKey` when there is one. */
export function encodeEntry(entry: Omit<RemoteEntry, 'signature'>, signingKey?: string): Buffer {
  const unsigned = { ...entry };
  const signed = signingKey ? { ...unsigned, signature: signatureOf(unsigned, signingKey) } : unsigned;
  return Buffer.from(`${JSON.stringify(signed)}\n`, 'utf8');
}

/**
 * The entry in `data` for `key`, or why it cannot be used: not JSON, another key or shape, or (with a
 * signing key) a missing or wrong signature.
 */
export function decodeEntry(data: Buffer, key: string, signingKey?: string): RemoteEntry | string {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return 'its entry is not JSON';
  }
  if (typeof value !== 'object' || value === null) return 'its entry is not an object';
  const entry = value as Partial<RemoteEntry>;
  if (entry.format !== REMOTE_FORMAT)
    return `its entry has format ${String(entry.format)}, not ${REMOTE_FORMAT}`;
  if (entry.key !== key) return 'its entry names another key';
  if (typeof entry.job !== 'string' || typeof entry.createdAt !== 'string') return 'its entry is damaged';
  if (typeof entry.inputs !== 'object' || entry.inputs === null) return 'its entry has no key inputs';
  if (!Array.isArray(entry.outputs) || !entry.outputs.every(isRemoteOutput)) return 'its outputs are damaged';
  if (signingKey) {
    const { signature, ...unsigned } = entry as RemoteEntry;
    if (typeof signature !== 'string') return 'its entry is not signed, and KILN_CACHE_SIGNING_KEY is set';
    const expected = signatureOf(unsigned, signingKey);
    const a = Buffer.from(signature);
    const b = Buffer.from(expected);
    if (a.length !== b.length || !timingSafeEqual(a, b))
      return 'its signature does not match KILN_CACHE_SIGNING_KEY';
  }
  return entry as RemoteEntry;
}

function isRemoteOutput(value: unknown): value is RemoteOutput {
  const o = value as Partial<RemoteOutput>;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.path === 'string' &&
    isDigest(o.digest) &&
    typeof o.blob === 'string' &&
    /^[0-9a-f]{64}$/.test(o.blob) &&
    typeof o.size === 'number'
  );
}

function signatureOf(entry: Omit<RemoteEntry, 'signature'>, signingKey: string): string {
  const mac = createHmac('sha256', signingKey).update(canonicalJson(entry)).digest('hex');
  return `hmac-sha256:${mac}`;
}

/** The name of a key in `ac/`: its hex digest. */
export function entryName(key: string): string {
  return digestHex(key);
}
