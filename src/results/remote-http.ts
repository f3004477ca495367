/**
 * The shared job cache over HTTP, in Bazel's remote cache layout (`GET/HEAD/PUT {url}/ac/{hex}` and
 * `{url}/cas/{sha256}`), as bazel-remote and nginx with WebDAV serve it. A bearer token, when given, goes
 * in the Authorization header and nowhere else: it is never part of a message.
 *
 * Every request has a time limit, and a failed one (the network, a 5xx) is tried again a few times with
 * a growing pause; a 404 is an answer (absent), any other 4xx a fault. Faults are RemoteCacheErrors: the
 * caller turns them into a warning and a miss.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { entryName, RemoteCacheError, type RemoteCache } from './remote-cache.js';

export interface HttpRemoteCacheOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Each request's time limit for its answer's headers, ms. Default 10,000. */
  readonly timeoutMs?: number;
  /** Tries of a request that fails on the network or with a 5xx. Default 3. */
  readonly attempts?: number;
}

export class HttpRemoteCache implements RemoteCache {
  readonly description: string;
  readonly #base: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #attempts: number;

  constructor(url: string, options: HttpRemoteCacheOptions = {}) {
    const parsed = new URL(url);
    // Credentials in the URL would be printed with it: they are refused, a token goes in KILN_CACHE_TOKEN.
    if (parsed.username || parsed.password) {
      throw new RemoteCacheError(
        'the cache URL holds credentials: put the token in KILN_CACHE_TOKEN instead',
      );
    }
    this.#base = url.replace(/\/+$/, '');
    this.description = this.#base;
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#attempts = options.attempts ?? 3;
  }

  async getEntry(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    const response = await this.#request('GET', `ac/${entryName(key)}`, undefined, signal);
    if (response === undefined) return undefined;
    return Buffer.from(await response.arrayBuffer());
  }

  async putEntry(key: string, data: Buffer, signal?: AbortSignal): Promise<void> {
    await this.#request('PUT', `ac/${entryName(key)}`, () => ({ body: data, length: data.length }), signal);
  }

  async hasBlob(sha256: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.#request('HEAD', `cas/${sha256}`, undefined, signal)) !== undefined;
  }

  async getBlob(sha256: string, signal?: AbortSignal): Promise<Readable | undefined> {
    const response = await this.#request('GET', `cas/${sha256}`, undefined, signal);
    if (response === undefined || response.body === null) return undefined;
    return Readable.fromWeb(response.body as never);
  }

  async putBlob(sha256: string, file: string, size: number, signal?: AbortSignal): Promise<void> {
    await this.#request(
      'PUT',
      `cas/${sha256}`,
      () => ({
        body: Readable.toWeb(createReadStream(file)) as unknown as RequestInit['body'] & object,
        length: size,
      }),
      signal,
    );
  }

  /** The response of a request that succeeded, undefined on a 404; a RemoteCacheError otherwise. */
  async #request(
    method: 'GET' | 'HEAD' | 'PUT',
    path: string,
    body: (() => { body: NonNullable<RequestInit['body']>; length: number }) | undefined,
    signal?: AbortSignal,
  ): Promise<Response | undefined> {
    const url = `${this.#base}/${path}`;
    let last = '';
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (attempt > 1) await sleep(200 * 2 ** (attempt - 2), undefined, signal ? { signal } : {});
      const timeout = AbortSignal.timeout(this.#timeoutMs);
      const headers: Record<string, string> = {};
      if (this.#token) headers.authorization = `Bearer ${this.#token}`;
      const payload = body?.();
      if (payload) {
        headers['content-length'] = String(payload.length);
        headers['content-type'] = 'application/octet-stream';
      }
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers,
          ...(payload ? { body: payload.body, duplex: 'half' } : {}),
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        } as RequestInit);
      } catch (error) {
        if (signal?.aborted) throw error;
        last = timeout.aborted
          ? `no answer within ${this.#timeoutMs / 1000} s`
          : (((error as Error).cause as Error | undefined)?.message ?? (error as Error).message);
        continue;
      }
      if (response.status === 404 && method !== 'PUT') {
        await response.body?.cancel().catch(() => {});
        return undefined;
      }
      if (response.ok) return response;
      await response.body?.cancel().catch(() => {});
      last = `${method} ${path} answered ${response.status} ${response.statusText}`.trim();
      if (response.status < 500) break;
    }
    throw new RemoteCacheError(`${this.description}: ${last}`);
  }
}
