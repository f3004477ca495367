/**
 * The content digest of a tar stream (what Docker's archive endpoint returns for a container path), by
 * the same definition as the digest of a host path (tree-format.ts), so that an output read out of a
 * container and the same files on the host have the same digest.
 *
 * The stream is read once, each file's bytes hashed as they pass: memory holds the entries' paths and
 * digests, never their content. Docker puts every entry under the name of the path asked for (`out/`,
 * `out/a.txt`); that first component is stripped (`stripRoot`, the default), so that the root folder's
 * own entry is left out as tree-format.ts says. A hard link is the file it links to (with its own
 * mode); a later entry of a path replaces an earlier one, as extraction would.
 */
import { createHash } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import tar, { type Header } from 'tar-stream';
import { CancelledError } from '../errors.js';
import { listingOf, type EntryType, type TreeEntry, type TreeListing } from './tree-format.js';

/** The bytes of one tar entry, read once. */
export type TarBody = AsyncIterable<Buffer>;

export interface TarDigestOptions {
  /** Strip the first component of every name (Docker's `out/...`). Default true. */
  readonly stripRoot?: boolean;
  readonly signal?: AbortSignal;
}

export interface TarListing extends TreeListing {
  /** Entries of types that have no place in a tree's content (skipped), described. */
  readonly warnings: readonly string[];
}

/** A tar entry's name that cannot be placed under the root (`..`, absolute after stripping). */
export class UnsafeTarPathError extends Error {
  constructor(readonly entryName: string) {
    super(`the archive has an entry outside its root: ${JSON.stringify(entryName)}`);
  }
}

/**
 * The path of a tar entry relative to the root: '/'-separated, without `.` components, empty
 * components or a trailing '/', the first component dropped when `stripRoot`. Undefined for the root
 * itself when it is a folder (and for a name that is only `.`), an error for a name that climbs out.
 */
export function tarEntryPath(name: string, stripRoot: boolean): string {
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.some((part) => part === '..')) throw new UnsafeTarPathError(name);
  return (stripRoot ? parts.slice(1) : parts).join('/');
}

/** What a tar header's type is in a tree, or undefined for a type that has no place in one. */
export function tarEntryType(header: Header): EntryType | 'hardlink' | undefined {
  switch ((header.type as string | undefined) ?? 'file') {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'dir';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    case 'character-device':
      return 'char';
    case 'block-device':
      return 'block';
    case 'fifo':
      return 'fifo';
    default:
      return undefined;
  }
}

/**
 * Reads a tar stream entry by entry: `visit` gets each entry's header and body and must read the body
 * to its end (or throw). The source is destroyed on an error or when the signal aborts.
 */
export async function readTar(
  source: Readable,
  visit: (header: Header, body: TarBody) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const extract = tar.extract();
  let streamError: unknown;
  pipeline(source, extract, (error) => {
    if (error) streamError = error;
  });
  const onAbort = () => {
    const reason: unknown = signal?.reason;
    source.destroy(
      reason instanceof Error
        ? reason
        : new CancelledError(typeof reason === 'string' ? reason : 'cancelled'),
    );
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) onAbort();
    for await (const entry of extract) {
      await visit(entry.header, entry as AsyncIterable<Buffer>);
    }
  } catch (error) {
    extract.destroy();
    source.destroy();
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (streamError !== undefined) throw streamError;
}

/** Reads a body to its end, hashing it; returns the sha256 hex and the byte count. */
export async function hashBody(body: TarBody): Promise<{ hex: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { hex: hash.digest('hex'), bytes };
}

/** Drains a body without looking at it. */
export async function drain(body: TarBody): Promise<void> {
  for await (const _chunk of body) {
    // nothing: only its end matters
  }
}

/** The content digest and listing of a tar stream. */
export async function tarDigest(source: Readable, options: TarDigestOptions = {}): Promise<TarListing> {
  const stripRoot = options.stripRoot ?? true;
  const entries = new Map<string, TreeEntry>();
  const warnings: string[] = [];
  await readTar(
    source,
    async (header, body) => {
      const path = tarEntryPath(header.name, stripRoot);
      const type = tarEntryType(header);
      const mode = (header.mode ?? 0) & 0o7777;
      if (type === undefined) {
        warnings.push(`skipped ${JSON.stringify(header.name)} of type ${header.type ?? 'unknown'}`);
        await drain(body);
        return;
      }
      if (type === 'file') {
        const { hex, bytes } = await hashBody(body);
        entries.set(path, { path, type, mode, size: bytes, content: hex });
        return;
      }
      await drain(body);
      if (type === 'dir') {
        if (path !== '') entries.set(path, { path, type, mode, size: 0 });
      } else if (type === 'hardlink') {
        const target = entries.get(tarEntryPath(header.linkname ?? '', stripRoot));
        if (target?.type !== 'file') {
          throw new Error(
            `the archive's hard link ${JSON.stringify(header.name)} names no earlier file (${header.linkname ?? ''})`,
          );
        }
        entries.set(path, { path, type: 'file', mode, size: target.size, content: target.content! });
      } else if (type === 'symlink') {
        entries.set(path, { path, type, mode: 0, size: 0, content: header.linkname ?? '' });
      } else if (type === 'char' || type === 'block') {
        entries.set(path, {
          path,
          type,
          mode,
          size: 0,
          content: `${header.devmajor ?? 0}:${header.devminor ?? 0}`,
        });
      } else {
        entries.set(path, { path, type, mode, size: 0 });
      }
    },
    options.signal,
  );
  return { ...listingOf([...entries.values()]), warnings };
}
