/**
 * Writes the step file's precompiled validator from schema/kiln.schema.json.
 * Run with `npm run gen:validator` after changing the schema.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/definition/schema.js';
import { VALIDATOR_FILE, validatorSource } from './validator-source.js';

const target = join(packageRoot(), VALIDATOR_FILE);
writeFileSync(target, validatorSource());
process.stdout.write(`wrote ${target}\n`);
