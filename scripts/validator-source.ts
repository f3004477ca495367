/**
 * The source of src/definition/step-file-validator.generated.ts: ajv's standalone code for
 * schema/kiln.schema.json, so that kiln validates a step file without compiling the schema at every
 * start (ajv's import and compile took about 140 ms of `kiln validate`'s 290 ms).
 */
import { Ajv } from 'ajv';
import standalone from 'ajv/dist/standalone/index.js';
import { stepFileSchema } from '../src/definition/schema.js';
import { VALIDATOR_OPTIONS } from '../src/definition/validator-options.js';

/** The file the generated validator is written to, relative to the package root. */
export const VALIDATOR_FILE = 'src/definition/step-file-validator.generated.ts';

/** The CommonJS module is the function itself, which its typings (a `default` export) do not tell NodeNext. */
const standaloneCode = standalone as unknown as typeof standalone.default;

/** ajv's runtime helpers the standalone code asks for, as ESM imports. */
const RUNTIME_HELPER = /require\("(ajv\/dist\/runtime\/[a-z0-9]+)"\)/gi;

/**
 * ajv adds the errors of a referenced schema's function to those found so far with `concat`, which
 * copies them all each time: a file with thousands of faulty steps took quadratic time (minutes).
 * Appending them in place is linear.
 */
const CONCAT_ERRORS = /vErrors = vErrors === null \? (validate\d+)\.errors : vErrors\.concat\(\1\.errors\);/g;

export function validatorSource(): string {
  const ajv = new Ajv({ ...VALIDATOR_OPTIONS, code: { source: true, esm: true } });
  const code = standaloneCode(ajv, ajv.compile(stepFileSchema()));
  const helpers = new Map<string, string>();
  const body = code
    .replace(RUNTIME_HELPER, (_match: string, path: string) => {
      const name = `runtime_${path.split('/').pop()}`;
      helpers.set(name, path);
      return name;
    })
    .replace(
      CONCAT_ERRORS,
      (_match: string, fn: string) =>
        `if (vErrors === null) { vErrors = ${fn}.errors; } else { for (const e of ${fn}.errors) vErrors.push(e); }`,
    );
  const imports = [...helpers].map(([name, path]) => `import ${name} from '${path}.js';\n`).join('');
  return (
    '// @ts-nocheck\n' +
    '// Generated from schema/kiln.schema.json by `npm run gen:validator` (scripts/gen-validator.ts): do not edit.\n' +
    imports +
    body +
    (body.endsWith('\n') ? '' : '\n')
  );
}
