/**
 * The job cache's results on this machine, under `<stateDir>/results/`:
 *
 * - `store/<ab>/<hex>.json`: one sealed result per key (`sha256:<hex>`): the job, its outputs (path,
 *   volume, content digest, size), the run that produced it, when, and the key inputs. The file's mtime
 *   is its last use (`touch` sets it: one cheap call, nothing rewritten).
 * - `last/<hash of project and job>.json`: the last key and inputs each job had, for miss reasons.
 * - `listings/<ab>/<hex>.lst.gz`: bind sources' listings by content digest, so that a miss can name the
 *   files that changed.
 * - `locks/`: the seal lock of a key while it is sealed, and each result's pins (below).
 *
 * Writes are atomic (a flushed temporary file renamed into place) and every result carries a checksum
 * of its content, so a crash never leaves a half-written result that reads as a hit: a file that is
 * damaged or cut short reads as a miss with a warning, never as an error.
 *
 * Sealing a key happens under an O_EXCL lock per key (lock-files.ts, taken over when its holder died),
 * so of two kiln processes sealing the same key exactly one wins; the other is told, with the winner's
 * result, and uses it (or discards its own volumes).
 *
 * A running job pins the results it mounts (a registered user, as shared cache mounts do); removing a
 * result happens under the same guard and is refused while it is pinned, so pruning never takes a
 * result from under a job. A job pins first and looks up after ({@link ResultStore.acquire}): then
 * either the prune removed the result before (the job misses) or it sees the pin.
 */
import type { Stats } from 'node:fs';
import { readFile, readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import {
  acquireCacheLock,
  cacheGuardPath,
  liveCacheUsers,
  registerCacheUser,
  type CacheLock,
  type LockOwner,
} from '../lock-files.js';
import { createFileAtomic, removeIfOlder, removeStaleTemps, writeFileAtomic } from './atomic-file.js';
import { digestHex, digestOf, isDigest, shortDigest } from './canonical.js';
import type { KeyInputs } from './key-inputs.js';
import { resultsDir, storeId } from './results-dir.js';
import { decodeListing, encodeListing, type TreeListing } from './tree-format.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** The version of a result file's shape. */
export const RESULT_FORMAT = 1;

export interface ResultOutput {
  /** The output's path in the job's container. */
  readonly path: string;
  /** The Docker volume that holds it. */
  readonly volume: string;
  /** Its content digest (tree-format.ts). */
  readonly digest: string;
  /** Bytes of its files. */
  readonly size: number;
}

/** What a job's sealed result says. */
export interface ResultRecord {
  readonly key: string;
  readonly project: string;
  readonly job: string;
  readonly outputs: readonly ResultOutput[];
  /** The run id that produced it. */
  readonly producedBy: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** The key inputs, for miss reasons. */
  readonly inputs: KeyInputs;
}

/** A result as read back from the store. */
export interface StoredResult extends ResultRecord {
  /** ISO 8601: the last time a run used it (or sealed it). */
  readonly lastUsedAt: string;
  /** The sum of its outputs' sizes. */
  readonly size: number;
}

export type ResultLookup =
  | { readonly kind: 'hit'; readonly result: StoredResult }
  | { readonly kind: 'miss'; readonly damaged: boolean; readonly warning?: string };

export type SealOutcome =
  /** This process's result is the key's result now. */
  | { readonly outcome: 'sealed'; readonly result: StoredResult }
  /** Another process sealed the key first: use its result, discard this one's volumes. */
  | { readonly outcome: 'lost'; readonly winner: StoredResult };

export interface LastInputs {
  readonly project: string;
  readonly job: string;
  readonly key: string;
  readonly inputs: KeyInputs;
  /** ISO 8601. */
  readonly at: string;
}

/** A running job's pins on the results it mounts; released with the job's other resources. */
export interface ResultPin {
  readonly key: string;
  release(): Promise<void>;
}

export type AcquireResult =
  | { readonly kind: 'hit'; readonly result: StoredResult; readonly pin: ResultPin }
  | { readonly kind: 'miss'; readonly damaged: boolean; readonly warning?: string };

export type RemoveOutcome = 'removed' | 'absent' | { readonly pinnedBy: readonly string[] };

export interface ListedResults {
  readonly results: readonly StoredResult[];
  /** Result files that could not be read (they are left alone; a later seal of their key replaces them). */
  readonly warnings: readonly string[];
}

/**
 * A result file as this process last read it: while the file is the same (inode, size, change time),
 * its content is too (results are written whole and renamed into place), and it is not read again.
 */
interface KnownResult {
  readonly ino: number;
  readonly size: number;
  readonly ctimeMs: number;
  readonly record: ResultRecord;
}

function sameFile(known: KnownResult, stats: Stats): boolean {
  return known.ino === stats.ino && known.size === stats.size && known.ctimeMs === stats.ctimeMs;
}

/** Temporary files older than this in the store's folders were left by a process that died. */
const STALE_TEMP_MS = 60 * 60 * 1000;

export class ResultStore {
  /** `<stateDir>/results`. */
  readonly dir: string;

  /** The store's short name on output volumes' labels (see results-dir.ts). */
  readonly id: string;

  /** Result files read by this process, by key (see {@link KnownResult}). */
  readonly #known = new Map<string, KnownResult>();

  constructor(dir: string) {
    this.dir = dir;
    this.id = storeId(dir);
  }

  /** The store of this machine's state folder (KILN_STATE_DIR...). */
  static forEnv(env: NodeJS.ProcessEnv = process.env): ResultStore {
    return new ResultStore(resultsDir(env));
  }

  resultPath(key: string): string {
    const hex = digestHex(key);
    return join(this.dir, 'store', hex.slice(0, 2), `${hex}.json`);
  }

  lastPath(project: string, job: string): string {
    const name = createHash('sha256').update(`${project}\u0000${job}`).digest('hex').slice(0, 32);
    return join(this.dir, 'last', `${name}.json`);
  }

  listingPath(digest: string): string {
    const hex = digestHex(digest);
    return join(this.dir, 'listings', hex.slice(0, 2), `${hex}.lst.gz`);
  }

  /** The lock and pin name of a key in `locks/`. */
  private lockName(key: string): string {
    return `result-${digestHex(key)}`;
  }

  /**
   * The key's sealed result, or a miss (with a warning when its file is damaged). A file this process
   * read already and that is unchanged since is not read again (a run's sweep lists every result, and
   * its jobs then look theirs up).
   */
  async lookup(key: string): Promise<ResultLookup> {
    const path = this.resultPath(key);
    let text: string;
    let stats: Stats;
    try {
      stats = await stat(path);
      const known = this.#known.get(key);
      if (known !== undefined && sameFile(known, stats)) {
        return { kind: 'hit', result: stored(known.record, stats.mtimeMs) };
      }
      this.#known.delete(key);
      text = await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { kind: 'miss', damaged: false };
      return {
        kind: 'miss',
        damaged: true,
        warning: `the result ${shortDigest(key)} (${path}) cannot be read (${code ?? String(error)}); it counts as a miss`,
      };
    }
    const parsed = parseResult(text, key);
    if (typeof parsed === 'string') {
      return {
        kind: 'miss',
        damaged: true,
        warning:
          `the result ${shortDigest(key)} (${path}) is damaged (${parsed}); it counts as a miss and is ` +
          `replaced when the job passes again`,
      };
    }
    // Known by the file's identity before it was read: a file replaced meanwhile is read again next time.
    this.#known.set(key, { ino: stats.ino, size: stats.size, ctimeMs: stats.ctimeMs, record: parsed });
    return { kind: 'hit', result: stored(parsed, stats.mtimeMs) };
  }

  /**
   * Pins the key, then looks it up: a hit comes pinned (release the pin when the job that mounts the
   * result ends); a miss holds no pin.
   */
  async acquire(key: string, owner: LockOwner, signal?: AbortSignal): Promise<AcquireResult> {
    const pin = await this.pin(key, owner, signal);
    let found: ResultLookup;
    try {
      found = await this.lookup(key);
    } catch (error) {
      await pin.release();
      throw error;
    }
    if (found.kind === 'miss') {
      await pin.release();
      return found;
    }
    return { kind: 'hit', result: found.result, pin };
  }

  /** Registers `owner` as a user of the key's result, so that it is not removed while the pin holds. */
  async pin(key: string, owner: LockOwner, signal?: AbortSignal): Promise<ResultPin> {
    const lock: CacheLock = await registerCacheUser(this.locksRoot(), this.lockName(key), owner, signal);
    return { key, release: () => lock.release() };
  }

  /** Who pins the key's result now (live processes only), described. */
  pinnedBy(key: string): Promise<string[]> {
    return liveCacheUsers(this.locksRoot(), this.lockName(key));
  }

  /** Records that a run used the result now (its file's mtime). A result that is gone is no error. */
  async touch(key: string, when: Date = new Date()): Promise<void> {
    try {
      await utimes(this.resultPath(key), when, when);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /**
   * Seals a result: writes it unless the key has a sound result already, under the key's seal lock.
   * Exactly one of several processes sealing the same key gets 'sealed'; the others get 'lost' and the
   * winner's result.
   */
  async seal(record: ResultRecord, owner: LockOwner, signal?: AbortSignal): Promise<SealOutcome> {
    const problem = checkRecord(record);
    if (problem !== undefined) throw new TypeError(`cannot seal a result: ${problem}`);
    const lock = await acquireCacheLock({
      path: join(this.locksRoot(), 'locks', `${this.lockName(record.key)}.seal`),
      owner,
      wait: true,
      pollMs: [10, 50],
      ...(signal ? { signal } : {}),
    });
    try {
      const existing = await this.lookup(record.key);
      if (existing.kind === 'hit') return { outcome: 'lost', winner: existing.result };
      const path = this.resultPath(record.key);
      await writeFileAtomic(path, serializeResult(record));
      const mtimeMs = (await stat(path)).mtimeMs;
      return { outcome: 'sealed', result: stored(record, mtimeMs) };
    } finally {
      await lock!.release();
    }
  }

  /**
   * Removes the key's result unless a running job pins it (checked under the pins' guard, so that no
   * pin can be taken meanwhile). The caller removes its volumes afterwards.
   */
  async remove(key: string, owner: LockOwner, signal?: AbortSignal): Promise<RemoveOutcome> {
    const name = this.lockName(key);
    const guard = await acquireCacheLock({
      path: cacheGuardPath(this.locksRoot(), name),
      owner,
      wait: true,
      pollMs: [10, 50],
      ...(signal ? { signal } : {}),
    });
    try {
      const users = await liveCacheUsers(this.locksRoot(), name);
      if (users.length > 0) return { pinnedBy: users };
      try {
        await rm(this.resultPath(key));
        return 'removed';
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
        throw error;
      }
    } finally {
      await guard!.release();
    }
  }

  /** Every result in the store (damaged ones are warned about and left out). */
  async list(): Promise<ListedResults> {
    const results: StoredResult[] = [];
    const warnings: string[] = [];
    const root = join(this.dir, 'store');
    for (const shard of await readdirOrEmpty(root)) {
      const dir = join(root, shard);
      await removeStaleTemps(dir, STALE_TEMP_MS);
      for (const name of await readdirOrEmpty(dir)) {
        const match = /^([0-9a-f]{64})\.json$/.exec(name);
        if (!match) continue;
        const found = await this.lookup(`sha256:${match[1]!}`);
        if (found.kind === 'hit') results.push(found.result);
        else if (found.warning) warnings.push(found.warning);
      }
    }
    return { results, warnings };
  }

  /** Records the key and inputs a job had in this run (for the next miss's reasons). */
  async recordLast(
    project: string,
    job: string,
    key: string,
    inputs: KeyInputs,
    at = new Date(),
  ): Promise<void> {
    const last: LastInputs = { project, job, key, inputs, at: at.toISOString() };
    const body = { format: RESULT_FORMAT, ...last };
    // Not flushed: losing it loses a reason, not a result; the checksum catches a torn file.
    await writeFileAtomic(
      this.lastPath(project, job),
      `${JSON.stringify({ ...body, checksum: digestOf(body) })}\n`,
      {
        fsync: false,
      },
    );
  }

  /** The last key and inputs of a job, or undefined (with a warning when the file is damaged). */
  async readLast(project: string, job: string): Promise<{ last?: LastInputs; warning?: string }> {
    const path = this.lastPath(project, job);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return {};
      return { warning: `the last inputs of job ${job} (${path}) cannot be read (${code ?? String(error)})` };
    }
    const value = parseChecked(text);
    if (
      typeof value === 'string' ||
      value.format !== RESULT_FORMAT ||
      value.project !== project ||
      value.job !== job ||
      !isDigest(value.key) ||
      typeof value.at !== 'string' ||
      typeof value.inputs !== 'object' ||
      value.inputs === null
    ) {
      return {
        warning: `the last inputs of job ${job} (${path}) are damaged; its miss reasons start afresh`,
      };
    }
    return {
      last: { project, job, key: value.key, inputs: value.inputs as KeyInputs, at: value.at },
    };
  }

  /** Keeps a bind source's listing by its digest (once: an existing one is left as it is). */
  async storeListing(listing: TreeListing): Promise<void> {
    const path = this.listingPath(listing.digest);
    try {
      await stat(path);
      return;
    } catch {
      // not there yet
    }
    const data = await gzipAsync(Buffer.from(encodeListing(listing), 'utf8'), { level: 6 });
    await createFileAtomic(path, data, { fsync: false });
  }

  /** A stored listing, checked against its digest; undefined when absent or damaged. */
  async readListing(digest: string): Promise<TreeListing | undefined> {
    try {
      const data = await gunzipAsync(await readFile(this.listingPath(digest)));
      return decodeListing(data.toString('utf8'), digest);
    } catch {
      return undefined;
    }
  }

  /** Removes stored listings that no result and no job's last inputs refer to (older than `minAgeMs`). */
  async removeUnreferencedListings(minAgeMs = STALE_TEMP_MS): Promise<number> {
    const referenced = new Set<string>();
    const { results } = await this.list();
    for (const result of results) for (const bind of result.inputs.binds ?? []) referenced.add(bind.digest);
    for (const name of await readdirOrEmpty(join(this.dir, 'last'))) {
      try {
        const value = parseChecked(await readFile(join(this.dir, 'last', name), 'utf8'));
        if (typeof value !== 'string') {
          for (const bind of (value.inputs as KeyInputs | undefined)?.binds ?? [])
            referenced.add(bind.digest);
        }
      } catch {
        // gone or unreadable: refers to nothing
      }
    }
    let removed = 0;
    const root = join(this.dir, 'listings');
    const now = Date.now();
    for (const shard of await readdirOrEmpty(root)) {
      for (const name of await readdirOrEmpty(join(root, shard))) {
        const match = /^([0-9a-f]{64})\.lst\.gz$/.exec(name);
        const path = join(root, shard, name);
        if (match && referenced.has(`sha256:${match[1]!}`)) continue;
        if (await removeIfOlder(path, minAgeMs, now)) removed++;
      }
    }
    return removed;
  }

  /** lock-files.ts keeps its files under `<root>/locks/`: the store's root is its own state folder. */
  private locksRoot(): string {
    return this.dir;
  }
}

export interface PruneChoiceOptions {
  /** Keep the total size of results at most this many bytes (oldest use removed first). */
  readonly keepBytes?: number;
  /** Remove results not used for this long. */
  readonly unusedForMs?: number;
  readonly now?: number;
  /** Results that may not be removed (pinned by running jobs); they still count towards the size. */
  readonly isPinned?: (key: string) => boolean;
}

/**
 * Which results to remove, in order: those unused for longer than `unusedForMs`, then, while the rest
 * weigh more than `keepBytes`, the least recently used — never a pinned one (as `docker buildx prune
 * --keep-storage`).
 */
export function choosePrunable(
  results: readonly StoredResult[],
  options: PruneChoiceOptions,
): StoredResult[] {
  const now = options.now ?? Date.now();
  const pinned = options.isPinned ?? (() => false);
  const byUse = [...results].sort(
    (a, b) => Date.parse(a.lastUsedAt) - Date.parse(b.lastUsedAt) || (a.key < b.key ? -1 : 1),
  );
  const chosen: StoredResult[] = [];
  const kept: StoredResult[] = [];
  for (const result of byUse) {
    const old =
      options.unusedForMs !== undefined && now - Date.parse(result.lastUsedAt) > options.unusedForMs;
    if (old && !pinned(result.key)) chosen.push(result);
    else kept.push(result);
  }
  if (options.keepBytes !== undefined) {
    let total = kept.reduce((sum, r) => sum + r.size, 0);
    for (const result of kept) {
      if (total <= options.keepBytes) break;
      if (pinned(result.key)) continue;
      chosen.push(result);
      total -= result.size;
    }
  }
  return chosen;
}

function stored(record: ResultRecord, mtimeMs: number): StoredResult {
  return {
    ...record,
    lastUsedAt: new Date(Math.round(mtimeMs)).toISOString(),
    size: record.outputs.reduce((sum, o) => sum + o.size, 0),
  };
}

/** The file's text: the record with its format and a checksum of both. */
export function serializeResult(record: ResultRecord): string {
  const body = {
    format: RESULT_FORMAT,
    key: record.key,
    project: record.project,
    job: record.job,
    outputs: record.outputs.map((o) => ({ path: o.path, volume: o.volume, digest: o.digest, size: o.size })),
    producedBy: record.producedBy,
    createdAt: record.createdAt,
    inputs: record.inputs,
  };
  return `${JSON.stringify({ ...body, checksum: digestOf(body) })}\n`;
}

/** JSON whose `checksum` matches the rest; a string says what is wrong. */
function parseChecked(text: string): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text.length === 0 ? 'it is empty' : 'it is not complete JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'it is not an object';
  const { checksum, ...body } = value as Record<string, unknown>;
  let expected: string;
  try {
    expected = digestOf(body);
  } catch {
    return 'it holds values of no canonical form';
  }
  if (checksum !== expected) return 'its checksum does not match its content';
  return body;
}

/** A result file's record, checked; a string says what is wrong. */
export function parseResult(text: string, key: string): ResultRecord | string {
  const body = parseChecked(text);
  if (typeof body === 'string') return body;
  if (body.format !== RESULT_FORMAT) return `it is of format ${String(body.format)}, not ${RESULT_FORMAT}`;
  if (body.key !== key) return `it is the result of another key (${String(body.key)})`;
  const record = body as unknown as ResultRecord;
  return checkRecord(record) ?? record;
}

function checkRecord(record: ResultRecord): string | undefined {
  if (!isDigest(record.key)) return 'its key is not a sha256 digest';
  if (typeof record.project !== 'string' || typeof record.job !== 'string')
    return 'it names no project or job';
  if (typeof record.producedBy !== 'string' || typeof record.createdAt !== 'string') return 'it names no run';
  if (typeof record.inputs !== 'object' || record.inputs === null) return 'it has no inputs';
  if (!Array.isArray(record.outputs)) return 'it has no outputs';
  for (const output of record.outputs) {
    if (
      typeof output?.path !== 'string' ||
      typeof output.volume !== 'string' ||
      !isDigest(output.digest) ||
      typeof output.size !== 'number' ||
      !Number.isFinite(output.size)
    ) {
      return 'an output is incomplete';
    }
  }
  return undefined;
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}
