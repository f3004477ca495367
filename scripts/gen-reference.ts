/**
 * Writes docs/step-file.md, the step file's reference, from schema/kiln.schema.json.
 * Run with `npm run docs:reference`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReference } from '../src/definition/reference.js';
import { packageRoot } from '../src/definition/schema.js';

const target = join(packageRoot(), 'docs', 'step-file.md');
writeFileSync(target, renderReference());
process.stdout.write(`wrote ${target}\n`);
