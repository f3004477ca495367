/**
 * `KILN_DEFAULT_MOUNTS`: mounts added to every job (after `defaults.mounts`) unless the job says
 * `default-mounts: false`.
 *
 * The value is a list of entries separated by `;` (empty entries, e.g. after a trailing `;`, are
 * ignored). Each entry is either
 *
 * - the short bind form `source:target[:ro|:rw]`, e.g. `.:/src:ro` or `~/.m2:/root/.m2`; or
 * - the `--mount` form, comma-separated `key=value` pairs with a `type`:
 *   - `type=bind,source=.,target=/src,readonly=true` (keys `source`/`src`, `target`/`dst`/`destination`,
 *     `readonly`/`ro`, `allow-outside-project`, `allow-docker-socket`);
 *   - `type=cache,id=npm,target=/root/.npm,sharing=locked` (`id` defaults to the target, as in BuildKit;
 *     `sharing` is `shared`, `private` or `locked`; `readonly`/`ro`);
 *   - `type=tmpfs,target=/scratch,size=64m,mode=1777` (`size`/`tmpfs-size`, `mode`/`tmpfs-mode`).
 *
 * A boolean key given without a value (`ro`, `readonly`) means true. Only bind, cache and tmpfs mounts
 * can be defaults: a secret or an ssh agent belongs to the step that needs it, never to every step of
 * every job, so those types are refused.
 *
 * Relative bind sources resolve against the project folder and `~` against the home folder; relative
 * targets are left for the compiler, which resolves them against each job's workdir.
 */
import { homedir } from 'node:os';
import { DefinitionError, type Diagnostic } from '../errors.js';
import { parseMode, parseSize } from './sizes.js';
import { resolveUserPath } from '../home-path.js';
import type { BindMountSpec, CacheMountSpec, CacheSharing, MountSpec, TmpfsMountSpec } from './types.js';

export interface DefaultMountsEnv {
  /** Absolute project folder: relative bind sources resolve against it. */
  readonly projectDir: string;
  /** The home folder `~` expands to. Default: `os.homedir()`. */
  readonly homeDir?: string;
}

/** The mount types allowed as defaults. */
export const DEFAULT_MOUNT_TYPES = ['bind', 'cache', 'tmpfs'] as const;

const SHARING: readonly CacheSharing[] = ['shared', 'private', 'locked'];

const KEY_ALIASES: Readonly<Record<string, string>> = {
  src: 'source',
  dst: 'target',
  destination: 'target',
  ro: 'readonly',
  'tmpfs-size': 'size',
  'tmpfs-mode': 'mode',
};

const KEYS_BY_TYPE: Readonly<Record<string, readonly string[]>> = {
  bind: ['source', 'target', 'readonly', 'allow-outside-project', 'allow-docker-socket'],
  cache: ['id', 'target', 'sharing', 'readonly'],
  tmpfs: ['target', 'size', 'mode'],
};

/**
 * Parse the value of `KILN_DEFAULT_MOUNTS`. Throws a DefinitionError with one diagnostic per faulty
 * entry, each naming the entry's position (1-based, counting every `;`-separated part) and its text.
 */
export function parseDefaultMounts(text: string, env: DefaultMountsEnv): MountSpec[] {
  const mounts: MountSpec[] = [];
  const diagnostics: Diagnostic[] = [];
  text.split(';').forEach((raw, index) => {
    const entry = raw.trim();
    if (entry === '') return;
    try {
      mounts.push(entry.includes('=') ? parseMountForm(entry, env) : parseShortForm(entry, env));
    } catch (error) {
      if (!(error instanceof EntryError)) throw error;
      diagnostics.push({ message: `KILN_DEFAULT_MOUNTS entry ${index + 1} '${entry}': ${error.message}` });
    }
  });
  if (diagnostics.length > 0) throw new DefinitionError(diagnostics);
  return mounts;
}

class EntryError extends Error {}

function parseShortForm(entry: string, env: DefaultMountsEnv): BindMountSpec {
  const parts = entry.split(':');
  const [source, target, option] = parts;
  if (parts.length < 2 || parts.length > 3 || !source || !target) {
    throw new EntryError('expected source:target[:ro|:rw] or type=bind|cache|tmpfs,target=...,key=value');
  }
  if (option !== undefined && option !== 'ro' && option !== 'rw') {
    throw new EntryError(`unknown option '${option}' (allowed: ro, rw)`);
  }
  return { type: 'bind', source: resolveSource(source, env), target, readonly: option === 'ro' };
}

function parseMountForm(entry: string, env: DefaultMountsEnv): MountSpec {
  const fields = new Map<string, string | undefined>();
  for (const pair of entry.split(',')) {
    const item = pair.trim();
    if (item === '') continue;
    const equals = item.indexOf('=');
    const rawKey = (equals === -1 ? item : item.slice(0, equals)).trim().toLowerCase();
    const key = KEY_ALIASES[rawKey] ?? rawKey;
    if (fields.has(key)) throw new EntryError(`'${key}' is given twice`);
    fields.set(key, equals === -1 ? undefined : item.slice(equals + 1).trim());
  }

  const type = fields.get('type');
  if (type === undefined || type === '') {
    throw new EntryError(`missing type= (allowed: ${DEFAULT_MOUNT_TYPES.join(', ')})`);
  }
  if (type === 'secret' || type === 'ssh') {
    throw new EntryError(
      `${type === 'ssh' ? 'an' : 'a'} ${type} mount cannot be a default mount (allowed: ${DEFAULT_MOUNT_TYPES.join(', ')}); ` +
        `declare it on the step that needs it`,
    );
  }
  const allowed = KEYS_BY_TYPE[type];
  if (!allowed) {
    throw new EntryError(`unknown mount type '${type}' (allowed: ${DEFAULT_MOUNT_TYPES.join(', ')})`);
  }
  for (const key of fields.keys()) {
    if (key !== 'type' && !allowed.includes(key)) {
      throw new EntryError(`unknown key '${key}' for a ${type} mount (allowed: ${allowed.join(', ')})`);
    }
  }
  const target = fields.get('target');
  if (!target) throw new EntryError('missing target=');

  switch (type) {
    case 'bind': {
      const source = fields.get('source');
      if (!source) throw new EntryError('missing source= for a bind mount');
      const spec: BindMountSpec = {
        type: 'bind',
        source: resolveSource(source, env),
        target,
        readonly: booleanField(fields, 'readonly'),
      };
      return {
        ...spec,
        ...(fields.has('allow-outside-project')
          ? { allowOutsideProject: booleanField(fields, 'allow-outside-project') }
          : {}),
        ...(fields.has('allow-docker-socket')
          ? { allowDockerSocket: booleanField(fields, 'allow-docker-socket') }
          : {}),
      };
    }
    case 'cache': {
      const sharing = fields.get('sharing') ?? 'shared';
      if (!SHARING.includes(sharing as CacheSharing)) {
        throw new EntryError(`unknown sharing '${sharing}' (allowed: ${SHARING.join(', ')})`);
      }
      const spec: CacheMountSpec = {
        type: 'cache',
        id: fields.get('id') || target,
        target,
        sharing: sharing as CacheSharing,
        readonly: booleanField(fields, 'readonly'),
      };
      return spec;
    }
    default: {
      const spec: { -readonly [K in keyof TmpfsMountSpec]: TmpfsMountSpec[K] } = { type: 'tmpfs', target };
      const size = fields.get('size');
      const mode = fields.get('mode');
      try {
        if (size !== undefined) spec.size = parseSize(size);
        if (mode !== undefined) spec.mode = parseMode(mode);
      } catch (error) {
        throw new EntryError((error as Error).message);
      }
      return spec;
    }
  }
}

function booleanField(fields: ReadonlyMap<string, string | undefined>, key: string): boolean {
  if (!fields.has(key)) return false;
  const value = fields.get(key);
  if (value === undefined || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new EntryError(`${key}=${value} is not a boolean (write true or false)`);
}

function resolveSource(source: string, env: DefaultMountsEnv): string {
  return resolveUserPath(source, env.projectDir, env.homeDir ?? homedir());
}
