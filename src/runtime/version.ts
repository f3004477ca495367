/** kiln's version, from its package.json. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../package-root.js';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
      name?: string;
      version?: string;
    };
    if (pkg.name === 'kiln' && pkg.version) return pkg.version;
  } catch {
    // no package.json where kiln runs from: an unknown version
  }
  return '0.0.0';
}

export const KILN_VERSION = readVersion();
