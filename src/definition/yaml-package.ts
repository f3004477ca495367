/**
 * The `yaml` package, loaded on first use. A plain step file is read by js-yaml (fast-read.ts) and never
 * needs it; importing it eagerly would add about a tenth of a second to every `kiln` start.
 */
import { createRequire } from 'node:module';

type YamlPackage = typeof import('yaml');

let loaded: YamlPackage | undefined;

export function yamlPackage(): YamlPackage {
  loaded ??= createRequire(import.meta.url)('yaml') as YamlPackage;
  return loaded;
}
