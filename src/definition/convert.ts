/**
 * Conversion between the step file's kebab-case document (already valid against the schema) and the
 * camelCase Definition of types.ts, in both directions, driven by the tables of fields.ts. Keys come out
 * in table order, so a Definition loaded from YAML and one built in code compare equal.
 */
import { FIELD_TABLES } from './fields.js';
import { escapeToken } from './pointer.js';
import type { Definition } from './types.js';

type Json = unknown;
type JsonObject = Record<string, Json>;

/** How a field's value converts: copied as is, or as an object, list or map of one of the tables. */
type Child =
  | { readonly object: string }
  | { readonly list: string }
  | { readonly map: string }
  | { readonly objectOrCopy: string };

/** Children that need converting, by table name and kebab-case key; every other value is copied. */
const CHILDREN: Readonly<Record<string, Readonly<Record<string, Child>>>> = {
  '': { defaults: { object: 'defaults' }, secrets: { map: 'secret-source' }, jobs: { map: 'job' } },
  defaults: { mounts: { list: 'mount' }, services: { map: 'service' } },
  job: {
    mounts: { list: 'mount' },
    services: { map: 'service' },
    steps: { list: 'step' },
    reuse: { objectOrCopy: 'reuse-options' },
    outputs: { list: 'output' },
  },
  step: { mounts: { list: 'mount' } },
  service: { mounts: { list: 'mount' }, health: { object: 'service-health' } },
};

type Direction = 'toDefinition' | 'toDocument';

/**
 * A key of a Definition built in code that is no field of its object: code spells every field in
 * camelCase (`allowOutsideProject`), the step file in kebab-case (`allow-outside-project`), and the tables
 * of fields.ts are the one place that maps them. Such a key would otherwise be dropped without a word.
 */
export interface ForeignKey {
  /** The object's JSON pointer in the document. */
  readonly pointer: string;
  readonly key: string;
  /** The field it is the step file's spelling of, when it is one (`allowOutsideProject`). */
  readonly field?: string;
  /** The object's fields, as code spells them. */
  readonly fields: readonly string[];
}

/** Where a conversion is, and where keys of no field go (toDocument only). */
interface Walk {
  readonly direction: Direction;
  readonly at: string;
  readonly foreign?: ForeignKey[];
}

function tableOf(name: string, value: JsonObject): string {
  return name === 'mount' ? `${String(value['type'])}-mount` : name;
}

/**
 * Converts an object of table `name`. A value of another shape, or a mount of an unknown type (a
 * Definition built in JavaScript may hold anything), is copied as it is, for the schema to report.
 */
function convertObject(value: JsonObject, name: string, walk: Walk): JsonObject {
  if (!isObject(value)) return copy(value) as JsonObject;
  const tableName = tableOf(name, value);
  const table = FIELD_TABLES[tableName];
  if (table === undefined) return copy(value) as JsonObject;
  const children = CHILDREN[tableName] ?? {};
  const out: JsonObject = {};
  for (const [key, field] of Object.entries(table)) {
    if (field === null) continue;
    const [from, to] = walk.direction === 'toDefinition' ? [key, field] : [field, key];
    if (!Object.hasOwn(value, from) || value[from] === undefined) continue;
    out[to] = convertChild(value[from], children[key], { ...walk, at: `${walk.at}/${escapeToken(key)}` });
  }
  if (walk.direction === 'toDocument' && walk.foreign) {
    const fields = Object.values(table).filter((f): f is string => f !== null);
    for (const key of Object.keys(value)) {
      if (value[key] === undefined || fields.includes(key)) continue;
      const field = table[key];
      walk.foreign.push({ pointer: walk.at, key, ...(field ? { field } : {}), fields });
    }
  }
  return out;
}

function convertChild(value: Json, child: Child | undefined, walk: Walk): Json {
  if (child === undefined) return copy(value);
  if ('object' in child) return convertObject(value as JsonObject, child.object, walk);
  if ('list' in child) {
    if (!Array.isArray(value)) return copy(value);
    return value.map((item: Json, i) =>
      convertObject(item as JsonObject, child.list, { ...walk, at: `${walk.at}/${i}` }),
    );
  }
  if ('map' in child) {
    if (!isObject(value)) return copy(value);
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value as JsonObject)) {
      out[key] = convertObject(item as JsonObject, child.map, {
        ...walk,
        at: `${walk.at}/${escapeToken(key)}`,
      });
    }
    return out;
  }
  return isObject(value) ? convertObject(value, child.objectOrCopy, walk) : copy(value);
}

function isObject(value: Json): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function copy(value: Json): Json {
  if (Array.isArray(value)) return value.map(copy);
  if (isObject(value)) {
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) out[key] = copy(item);
    return out;
  }
  return value;
}

export type FileLevelDefinition = Omit<Definition, 'projectDir' | 'file' | 'sourceMap'>;

/** A validated step-file document -> the file-level fields of a Definition. */
export function documentToDefinition(document: Json): FileLevelDefinition {
  return convertObject(document as JsonObject, '', {
    direction: 'toDefinition',
    at: '',
  }) as unknown as FileLevelDefinition;
}

/**
 * A Definition -> the step-file document it stands for (to validate a built one against the schema).
 * Keys that are no field of their object are left out, and told to `foreign` when given.
 */
export function definitionToDocument(definition: FileLevelDefinition, foreign?: ForeignKey[]): JsonObject {
  return convertObject(definition as unknown as JsonObject, '', {
    direction: 'toDocument',
    at: '',
    ...(foreign ? { foreign } : {}),
  });
}

/** Freezes a plain value (objects and arrays) and everything it holds; instances of classes are left alone. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) return value;
  for (const item of Object.values(value)) deepFreeze(item);
  return Object.freeze(value);
}
