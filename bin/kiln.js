#!/usr/bin/env node
// The bundled command line (npm run build), unless the compiled modules are newer (a `tsc` since the
// last bundle, while developing): then those.
import { statSync } from 'node:fs';

const bundle = new URL('../dist/kiln.mjs', import.meta.url);
const modules = new URL('../dist/src/cli/main.js', import.meta.url);
const mtime = (url) => statSync(url, { throwIfNoEntry: false })?.mtimeMs ?? -1;
const { main } = await import(mtime(bundle) >= mtime(modules) ? bundle.href : modules.href);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 3;
  },
);
