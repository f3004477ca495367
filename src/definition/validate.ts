/**
 * Validation of a step-file document against the schema, and the translation of ajv's errors into
 * problems a user can act on: one per unknown key (with the closest allowed key), per missing key, and
 * per wrong value (what it must be, with examples), each with the JSON pointer it concerns.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { MAX_REPORTED_PROBLEMS } from './diagnostic-limit.js';
import { describeContainer, describePointer, escapeToken, splitPointer } from './pointer.js';
import {
  admitsType,
  describeType,
  resolveRef,
  showExample,
  stepFileSchema,
  withArticle,
  type SchemaNode,
} from './schema.js';
import { validate as generatedValidator } from './step-file-validator.generated.js';
import { MOUNT_TYPES } from './types.js';
import { hasControlCharacters, visible } from '../visible-text.js';

/** One problem with a document: its message, the value it concerns, and whether to point at the key. */
export interface SchemaProblem {
  readonly message: string;
  readonly pointer: string;
  /** `key`: point at the key that holds the value (unknown keys, invalid names, missing keys). */
  readonly at: 'key' | 'value';
}

/**
 * The schema's validator, compiled ahead of time by ajv (scripts/validator-source.ts) with
 * VALIDATOR_OPTIONS; a unit test checks that it matches the schema.
 */
const validate = generatedValidator as unknown as ValidateFunction;

/** Validates a parsed document; returns every problem found (none when it is valid). */
export function validateDocument(document: unknown): SchemaProblem[] {
  if (validate(document)) return [];
  return explainErrors(validate.errors ?? [], document);
}

/** Turns ajv's errors into one problem per distinct fault. */
export function explainErrors(errors: readonly ErrorObject[], document: unknown): SchemaProblem[] {
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  // A failed `if` only says that its `then` failed; the `then`'s own errors say why. The `type` errors of
  // a oneOf's branches are the other alternatives; what remains is the matching branch's own faults.
  let kept = errors.filter(
    (e) =>
      e.keyword !== 'if' &&
      e.keyword !== 'propertyNames' &&
      !(e.keyword === 'type' && oneOfPaths.has(e.instancePath)),
  );
  // A oneOf error is dropped when another error lies at its value or inside it. The paths of the other
  // errors and of all their ancestors go in one set, so that a file with thousands of faults is
  // explained in linear time.
  const explained = new Set<string>();
  for (const e of kept) {
    if (e.keyword === 'oneOf') continue;
    for (let path = e.instancePath; !explained.has(path); path = path.slice(0, path.lastIndexOf('/'))) {
      explained.add(path);
      if (path === '') break;
    }
  }
  kept = kept.filter((e) => e.keyword !== 'oneOf' || !explained.has(e.instancePath));

  const problems: SchemaProblem[] = [];
  const seen = new Set<string>();
  const add = (problem: SchemaProblem, key: string): void => {
    if (seen.has(key)) return;
    seen.add(key);
    problems.push(problem);
  };
  for (const error of kept) {
    const at = error.instancePath;
    if (error.propertyName !== undefined) {
      const pointer = `${at}/${escapeToken(error.propertyName)}`;
      add({ message: invalidNameMessage(error, document), pointer, at: 'key' }, `name ${pointer}`);
    } else if (error.keyword === 'additionalProperties') {
      const key = String((error.params as { additionalProperty: string }).additionalProperty);
      const pointer = `${at}/${escapeToken(key)}`;
      // Suggestions cost a comparison with every allowed key: only for the problems shown.
      const suggest = problems.length < MAX_REPORTED_PROBLEMS;
      add(
        { message: unknownKeyMessage(key, error, document, suggest), pointer, at: 'key' },
        `unknown ${pointer}`,
      );
    } else if (error.keyword === 'required') {
      const key = String((error.params as { missingProperty: string }).missingProperty);
      add(
        { message: missingKeyMessage(key, error, document), pointer: at, at: 'key' },
        `required ${at} ${key}`,
      );
    } else {
      add({ message: wrongValueMessage(error, document), pointer: at, at: 'value' }, `value ${at}`);
    }
  }
  return problems;
}

function unknownKeyMessage(key: string, error: ErrorObject, document: unknown, suggest: boolean): string {
  const holder = error.parentSchema as SchemaNode | undefined;
  const allowed = Object.keys(holder?.properties ?? {});
  const guess = suggest ? closest(key, allowed) : undefined;
  const hint = guess === undefined ? '' : `, did you mean '${guess}'?`;
  const where = describeContainer(error.instancePath, document);
  const patterns = Object.keys(holder?.patternProperties ?? {}).map((p) => `${p.replace(/^\^/, '')}*`);
  return `unknown key '${key}' ${where}${hint} (allowed: ${[...allowed, ...patterns].join(', ')})`;
}

function missingKeyMessage(key: string, error: ErrorObject, document: unknown): string {
  const property = (error.parentSchema as SchemaNode | undefined)?.properties?.[key];
  const choices = property === undefined ? undefined : resolveRef(property).enum;
  const hint =
    key === 'version' ? ' (write version: 1)' : choices ? ` (one of ${choices.map(String).join(', ')})` : '';
  return `missing required key '${key}' ${describeContainer(error.instancePath, document)}${hint}`;
}

function invalidNameMessage(error: ErrorObject, document: unknown): string {
  const name = String(error.propertyName);
  if (name.includes('\u0000')) {
    return `a name ${describeContainer(error.instancePath, document)} holds a NUL character (\\0), which no name can hold; remove it`;
  }
  const holder = schemaAt(error.instancePath, document);
  const names = holder === undefined ? undefined : resolveRef(holder).propertyNames;
  const what = names === undefined ? 'name' : describeType(names);
  const rule = names === undefined ? undefined : ruleOf(resolveRef(names));
  const long = name.length > 60 ? ` (${name.length} characters)` : '';
  return `${show(name)}${long} is not a valid ${what} ${describeContainer(error.instancePath, document)}${rule ? `: ${rule}` : ''}`;
}

function wrongValueMessage(error: ErrorObject, document: unknown): string {
  const pointer = error.instancePath;
  const tokens = splitPointer(pointer);
  const value = error.data;
  if (pointer === '/version') return `version must be 1, not ${show(value)}`;
  if (tokens.length >= 3 && tokens[tokens.length - 1] === 'type' && tokens[tokens.length - 3] === 'mounts') {
    return `unknown mount type ${show(value)} (allowed: ${MOUNT_TYPES.join(', ')})`;
  }
  const node = schemaAt(pointer, document);
  if (node === undefined) return `${describePointer(pointer, document)} ${error.message ?? 'is invalid'}`;
  const expected = describeType(node);
  const resolved = resolveRef(node);
  if (typeof value === 'number' && error.keyword === 'minimum') {
    const limit = (error.params as { limit: number }).limit;
    return `${describePointer(pointer, document)} is ${value}, less than the ${limit} allowed${ruleOf(resolved) ? ` (${ruleOf(resolved)})` : ''}`;
  }
  if (typeof value === 'number' && error.keyword === 'maximum') {
    const limit = (error.params as { limit: number }).limit;
    return `${describePointer(pointer, document)} is ${value}, more than the ${limit} allowed${ruleOf(resolved) ? ` (${ruleOf(resolved)})` : ''}`;
  }
  if (typeof value === 'string') {
    const what = describePointer(pointer, document);
    if (error.keyword === 'pattern' && value.includes('\u0000')) {
      return `${what} holds a NUL character (\\0), which no command, environment variable, path or name can hold; remove it`;
    }
    if (error.keyword === 'pattern' && hasControlCharacters(value) && forbidsControlCharacters(error)) {
      const char = visible([...value].find((c) => hasControlCharacters(c)) ?? '');
      return (
        `${what} holds a control character (${char}): names are printed on terminals, so they may not ` +
        `hold newlines, tabs, escapes or other control characters`
      );
    }
    if (error.keyword === 'maxLength') {
      const limit = (error.params as { limit: number }).limit;
      const rule = ruleOf(resolved);
      return `${what} is ${value.length} characters long, longer than the ${limit} allowed${rule ? ` (${rule})` : ''}`;
    }
  }
  let hint = '';
  const examples = node.examples ?? resolved.examples;
  if (examples !== undefined && examples.length > 0) hint = ` (e.g. ${examples.map(showExample).join(', ')})`;
  else if (resolved.pattern !== undefined && error.keyword !== 'minLength' && ruleOf(resolved) !== undefined)
    hint = ` (${ruleOf(resolved)})`;
  if ((typeof value === 'number' || typeof value === 'boolean') && acceptsOnlyText(node)) {
    hint = ` (quote it: "${String(value)}")`;
  }
  return `${describePointer(pointer, document)} must be ${withArticle(expected)}${hint}, not ${show(value)}`;
}

/** Whether the pattern that failed is one that keeps control characters out (names shown on terminals). */
function forbidsControlCharacters(error: ErrorObject): boolean {
  const pattern = (error.params as { pattern?: unknown }).pattern;
  return typeof pattern === 'string' && pattern.includes('\\u001F');
}

/** Whether a node accepts strings (or lists) but no numbers or booleans: a number there wants quotes. */
function acceptsOnlyText(node: SchemaNode): boolean {
  const resolved = resolveRef(node);
  const alternatives = resolved.oneOf ?? [resolved];
  const types = alternatives.flatMap((branch) => {
    const type = resolveRef(branch).type;
    return type === undefined ? ['any'] : typeof type === 'string' ? [type] : [...type];
  });
  return types.includes('string') && types.every((type) => type === 'string' || type === 'array');
}

/** The schema node that governs the value at `pointer`, following the document's own shape. */
export function schemaAt(pointer: string, document: unknown): SchemaNode | undefined {
  let node: SchemaNode = stepFileSchema();
  let value: unknown = document;
  for (const token of splitPointer(pointer)) {
    const holder = selectBranch(node, value);
    const property = holder.properties?.[token];
    const additional =
      typeof holder.additionalProperties === 'object' ? holder.additionalProperties : undefined;
    const next = property ?? (Array.isArray(value) ? holder.items : additional);
    if (next === undefined) return undefined;
    node = next;
    value =
      typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[token] : undefined;
  }
  return node;
}

/** The alternative of a node that applies to a value: the oneOf branch of its type, the mount of its type. */
function selectBranch(node: SchemaNode, value: unknown): SchemaNode {
  const resolved = resolveRef(node);
  const branch = resolved.oneOf?.find((candidate) => admitsType(candidate, value));
  if (branch !== undefined) return selectBranch(branch, value);
  for (const rule of resolved.allOf ?? []) {
    const wanted = rule.if?.properties?.['type']?.const;
    const actual = (value as { type?: unknown } | null | undefined)?.type;
    if (wanted !== undefined && wanted === actual && rule.then !== undefined) return resolveRef(rule.then);
  }
  return resolved;
}

/** A node's description as a rule for messages: backquotes become quotes, no final period. */
function ruleOf(node: SchemaNode): string | undefined {
  if (node.description === undefined) return undefined;
  const text = node.description.replace(/`/g, "'").replace(/\.$/, '');
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** A value as a message shows it: `'text'`, `5`, `a list`, `{ env, file }`, `an empty value`. */
export function show(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') {
    if (value === '') return 'an empty string';
    return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  }
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return 'an empty map';
    return `{ ${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', ...' : ''} }`;
  }
  return String(value);
}

/** The allowed key a likely typo meant: same letters ignoring case and `-`/`_`, or a small edit away. */
export function closest(key: string, allowed: readonly string[]): string | undefined {
  const plain = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');
  const exact = allowed.find((candidate) => plain(candidate) === plain(key));
  if (exact !== undefined) return exact;
  const limit = key.length <= 4 ? 1 : key.length <= 8 ? 2 : 3;
  const plainKey = plain(key);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const plainCandidate = plain(candidate);
    // The distance is at least the difference in length: keys far longer or shorter are not compared.
    if (Math.abs(plainCandidate.length - plainKey.length) > limit) continue;
    const distance = editDistance(plainKey, plainCandidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= limit ? best : undefined;
}

/** Damerau-Levenshtein distance (optimal string alignment): a swap of two letters counts as one edit. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    const previous = rows[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(
        (previous[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = value;
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}
