/**
 * Which shared job cache a run uses, from `--cache-url` / `KILN_CACHE_URL` (an `http(s)://` URL, a
 * `file://` URL or a plain path), `KILN_CACHE_TOKEN`, `KILN_CACHE_SIGNING_KEY` and `--cache-readonly` /
 * `KILN_CACHE_READONLY=1`.
 */
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { fileURLToPath } from 'node:url';
import { DirectoryRemoteCache } from './remote-directory.js';
import { HttpRemoteCache } from './remote-http.js';
import type { RemoteCache } from './remote-cache.js';

export interface RemoteSettings {
  readonly cache: RemoteCache;
  /** Look up, never write (builds that may not be trusted, such as pull requests from forks). */
  readonly readonly: boolean;
  /** Sign entries on upload; ignore entries without a valid signature. */
  readonly signingKey?: string;
}

export interface RemoteSettingsOptions {
  /** `--cache-url`; default `KILN_CACHE_URL`. Empty: no shared cache. */
  readonly url?: string;
  /** `--cache-readonly`; default `KILN_CACHE_READONLY=1`. */
  readonly readonly?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

/** The shared cache the options and the environment name, or undefined for none. */
export function remoteSettings(options: RemoteSettingsOptions = {}): RemoteSettings | undefined {
  const env = options.env ?? process.env;
  const url = (options.url ?? env.KILN_CACHE_URL ?? '').trim();
  if (url === '') return undefined;
  const signingKey = env.KILN_CACHE_SIGNING_KEY || undefined;
  const readonly =
    options.readonly ?? ['1', 'true', 'yes'].includes((env.KILN_CACHE_READONLY ?? '').toLowerCase());
  let cache: RemoteCache;
  if (/^https?:\/\//i.test(url)) {
    cache = new HttpRemoteCache(url, env.KILN_CACHE_TOKEN ? { token: env.KILN_CACHE_TOKEN } : {});
  } else if (/^file:\/\//i.test(url)) {
    cache = new DirectoryRemoteCache(fileURLToPath(url));
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new UsageError(
      `the cache URL ${url.replace(/\/\/[^/]*@/, '//…@')} is neither http(s)://, file:// nor a path`,
    );
  } else {
    cache = new DirectoryRemoteCache(resolve(url));
  }
  return { cache, readonly, ...(signingKey ? { signingKey } : {}) };
}
