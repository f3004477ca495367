/**
 * The loader's fast path (js-yaml) must read every step file it accepts exactly as the `yaml` package,
 * which the loader uses for positions and errors, reads it.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { readFast } from '../../src/definition/fast-read.js';
import { packageRoot } from '../../src/definition/schema.js';
import { collectOffsets } from '../../src/definition/source-positions.js';
import { validateDocument } from '../../src/definition/validate.js';

/** What the `yaml` package reads, or `undefined` when it finds errors. */
function readWithYaml(text: string): unknown {
  const document = parseDocument(text, { uniqueKeys: false, merge: true, prettyErrors: false });
  const { duplicates } = collectOffsets(document);
  if (document.errors.length > 0 || duplicates.length > 0) return undefined;
  try {
    return document.toJS();
  } catch {
    return undefined;
  }
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
test(sameAsYaml, 'a: |\n  text\n  more\n');
test(sameAsYaml, 'a: >\n  folded\n  text\n');
test(sameAsYaml, 'a: plain\n  continued\n');
test(sameAsYaml, 'a: [1,\n  2]\n');
test(sameAsYaml, 'a: 1.5\nb: 0o17\nc: 0x1F\nd: 2024-01-01\ne: yes\n');
test(sameAsYaml, 'a:\n');
test(givesUp, 'a: &x 1\nb: *x\n');
test(givesUp, 'x: &b { image: i }\na:\n  <<: *b\n');
test(givesUp, 'a: 1\na: 2\n');
test(givesUp, 'a: b: c\n');
test(givesUp, '- a\n');
test(givesUp, 'text\n');
test(givesUp, '');

test('the fast reader reads every fixture it accepts as the yaml package does', (t) => {
  const root = join(packageRoot(), 'fixtures');
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yaml'));
  let accepted = 0;
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    const fast = readFast(text);
    if (fast === undefined) continue;
    accepted++;
    const expected = readWithYaml(text);
    if (expected !== undefined) t.deepEqual(fast, expected, file);
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

/** Strings that tempt a YAML reader: comments, colons, quotes, brackets, numbers, booleans. */
const VALUES = SCALARS.filter((v) => v !== '');

function quoted(value: string, next: () => number): string {
  // A plain scalar only where it stays a string in both readers' eyes is the test's business: render
  // plain when it looks safe, else single or double quoted, at random.
  const style = Math.floor(next() * 3);
  if (
    style === 0 &&
    /^[A-Za-z/][A-Za-z0-9/._ -]*$/.test(value) &&
    !/^(true|false|null|yes|no|on|off|y|n)$/i.test(value)
  ) {
    return value;
  }
  if (style === 1) return `'${value.replace(/'/g, "''")}'`;
  return JSON.stringify(value);
}

/** A valid step file in a random mix of block and flow styles. */
function renderStepFile(next: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const value = () => quoted(pick(VALUES), next);
  const lines = ['version: 1', 'jobs:'];
  const jobs = 1 + Math.floor(next() * 3);
  for (let j = 0; j < jobs; j++) {
    lines.push(`  job-${j}:${next() < 0.2 ? '   # a job' : ''}`);
    lines.push(`    image: ${value()}`);
    if (j > 0 && next() < 0.5)
      lines.push(next() < 0.5 ? `    needs: [job-${j - 1}]` : `    needs:\n      - job-${j - 1}`);
    if (next() < 0.5) {
      lines.push(
        next() < 0.5
          ? `    env: { A: ${value()}, B_2: ${value()} }`
          : `    env:\n      A: ${value()}\n      B_2: ${value()}`,
      );
    }
    if (next() < 0.4)
      lines.push(`    mounts:\n      - { type: cache, id: c${j}, target: /c, sharing: locked }`);
    lines.push('    steps:');
    const steps = 1 + Math.floor(next() * 3);
    for (let k = 0; k < steps; k++) {
      const roll = next();
      if (roll < 0.3) lines.push(`      - { name: s${k}, run: ${value()} }`);
      else if (roll < 0.6) lines.push(`      - name: s${k}\n        run: ${value()}`);
      else if (roll < 0.8) lines.push(`      - name: s${k}\n        run: [${value()}, ${value()}]`);
      else
        lines.push(
          `      - name: s${k}\n        run: |\n          ${pick(VALUES).replace(/^\s+/, '')}\n          second line`,
        );
    }
  }
  return `${lines.join('\n')}\n`;
}

test('on 2,000 generated step files, the fast reader reads every valid one as the yaml package does', (t) => {
  const next = random(20240601);
  let compared = 0;
  for (let i = 0; i < 2000; i++) {
    const text = renderStepFile(next);
    const fast = readFast(text);
    if (fast === undefined || validateDocument(fast).length > 0) continue;
    compared++;
    t.deepEqual(fast, readWithYaml(text), text);
  }
  t.log(`${compared} of 2000 generated step files valid and compared`);
  t.true(compared > 1000);
});
