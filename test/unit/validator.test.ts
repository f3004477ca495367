import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { packageRoot, stepFileSchema } from '../../src/definition/schema.js';
import { validate as generated } from '../../src/definition/step-file-validator.generated.js';
import { VALIDATOR_OPTIONS } from '../../src/definition/validator-options.js';
import { VALIDATOR_FILE, validatorSource } from '../../scripts/validator-source.js';

test('the precompiled validator is what the schema compiles to now', (t) => {
  t.true(
    readFileSync(join(packageRoot(), VALIDATOR_FILE), 'utf8') === validatorSource(),
    `${VALIDATOR_FILE} is out of date with schema/kiln.schema.json: run \`npm run gen:validator\` and commit it`,
  );
});

test('the precompiled validator finds the same faults as ajv compiling the schema at run time', (t) => {
  const compiled = new Ajv({ ...VALIDATOR_OPTIONS }).compile(stepFileSchema());
  const documents: unknown[] = [
    { version: 1, jobs: { a: { image: 'x', steps: [{ run: 'true' }] } } },
    { version: 2, jobs: {}, extra: true },
    { version: 1, jobs: { 'bad name': { steps: [] }, b: { imagee: 'x', steps: [{ run: 1 }] } } },
    {
      version: 1,
      secrets: { s: { env: 'A', file: 'b' } },
      jobs: {
        a: {
          reuse: { name: '' },
          timeout: '1x',
          steps: [{ run: ['a'], mounts: [{ type: 'volume' }, { type: 'tmpfs', target: '/t', size: '1q' }] }],
        },
      },
    },
  ];
  const faults = (errors: ErrorObject[] | null | undefined) =>
    (errors ?? []).map((e) => ({ ...e, schema: undefined, parentSchema: e.parentSchema?.title }));
  const run = generated as unknown as ValidateFunction;
  for (const document of documents) {
    t.is(run(document), compiled(document), JSON.stringify(document));
    t.deepEqual(faults(run.errors), faults(compiled.errors), JSON.stringify(document));
  }
  t.true(run(documents[0]));
  t.false(run(documents[3]));
  t.true(run.errors!.length >= 4, 'every fault of a bad document, not only the first');
});
