import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { parseSimpleYaml } from '../../src/definition/fast-parse.js';
import { packageRoot } from '../../src/definition/schema.js';
import { collectOffsets, type SourceOffsets } from '../../src/definition/source-positions.js';

/** What the `yaml` package reads: the data and offsets, or `undefined` when it finds errors. */
function readWithYaml(text: string): unknown {
  const document = parseDocument(text, { uniqueKeys: false, merge: true, prettyErrors: false });
  const { offsets, duplicates } = collectOffsets(document);
  if (document.errors.length > 0 || duplicates.length > 0) return undefined;
  return comparable(document.toJS(), offsets);
}

function readFast(text: string): unknown {
  const result = parseSimpleYaml(text);
  return result === undefined ? undefined : comparable(result.data, result.offsets);
}

/** The data, and every pointer with the offsets of its value and key and whether it is a collection. */
function comparable(data: unknown, offsets: SourceOffsets): unknown {
  const nodes = [...offsets.entries()].map(([pointer, node]) => [
    pointer,
    node.value,
    node.key,
    node.children === undefined ? 'scalar' : Array.isArray(node.children) ? 'list' : 'map',
  ]);
  return { data, nodes };
}

const sameAsYaml = test.macro({
  exec(t, text: string) {
    const fast = readFast(text);
    t.not(fast, undefined, 'the fast reader gave up');
    t.deepEqual(fast, readWithYaml(text));
  },
  title: (title, text: string) =>
    title ?? `the fast reader reads ${JSON.stringify(text)} as the yaml package does`,
});

const givesUp = test.macro({
  exec(t, text: string) {
    t.is(readFast(text), undefined);
  },
  title: (title, text: string) =>
    title ?? `the fast reader leaves ${JSON.stringify(text)} to the yaml package`,
});

test(sameAsYaml, 'version: 1\njobs:\n  a:\n    steps:\n      - run: make\n');
test(
  sameAsYaml,
  '# lead\n\nversion: 1   # trailing\njobs:\n  a:\n    steps:\n    - run: make # c\n      name: x\n',
);
test(sameAsYaml, 'a: { b: [1, "two", \'three\'], c: {} , d: [] }\n');
test(sameAsYaml, 'a:\n  - { type: cache, id: c, target: /c }\n  -   x: 1\n      y: true\n');
test(sameAsYaml, "a: \"esc \\\" \\\\ \\n \\t \\u00e9\"\nb: 'it''s'\n\"c d\": x\n'e': y\n");
test(sameAsYaml, 'a: kiln-fixture/busybox:latest\nb: http://x/y?z#w\nc: a#b\nd: 1h30m\ne: 90s\n');
test(sameAsYaml, 'a: ~\nb: null\nc: True\nd: FALSE\ne: 123\nf: echo {a,b} [c]\n');
test(sameAsYaml, 'a:\n  b:\n    - x\n    - y\n  c:\n  - z\n');

test(givesUp, 'a: &x 1\nb: *x\n');
test(givesUp, 'a: !tag 1\n');
test(givesUp, 'a: |\n  text\n');
test(givesUp, 'a: >\n  text\n');
test(givesUp, 'a: plain\n  continued\n');
test(givesUp, 'a: "open\n  close"\n');
test(givesUp, 'a: [1,\n  2]\n');
test(givesUp, 'a: 1.5\n');
test(givesUp, 'a: 0o17\n');
test(givesUp, 'a: 1\na: 2\n');
test(givesUp, 'a:\n');
test(givesUp, 'a: b: c\n');
test(givesUp, '---\na: 1\n');
test(givesUp, 'a:\n\tb: 1\n');
test(givesUp, '- a\n');
test(givesUp, 'text\n');
test(givesUp, '');
test(givesUp, 'x: &b { image: i }\na:\n  <<: *b\n');
test(givesUp, 'a: [x: 1]\n');

test('the fast reader reads every fixture it accepts as the yaml package does', (t) => {
  const root = join(packageRoot(), 'fixtures');
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yaml'));
  let accepted = 0;
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    const fast = readFast(text);
    if (fast === undefined) continue;
    accepted++;
    t.deepEqual(fast, readWithYaml(text), file);
  }
  t.log(`${accepted} of ${files.length} fixtures read by the fast reader`);
  t.true(accepted > 0);
});

/** A small seeded generator (mulberry32), so that failures repeat. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SCALARS = [
  'a',
  'a b',
  'a:b',
  'a: b',
  'a #b',
  'a#b',
  '#a',
  '-a',
  '- a',
  '-',
  '1',
  '-7',
  '01',
  '+1',
  '1.5',
  '1e3',
  '.inf',
  '0o7',
  '0x1F',
  'true',
  'True',
  'yes',
  'null',
  '~',
  '',
  "it's",
  'say "hi"',
  '[x]',
  '{x}',
  'x,y',
  '*a',
  '&a',
  '!t',
  '|',
  '>',
  '%',
  '@',
  '`',
  '?',
  ':',
  'a\\b',
  'é',
  '/bin/sh -c',
  'a: ',
  ' a',
  'x]',
  'y}',
  '<<',
  'k:',
];

function renderScalar(value: string, next: () => number): string {
  const style = Math.floor(next() * 3);
  if (style === 0) return value;
  if (style === 1) return `'${value.replace(/'/g, "''")}'`;
  return JSON.stringify(value);
}

function renderFlow(depth: number, next: () => number): string {
  const n = Math.floor(next() * 3);
  const pick = (): string =>
    depth < 2 && next() < 0.2
      ? renderFlow(depth + 1, next)
      : renderScalar(SCALARS[Math.floor(next() * SCALARS.length)] as string, next);
  const items = Array.from({ length: n }, () => (next() < 0.5 ? pick() : `${pick()}: ${pick()}`));
  return next() < 0.5
    ? `[${items.join(', ')}]`
    : `{ ${items.map((i) => (i.includes(': ') ? i : `${i}: x`)).join(', ')} }`;
}

function renderBlock(indent: number, depth: number, next: () => number): string[] {
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  const isSeq = depth > 0 && next() < 0.4;
  const n = 1 + Math.floor(next() * 3);
  for (let i = 0; i < n; i++) {
    const lead = isSeq
      ? '- '
      : `${renderScalar(SCALARS[Math.floor(next() * SCALARS.length)] as string, next)}: `;
    const roll = next();
    if (depth < 3 && roll < 0.3) {
      lines.push(
        `${pad}${lead.trimEnd()}`,
        ...renderBlock(indent + 1 + Math.floor(next() * 3), depth + 1, next),
      );
    } else if (roll < 0.45) {
      lines.push(`${pad}${lead}${renderFlow(0, next)}`);
    } else {
      const comment = next() < 0.2 ? ' # note' : '';
      lines.push(
        `${pad}${lead}${renderScalar(SCALARS[Math.floor(next() * SCALARS.length)] as string, next)}${comment}`,
      );
    }
    if (next() < 0.1) lines.push(`${pad}# a comment`);
  }
  return lines;
}

test('on 2,000 generated documents, the fast reader either gives up or reads as the yaml package does', (t) => {
  const next = random(20240601);
  let accepted = 0;
  for (let i = 0; i < 2000; i++) {
    const text = `${renderBlock(0, 0, next).join('\n')}\n`;
    const fast = readFast(text);
    if (fast === undefined) continue;
    accepted++;
    const expected = readWithYaml(text);
    if (expected === undefined) t.fail(`the yaml package rejects what the fast reader read:\n${text}`);
    else t.deepEqual(fast, expected, text);
  }
  t.log(`${accepted} of 2000 generated documents read by the fast reader`);
  t.true(accepted > 200);
});
