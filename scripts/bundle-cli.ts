/**
 * Bundles the command line into one module, `dist/kiln.mjs`, which `bin/kiln.js` runs. Node's ESM loader
 * pays for every module it resolves, reads and links; kiln's two hundred small modules cost more to load
 * than an unchanged rerun costs to run. The bundle keeps each command's code behind its dynamic import,
 * so `kiln --version` still loads little; dockerode is not bundled (src/runtime/dockerode.ts loads it
 * with its heavy parts deferred), nor are the packages loaded through createRequire.
 * Run by `npm run build`, after tsc.
 */
import { build } from 'esbuild';
import { join } from 'node:path';
import { packageRoot } from '../src/package-root.js';

const root = packageRoot();
await build({
  entryPoints: [join(root, 'dist', 'src', 'cli', 'main.js')],
  outfile: join(root, 'dist', 'kiln.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // CommonJS packages inside an ES module bundle call `require`: give them one.
  banner: {
    js: "import { createRequire as kilnCreateRequire } from 'node:module';\nconst require = kilnCreateRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  logLevel: 'warning',
});
