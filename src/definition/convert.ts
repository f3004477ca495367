/**
 * Conversion between the step file's kebab-case document (already valid against the schema) and the
 * camelCase Definition of types.ts, in both directions, driven by the tables of fields.ts. Keys come out
 * in table order, so a Definition loaded from YAML and one built in code compare equal.
 */
import { FIELD_TABLES } from './fields.js';
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
  defaults: { mounts: { list: 'mount' } },
  job: {
    mounts: { list: 'mount' },
    steps: { list: 'step' },
    reuse: { objectOrCopy: 'reuse-options' },
    outputs: { list: 'output' },
  },
  step: { mounts: { list: 'mount' } },
};

type Direction = 'toDefinition' | 'toDocument';

function tableOf(name: string, value: JsonObject): string {
  return name === 'mount' ? `${String(value['type'])}-mount` : name;
}

/**
 * Converts an object of table `name`. A value of another shape, or a mount of an unknown type (a
 * Definition built in JavaScript may hold anything), is copied as it is, for the schema to report.
 */
function convertObject(value: JsonObject, name: string, direction: Direction): JsonObject {
  if (!isObject(value)) return copy(value) as JsonObject;
  const tableName = tableOf(name, value);
  const table = FIELD_TABLES[tableName];
  if (table === undefined) return copy(value) as JsonObject;
  const children = CHILDREN[tableName] ?? {};
  const out: JsonObject = {};
  for (const [key, field] of Object.entries(table)) {
    if (field === null) continue;
    const [from, to] = direction === 'toDefinition' ? [key, field] : [field, key];
    if (!Object.hasOwn(value, from) || value[from] === undefined) continue;
    out[to] = convertChild(value[from], children[key], direction);
  }
  return out;
}

function convertChild(value: Json, child: Child | undefined, direction: Direction): Json {
  if (child === undefined) return copy(value);
  if ('object' in child) return convertObject(value as JsonObject, child.object, direction);
  if ('list' in child) {
    if (!Array.isArray(value)) return copy(value);
    return value.map((item: Json) => convertObject(item as JsonObject, child.list, direction));
  }
  if ('map' in child) {
    if (!isObject(value)) return copy(value);
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value as JsonObject)) {
      out[key] = convertObject(item as JsonObject, child.map, direction);
    }
    return out;
  }
  return isObject(value) ? convertObject(value, child.objectOrCopy, direction) : copy(value);
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
  return convertObject(document as JsonObject, '', 'toDefinition') as unknown as FileLevelDefinition;
}

/** A Definition -> the step-file document it stands for (to validate a built one against the schema). */
export function definitionToDocument(definition: FileLevelDefinition): JsonObject {
  return convertObject(definition as unknown as JsonObject, '', 'toDocument');
}

/** Freezes a plain value (objects and arrays) and everything it holds; instances of classes are left alone. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) return value;
  for (const item of Object.values(value)) deepFreeze(item);
  return Object.freeze(value);
}
