/**
 * The folder of the kiln package: the one above this module that holds `package.json` and
 * `schema/kiln.schema.json`, whether kiln runs from its compiled modules (`dist/src/...`) or from the
 * bundled command line (`dist/kiln.mjs`).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InfrastructureError } from './errors.js';

let found: string | undefined;

export function packageRoot(): string {
  if (found !== undefined) return found;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'schema', 'kiln.schema.json')) && existsSync(join(dir, 'package.json'))) {
      found = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new InfrastructureError(
        `kiln's step file schema (schema/kiln.schema.json) is missing from its package above ` +
          `${fileURLToPath(import.meta.url)}; reinstall kiln`,
      );
    }
    dir = parent;
  }
}
