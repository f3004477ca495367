/**
 * JSON pointers (RFC 6901) into a step file, and their names in messages (`step 'compile' of job 'build'`).
 */
import { hasControlCharacters } from '../visible-text.js';

/** Escapes one token: `~` -> `~0`, `/` -> `~1`. */
export function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function unescapeToken(token: string): string {
  if (!token.includes('~')) return token;
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** `/jobs/a~1b/steps/0` -> `['jobs', 'a/b', 'steps', '0']`; `''` (the whole document) -> `[]`. */
export function splitPointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map(unescapeToken);
}

export function joinPointer(tokens: readonly string[]): string {
  return tokens.map((t) => `/${escapeToken(t)}`).join('');
}

/** The pointer of the value that holds this one; `undefined` for the document itself. */
export function parentPointer(pointer: string): string | undefined {
  if (pointer === '') return undefined;
  return pointer.slice(0, pointer.lastIndexOf('/'));
}

function valueAt(document: unknown, tokens: readonly string[]): unknown {
  let current = document;
  for (const token of tokens) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[token];
  }
  return current;
}

/**
 * What a pointer designates, in words: `job 'build'`, `step 'compile' of job 'build'` (or `step 2 of
 * ...` when unnamed), `mount 1 of defaults`, `'needs' of job 'build'`, `item 2 of 'needs' of job 'b'`.
 * `document` gives step names; `''` is `the step file`.
 */
export function describePointer(pointer: string, document?: unknown): string {
  return describeTokens(splitPointer(pointer), document);
}

function describeTokens(tokens: readonly string[], document: unknown): string {
  const n = tokens.length;
  if (n === 0) return 'the step file';
  const last = tokens[n - 1] as string;
  const parent = tokens.slice(0, -1);
  const owner = parent[parent.length - 1];
  if (n === 1) return last === 'defaults' ? 'defaults' : `'${last}'`;
  if (n === 2 && tokens[0] === 'jobs') return `job '${last}'`;
  if (n === 2 && tokens[0] === 'secrets') return `secret '${last}'`;
  // A step file's own values are at most 7 levels deep; deeper, the levels between are not named.
  if (n > 8) return `'${last}', ${n - 3} levels inside ${describeTokens(tokens.slice(0, 2), document)}`;
  if (/^[0-9]+$/.test(last) && (owner === 'steps' || owner === 'mounts')) {
    // Described once per level: a pointer 100 levels deep must not take exponential time.
    const of = describeTokens(parent.slice(0, -1), document);
    const index = Number(last) + 1;
    if (owner === 'mounts') return `mount ${index} of ${of}`;
    const name = (valueAt(document, tokens) as { name?: unknown } | undefined)?.name;
    // A name that is itself at fault (a control character in it) is not used to point at its step.
    return typeof name === 'string' && name !== '' && !hasControlCharacters(name)
      ? `step '${name}' of ${of}`
      : `step ${index} of ${of}`;
  }
  if (/^[0-9]+$/.test(last) && (document === undefined || Array.isArray(valueAt(document, parent)))) {
    return `item ${Number(last) + 1} of ${describeTokens(parent, document)}`;
  }
  return `'${last}' of ${describeTokens(parent, document)}`;
}

/** `in job 'build'`, or `at the top level` for the document itself. */
export function describeContainer(pointer: string, document?: unknown): string {
  return pointer === '' ? 'at the top level' : `in ${describePointer(pointer, document)}`;
}
