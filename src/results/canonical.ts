/**
 * A stable, versioned encoding of JSON-like values, for the job cache's keys and for anything else whose
 * digest must not depend on how a value happened to be built.
 *
 * The encoding is a format line (`kiln-canonical-v1`, then a newline) followed by the value as JSON with:
 * object keys sorted by UTF-16 code units (as RFC 8785), no whitespace, properties whose value is
 * `undefined` left out, numbers as JSON writes them (`-0` as `0`), strings as JSON escapes them, all of
 * it UTF-8. Only `null`, booleans, finite numbers, strings, arrays and plain objects are accepted;
 * anything else (an `undefined` array item, `NaN`, a bigint, a Date, a Map, a cycle) is a TypeError,
 * because a silent conversion would make two different values encode alike.
 *
 * Changing any of this changes every key: bump {@link CANONICAL_FORMAT} when it has to change.
 */
import { createHash } from 'node:crypto';

/** The version of the encoding, part of every encoded value. */
export const CANONICAL_FORMAT = 1;

const PREFIX = `kiln-canonical-v${CANONICAL_FORMAT}\n`;

/** What can be encoded. */
export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue | undefined };

/** The value's JSON in canonical form, without the format line. */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts, [], '');
  return parts.join('');
}

/** The canonical encoding of a value: the format line, then its canonical JSON, as UTF-8 bytes. */
export function canonicalEncode(value: unknown): Buffer {
  return Buffer.from(PREFIX + canonicalJson(value), 'utf8');
}

/** `sha256:<hex>` of the canonical encoding of a value. */
export function digestOf(value: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalEncode(value)).digest('hex')}`;
}

/** `sha256:<hex>` of raw bytes or text (UTF-8). */
export function sha256Digest(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Is this a `sha256:` digest of 64 lowercase hex digits? */
export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && /^sha256:[0-9a-f]{64}$/.test(value);
}

/** The 64 hex digits of a `sha256:` digest. */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) throw new TypeError(`not a sha256 digest: ${digest}`);
  return digest.slice('sha256:'.length);
}

/** `sha256:ab12cd34…`: a digest shortened for messages. */
export function shortDigest(digest: string, hexDigits = 12): string {
  const hex = digest.startsWith('sha256:') ? digest.slice('sha256:'.length) : digest;
  return `sha256:${hex.slice(0, hexDigits)}…`;
}

function write(value: unknown, parts: string[], seen: object[], where: string): void {
  switch (typeof value) {
    case 'string':
      parts.push(JSON.stringify(value));
      return;
    case 'boolean':
      parts.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${describe(where)} is ${value}, not a finite number`);
      parts.push(Object.is(value, -0) ? '0' : JSON.stringify(value));
      return;
    case 'object':
      break;
    default:
      throw new TypeError(`${describe(where)} is a ${typeof value}, which has no canonical encoding`);
  }
  if (value === null) {
    parts.push('null');
    return;
  }
  if (seen.includes(value)) throw new TypeError(`${describe(where)} refers back to itself`);
  seen.push(value);
  if (Array.isArray(value)) {
    parts.push('[');
    value.forEach((item, i) => {
      if (item === undefined) throw new TypeError(`${describe(`${where}[${i}]`)} is undefined`);
      if (i > 0) parts.push(',');
      write(item, parts, seen, `${where}[${i}]`);
    });
    parts.push(']');
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new TypeError(`${describe(where)} is a ${name}, not a plain object`);
    }
    const keys = Object.keys(value)
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .sort(compareCodeUnits);
    parts.push('{');
    keys.forEach((key, i) => {
      if (i > 0) parts.push(',');
      parts.push(JSON.stringify(key), ':');
      write((value as Record<string, unknown>)[key], parts, seen, `${where}.${key}`);
    });
    parts.push('}');
  }
  seen.pop();
}

/** Orders strings by UTF-16 code units (what `<` does), independent of locale. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describe(where: string): string {
  return where === '' ? 'the value' : `the value at ${where.replace(/^\./, '')}`;
}
