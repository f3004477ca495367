/**
 * The step file's JSON schema (`schema/kiln.schema.json`), read once from the package, and the small
 * vocabulary the loader, the builder and the reference doc use to walk it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InfrastructureError } from '../errors.js';
import { packageRoot } from '../package-root.js';

/** The subset of JSON Schema draft-07 that kiln's schema uses. */
export interface SchemaNode {
  readonly $ref?: string;
  readonly title?: string;
  readonly description?: string;
  readonly default?: unknown;
  readonly examples?: readonly unknown[];
  readonly type?: string | readonly string[];
  readonly const?: unknown;
  readonly enum?: readonly unknown[];
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly minProperties?: number;
  readonly maxProperties?: number;
  readonly required?: readonly string[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly patternProperties?: Readonly<Record<string, SchemaNode>>;
  readonly additionalProperties?: boolean | SchemaNode;
  readonly propertyNames?: SchemaNode;
  readonly items?: SchemaNode;
  readonly oneOf?: readonly SchemaNode[];
  readonly anyOf?: readonly SchemaNode[];
  readonly allOf?: readonly SchemaNode[];
  readonly if?: SchemaNode;
  readonly then?: SchemaNode;
}

export interface RootSchema extends SchemaNode {
  readonly $schema: string;
  readonly definitions: Readonly<Record<string, SchemaNode>>;
}

export { packageRoot };

/** Absolute path of `schema/kiln.schema.json`. */
export function schemaFile(): string {
  return join(packageRoot(), 'schema', 'kiln.schema.json');
}

let cachedSchema: RootSchema | undefined;

/** The parsed schema, read once. */
export function stepFileSchema(): RootSchema {
  cachedSchema ??= JSON.parse(readFileSync(schemaFile(), 'utf8')) as RootSchema;
  return cachedSchema;
}

/** Follows `$ref`s (`#/definitions/<name>`) until a node without one. */
export function resolveRef(node: SchemaNode, root: RootSchema = stepFileSchema()): SchemaNode {
  let current = node;
  for (let hops = 0; current.$ref !== undefined; hops++) {
    const name = refName(current.$ref);
    const target = name === undefined ? undefined : root.definitions[name];
    if (target === undefined || hops > 32) {
      throw new InfrastructureError(
        `kiln's step file schema is damaged: it refers to ${current.$ref}, which it does not hold; reinstall kiln`,
      );
    }
    current = target;
  }
  return current;
}

/** `#/definitions/job` -> `job`. */
export function refName(ref: string): string | undefined {
  const match = /^#\/definitions\/([^/]+)$/.exec(ref);
  return match?.[1];
}

/** The JSON type of a value, as JSON Schema names it (`integer` for whole numbers). */
export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** Whether a schema node's `type` (after `$ref`s) admits the value's JSON type. No `type` admits all. */
export function admitsType(node: SchemaNode, value: unknown, root: RootSchema = stepFileSchema()): boolean {
  const resolved = resolveRef(node, root);
  if (resolved.type === undefined) {
    if (resolved.const !== undefined) return jsonType(resolved.const) === jsonType(value);
    return true;
  }
  const types = typeof resolved.type === 'string' ? [resolved.type] : resolved.type;
  const actual = jsonType(value);
  return types.includes(actual) || (actual === 'integer' && types.includes('number'));
}

/**
 * A short noun phrase for what a node accepts (`list of job names`, `string or list of strings`),
 * used in messages ("must be a ...") and in the reference doc's type column.
 */
export function describeType(node: SchemaNode, root: RootSchema = stepFileSchema()): string {
  if (node.title !== undefined) return node.title;
  if (node.$ref !== undefined) return describeType(resolveRef(node, root), root);
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.enum !== undefined) return `one of ${node.enum.map((v) => String(v)).join(', ')}`;
  const alternatives = node.oneOf ?? node.anyOf;
  if (alternatives !== undefined) return alternatives.map((n) => describeType(n, root)).join(' or ');
  const nonEmpty = (node.minLength ?? 0) > 0 || (node.minItems ?? 0) > 0 ? 'non-empty ' : '';
  if (node.type === 'array') {
    const items = node.items === undefined ? 'value' : describeType(node.items, root);
    return `${nonEmpty}list of ${plural(items)}`;
  }
  if (typeof node.type === 'string') return `${nonEmpty}${node.type}`;
  if (Array.isArray(node.type)) return node.type.join(' or ');
  return 'value';
}

function plural(noun: string): string {
  if (noun.includes(' or ')) return noun.split(' or ').map(plural).join(' or ');
  return noun.endsWith('s') ? noun : `${noun}s`;
}

/** `a string`, `an id`, `a list of mounts`. */
export function withArticle(phrase: string): string {
  if (/^(one of|[0-9"])/.test(phrase)) return phrase;
  return /^[aeiou]/i.test(phrase) ? `an ${phrase}` : `a ${phrase}`;
}

/** An example value in YAML flow style: `90s`, `[/bin/sh, -ec]`, `{ env: NPM_TOKEN }`. */
export function showExample(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(showExample).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([k, v]) => `${k}: ${showExample(v)}`);
    return `{ ${entries.join(', ')} }`;
  }
  return String(value);
}
