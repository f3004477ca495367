/**
 * The shared job cache in a folder: `ac/` and `cas/` below it, as the HTTP layout has them. For a folder
 * that a CI system's own cache persists between runs (the GitHub Actions cache, GitLab's `cache:paths`)
 * or a network mount. Every write goes to a temporary file in the same folder and is renamed into place,
 * so concurrent writers never leave a half-written entry or blob under its name.
 */
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { entryName, RemoteCacheError, type RemoteCache } from './remote-cache.js';

export class DirectoryRemoteCache implements RemoteCache {
  readonly description: string;
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
    this.description = `the folder ${root}`;
  }

  async getEntry(key: string): Promise<Buffer | undefined> {
    return this.#read(join(this.#root, 'ac', entryName(key)));
  }

  async putEntry(key: string, data: Buffer): Promise<void> {
    await this.#write(join(this.#root, 'ac', entryName(key)), (temp) => writeFile(temp, data));
  }

  async hasBlob(sha256: string): Promise<boolean> {
    return stat(this.#blob(sha256)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async getBlob(sha256: string): Promise<Readable | undefined> {
    const path = this.#blob(sha256);
    if (!(await this.hasBlob(sha256))) return undefined;
    return createReadStream(path);
  }

  async putBlob(sha256: string, file: string): Promise<void> {
    await this.#write(this.#blob(sha256), (temp) => copyFile(file, temp));
  }

  #blob(sha256: string): string {
    return join(this.#root, 'cas', sha256);
  }

  async #read(path: string): Promise<Buffer | undefined> {
    try {
      return await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new RemoteCacheError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  async #write(path: string, fill: (temp: string) => Promise<void>): Promise<void> {
    const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await mkdir(join(path, '..'), { recursive: true });
      await fill(temp);
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => {});
      throw new RemoteCacheError(`cannot write ${path}: ${(error as Error).message}`, { cause: error });
    }
  }
}
