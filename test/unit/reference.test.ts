import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReference } from '../../src/definition/reference.js';
import { packageRoot, stepFileSchema } from '../../src/definition/schema.js';

const documented = (): string => readFileSync(join(packageRoot(), 'docs', 'step-file.md'), 'utf8');

test('docs/step-file.md is what the schema renders now', (t) => {
  t.true(
    documented() === renderReference(),
    'docs/step-file.md is out of date with schema/kiln.schema.json: run `npm run docs:reference` and commit it',
  );
});

test('the reference documents every key of every object of the schema', (t) => {
  const page = documented();
  const schema = stepFileSchema();
  const missing = [schema, ...Object.values(schema.definitions)]
    .flatMap((node) => Object.keys(node.properties ?? {}))
    .filter((key) => !page.includes(`| \`${key}\``));
  t.deepEqual(missing, []);
});

test('the reference tells editors where the schema is', (t) => {
  t.true(
    documented().includes('# yaml-language-server: $schema=./node_modules/kiln/schema/kiln.schema.json'),
  );
});
