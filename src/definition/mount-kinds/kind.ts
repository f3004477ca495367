/**
 * What a definition knows of one mount kind: its spec (the type users declare), its field table (the
 * step file's keys, checked against the schema's `<type>-mount`), and how a `KILN_DEFAULT_MOUNTS` entry
 * writes it. One module per kind implements it; `index.ts` lists them, and `MountSpec`, `MOUNT_TYPES`,
 * the field tables of mounts and the reference's mount sections are derived from that list. The schema
 * (`schema/kiln.schema.json`) stays the source of truth for the file: a new kind adds its definition
 * there too.
 */
import type { FieldTable } from '../field-table.js';
import type { DefaultFormFields } from './default-form.js';

export interface DefaultMountsEnv {
  /** Absolute project folder: relative bind sources resolve against it. */
  readonly projectDir: string;
  /** The home folder `~` expands to. Default: `os.homedir()`. */
  readonly homeDir?: string;
}

/** How a kind is written as a `KILN_DEFAULT_MOUNTS` entry in the `--mount` form. */
export interface DefaultForm<S> {
  /** The keys it takes besides `type`, as messages list them. */
  readonly keys: readonly string[];
  /** Other names of keys (`src` for `source`); every kind's are read before the type is known. */
  readonly aliases?: Readonly<Record<string, string>>;
  /** The spec; throws an EntryError saying what is wrong. `target` is given (and not empty). */
  readonly parse: (fields: DefaultFormFields, target: string, env: DefaultMountsEnv) => S;
}

export interface DefinitionMountKind<S extends { readonly type: string }> {
  /** The step file's `type:`. */
  readonly type: S['type'];
  /** `a` or `an`, as a message puts it before the type (`an ssh mount`). */
  readonly article: 'a' | 'an';
  /** The step file's keys of the schema's `<type>-mount` and the spec's fields they become. */
  readonly fields: FieldTable<S>;
  /** Absent: the kind cannot be a default mount (it belongs to the step that needs it). */
  readonly defaultForm?: DefaultForm<S>;
}

/** `defineMountKind<CacheMountSpec>()({ ... })`: a kind whose spec is `S`. */
export function defineMountKind<S extends { readonly type: string }>() {
  return (kind: DefinitionMountKind<S>): DefinitionMountKind<S> => kind;
}

/** The spec of a kind (or of each kind of a union). */
export type SpecOf<K> = K extends DefinitionMountKind<infer S> ? S : never;
