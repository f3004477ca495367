/**
 * Step files for the loader's fuzz test, made from a seed: the valid fixtures mutated (characters
 * flipped, inserted and deleted, lines spliced and re-indented, anchors, aliases and merge keys added,
 * "billion laughs" levels, deep nesting, huge numbers, long strings, tags, unicode and control
 * characters), and random documents from the step file's vocabulary.
 *
 * Run as a worker thread (see loader-fuzz.test.ts), it loads and compiles cases until its time is up,
 * posting each case before it runs it and its outcome after, so that the test can stop a case that
 * hangs and name it.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { loadDefinitionText } from '../../src/definition/loader.js';
import { packageRoot } from '../../src/definition/schema.js';
import { isKilnError } from '../../src/errors.js';
import { compile } from '../../src/graph/compile.js';
import { withNeedProblems } from '../../src/graph/needs.js';
import { formatDiagnostics } from '../../src/cli/report-error.js';
import { DefinitionError } from '../../src/errors.js';

/** A small seeded generator (mulberry32): the same seed gives the same cases. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

type Next = () => number;

const int = (next: Next, below: number): number => Math.floor(next() * below);
const pick = <T>(next: Next, items: readonly T[]): T => items[int(next, items.length)] as T;

/** The step files mutations start from: the valid ones (fixtures and a few written here), and the rest. */
export interface Seeds {
  readonly valid: readonly string[];
  readonly invalid: readonly string[];
}

export function seedFiles(): Seeds {
  const root = join(packageRoot(), 'fixtures');
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => readFileSync(join(root, file), 'utf8'));
  const all = [...files, ...WRITTEN];
  const valid = all.filter((text) => runCase(text).kind === 'ok');
  return { valid, invalid: all.filter((text) => !valid.includes(text)) };
}

const WRITTEN = [
  [
    'version: 1',
    'x-base: &base',
    '  image: kiln-fixture/busybox:latest',
    '  env: { CI: "1", MODE: fast }',
    '  mounts: [{ type: tmpfs, target: /tmp/x, size: 1m, mode: "1777" }]',
    'x-steps: &steps',
    '  - { name: one, run: echo one, timeout: 90s }',
    '  - { name: two, run: [sh, -c, "echo two"], allow-failure: true }',
    'secrets: { token: { env: TOKEN }, key: { file: ~/.ssh/id } }',
    'jobs:',
    '  a:',
    '    <<: *base',
    '    steps: *steps',
    '  b:',
    '    <<: *base',
    '    needs: [a]',
    '    reuse: { name: dev-b }',
    '    timeout: 1h30m',
    '    steps:',
    '      - run: make',
    '        mounts:',
    '          - { type: secret, id: token, env: TOKEN }',
    '          - { type: ssh, required: false }',
    '          - { type: cache, id: c, target: /c, sharing: private }',
    '',
  ].join('\n'),
  'version: 1\njobs: { a: { image: busybox, steps: [{ run: "true" }] } }\n',
];

/** Characters a mutation inserts: YAML indicators, blanks, letters, digits, unicode, control characters. */
const CHARACTERS = [
  ...':-[]{},&*!|>\'"%@`#?~<=+./\\',
  ' ',
  ' ',
  '  ',
  '\n',
  '\n',
  '\t',
  '\r\n',
  ...'abcxyz019',
  'é',
  '✔',
  '😀',
  '\u0000',
  '\u0007',
  '\u001b',
  '\u001b[2J',
  '\u0085',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ud800',
];

const SNIPPETS = [
  'version: 1',
  'jobs:',
  'steps:',
  '- run: x',
  'needs: [a, b]',
  'image: kiln-fixture/busybox:latest',
  'timeout: 1000h',
  'timeout: 99999999999999999999',
  'timeout: 1e400',
  'size: 99999999999999999999g',
  'mode: 0o7777777',
  'uid: -1',
  'uid: 1e309',
  '<<: *base',
  '<<: [*a, *b]',
  '&a',
  '*a',
  '&a [x, y]',
  '*undefined',
  '!!binary aGVsbG8=',
  '!!timestamp 2001-12-14',
  '!!set { a, b }',
  '!!omap [a: 1]',
  '!custom x',
  '!!str',
  '!!int "x"',
  '? [a, b]\n: c',
  '---',
  '...',
  '%YAML 1.1',
  '%TAG ! tag:x,2000:',
  'null: x',
  '~: x',
  ': x',
  '"\\0"',
  '"\\e]0;x\\a"',
  '"\\x00\\x1b\\u2028"',
  '"a\\nb"',
  "'it''s'",
  '|\n  text',
  '>-\n  folded',
  '{ type: tmpfs, target: /proc/x }',
  '{ type: secret, id: s, target: /dev/null }',
  '{ type: cache, id: ' + 'c'.repeat(300) + ', target: /c }',
  'reuse: { name: "bad name/../x" }',
  'name: "a\\nok run passed"',
];

/** One random mutation of `text`. */
function mutate(text: string, next: Next): string {
  const at = int(next, text.length + 1);
  const lines = text.split('\n');
  const line = int(next, lines.length);
  switch (int(next, 16)) {
    case 14: // another value for a key
    case 15: {
      const values = [...SCALARS, ...VALUES];
      return text.replace(/: [^\n{}[\],]+/g, (match) => (next() < 0.15 ? `: ${pick(next, values)}` : match));
    }
    case 0: // flip a character
      return text.slice(0, at) + pick(next, CHARACTERS) + text.slice(at + 1);
    case 1: // insert characters
      return text.slice(0, at) + pick(next, CHARACTERS).repeat(1 + int(next, 3)) + text.slice(at);
    case 2: // delete a range
      return text.slice(0, at) + text.slice(at + 1 + int(next, 40));
    case 3: // copy a line elsewhere
      lines.splice(int(next, lines.length), 0, lines[line] ?? '');
      return lines.join('\n');
    case 4: // swap two lines
      {
        const other = int(next, lines.length);
        [lines[line], lines[other]] = [lines[other] ?? '', lines[line] ?? ''];
      }
      return lines.join('\n');
    case 5: // indent or dedent a line
      lines[line] = next() < 0.5 ? `  ${lines[line]}` : (lines[line] ?? '').replace(/^ {1,2}/, '');
      return lines.join('\n');
    case 6: // a snippet
      return text.slice(0, at) + pick(next, SNIPPETS) + text.slice(at);
    case 7: {
      // an anchor on a value and aliases to it
      const name = `a${int(next, 3)}`;
      const anchored = text.replace(/: /, `: &${name} `);
      const where = int(next, anchored.length + 1);
      return anchored.slice(0, where) + ` *${name}` + anchored.slice(where);
    }
    case 8: // levels of aliases of aliases
      return `${text}\n${bomb(2 + int(next, 8), 2 + int(next, 8))}`;
    case 9: {
      // deep nesting, flow or block
      const depth = 1 + int(next, next() < 0.5 ? 200 : 20_000);
      const nested =
        next() < 0.6
          ? '['.repeat(depth) + ']'.repeat(depth)
          : Array.from({ length: Math.min(depth, 400) }, (_, i) => `${' '.repeat(i)}k:`).join('\n');
      return `${text}\nx-deep: ${nested.includes('\n') ? `\n${nested}` : nested}\n`;
    }
    case 10: // a huge number
      return (
        text.slice(0, at) +
        pick(next, ['9'.repeat(400), '1e400', '-0', '0x7FFFFFFFFFFFFFFFF', '.inf', '-.nan']) +
        text.slice(at)
      );
    case 11: // a long string
      return (
        text.slice(0, at) +
        pick(next, ['a', ' ', '-', '"', '\\']).repeat(1 + int(next, 20_000)) +
        text.slice(at)
      );
    case 12: // a whole line of control characters and unicode
      lines.splice(line, 0, Array.from({ length: 1 + int(next, 8) }, () => pick(next, CHARACTERS)).join(''));
      return lines.join('\n');
    default: // many lines at once
      return lines.filter(() => next() < 0.8).join('\n');
  }
}

/** `levels` levels of `width` aliases each, under x- keys. */
export function bomb(levels: number, width: number): string {
  const lines = [`x-l0: &l0 [${Array.from({ length: width }, () => 'x').join(', ')}]`];
  for (let i = 1; i <= levels; i++) {
    lines.push(`x-l${i}: &l${i} [${Array.from({ length: width }, () => `*l${i - 1}`).join(', ')}]`);
  }
  return lines.join('\n');
}

const KEYS = [
  'version',
  'jobs',
  'defaults',
  'secrets',
  'image',
  'steps',
  'run',
  'name',
  'needs',
  'mounts',
  'type',
  'target',
  'source',
  'id',
  'env',
  'timeout',
  'reuse',
  'workdir',
  'shell',
  'user',
  'sharing',
  'size',
  'mode',
  'x-a',
  'a',
  'b',
];
/** Values that are often valid where they land, so that the compiler sees the case too. */
const VALUES = [
  '90s',
  '1000h',
  '596h31m24s',
  '0',
  '1m',
  'kiln-fixture/busybox:latest',
  'Busybox',
  'a b',
  '/proc/x',
  '/dev',
  '/dev/shm',
  '/run/x',
  '.',
  '~',
  'locked',
  '"1777"',
  '"8888"',
  '256m',
  '1e3',
  'x'.repeat(200),
  '"\\t"',
];
const SCALARS = [
  '1',
  '0',
  'true',
  'null',
  '~',
  'x',
  'bind',
  'cache',
  'tmpfs',
  'secret',
  'ssh',
  '/a',
  '90s',
  '"\\0"',
  '"\\e"',
  '-1',
  '1.5',
  '""',
];

/** A random document of the step file's vocabulary, in flow style. */
function randomDocument(next: Next, depth = 0): string {
  const roll = next();
  if (depth > 5 || roll < 0.35) return pick(next, SCALARS);
  if (roll < 0.55) {
    const items = Array.from({ length: int(next, 4) }, () => randomDocument(next, depth + 1));
    return `[${items.join(', ')}]`;
  }
  const entries = Array.from(
    { length: int(next, 5) },
    () => `${pick(next, KEYS)}: ${randomDocument(next, depth + 1)}`,
  );
  return `{ ${entries.join(', ')} }`;
}

/** Case `index` of the run with this seed. */
export function fuzzCase(seed: number, index: number, seeds: Seeds): string {
  const next = random((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  if (next() < 0.1) {
    const doc = randomDocument(next);
    return next() < 0.5 ? `version: 1\njobs: ${doc}\n` : `${doc}\n`;
  }
  let text = pick(next, next() < 0.85 ? seeds.valid : seeds.invalid);
  const count = 1 + int(next, next() < 0.5 ? 2 : 4);
  for (let i = 0; i < count; i++) text = mutate(text, next);
  return text;
}

/** What loading and compiling a case came to. */
export type Outcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'refused'; readonly problems: number }
  | { readonly kind: 'crash'; readonly error: string };

/** Loads and compiles `text` as `kiln validate` does; anything but success or exit code 2 is a crash. */
export function runCase(text: string): Outcome {
  try {
    let definition;
    try {
      definition = loadDefinitionText(text, '/project/kiln.yaml');
    } catch (error) {
      throw withNeedProblems(error);
    }
    compile(definition, { env: { HOME: '/home/me' } });
    return { kind: 'ok' };
  } catch (error) {
    if (isKilnError(error) && error.exitCode === 2) {
      if (error instanceof DefinitionError) formatDiagnostics(error.diagnostics, '/project');
      return { kind: 'refused', problems: error instanceof DefinitionError ? error.diagnostics.length : 1 };
    }
    const shown =
      error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
    return { kind: 'crash', error: shown };
  }
}

/** Messages between the worker and the test. */
export type WorkerMessage =
  | { readonly type: 'case'; readonly index: number; readonly text: string }
  | { readonly type: 'outcome'; readonly index: number; readonly outcome: Outcome; readonly ms: number }
  | { readonly type: 'done'; readonly count: number };

if (!isMainThread && parentPort !== null) {
  const { seed, budgetMs } = workerData as { seed: number; budgetMs: number };
  const port = parentPort;
  const seeds = seedFiles();
  const started = Date.now();
  let index = 0;
  for (; Date.now() - started < budgetMs; index++) {
    const text = fuzzCase(seed, index, seeds);
    port.postMessage({ type: 'case', index, text } satisfies WorkerMessage);
    const caseStarted = performance.now();
    const outcome = runCase(text);
    port.postMessage({
      type: 'outcome',
      index,
      outcome,
      ms: performance.now() - caseStarted,
    } satisfies WorkerMessage);
  }
  port.postMessage({ type: 'done', count: index } satisfies WorkerMessage);
}
