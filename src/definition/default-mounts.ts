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
import { DefinitionError, type Diagnostic } from '../errors.js';
import { defaultSource, type BindMountSpec } from './mount-kinds/bind.js';
import { DefaultFormFields, EntryError } from './mount-kinds/default-form.js';
import { DEFINITION_MOUNT_KINDS, definitionMountKind } from './mount-kinds/index.js';
import type { MountSpec } from './types.js';

export type { DefaultMountsEnv } from './mount-kinds/kind.js';
import type { DefaultMountsEnv } from './mount-kinds/kind.js';

/** The mount types allowed as defaults: the kinds with a default form (mount-kinds/). */
export const DEFAULT_MOUNT_TYPES: readonly string[] = DEFINITION_MOUNT_KINDS.flatMap((kind) =>
  kind.defaultForm === undefined ? [] : [kind.type],
);

/** Other names of keys: the engine's (`dst`, `destination`), then each kind's. */
const KEY_ALIASES: Readonly<Record<string, string>> = Object.assign(
  { dst: 'target', destination: 'target' },
  ...DEFINITION_MOUNT_KINDS.map((kind) => kind.defaultForm?.aliases ?? {}),
);

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

function parseShortForm(entry: string, env: DefaultMountsEnv): BindMountSpec {
  const parts = entry.split(':');
  const [source, target, option] = parts;
  if (parts.length < 2 || parts.length > 3 || !source || !target) {
    throw new EntryError(
      `expected source:target[:ro|:rw] or type=${DEFAULT_MOUNT_TYPES.join('|')},target=...,key=value`,
    );
  }
  if (option !== undefined && option !== 'ro' && option !== 'rw') {
    throw new EntryError(`unknown option '${option}' (allowed: ro, rw)`);
  }
  return { type: 'bind', source: defaultSource(source, env), target, readonly: option === 'ro' };
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
  const kind = definitionMountKind(type);
  if (kind !== undefined && kind.defaultForm === undefined) {
    throw new EntryError(
      `${kind.article} ${type} mount cannot be a default mount (allowed: ${DEFAULT_MOUNT_TYPES.join(', ')}); ` +
        `declare it on the step that needs it`,
    );
  }
  const form = kind?.defaultForm;
  if (form === undefined) {
    throw new EntryError(`unknown mount type '${type}' (allowed: ${DEFAULT_MOUNT_TYPES.join(', ')})`);
  }
  for (const key of fields.keys()) {
    if (key !== 'type' && !form.keys.includes(key)) {
      throw new EntryError(`unknown key '${key}' for a ${type} mount (allowed: ${form.keys.join(', ')})`);
    }
  }
  const target = fields.get('target');
  if (!target) throw new EntryError('missing target=');
  return form.parse(new DefaultFormFields(fields), target, env);
}
