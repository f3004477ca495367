#!/usr/bin/env node
// The bundled command line (npm run build); the compiled modules when it is missing.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/kiln.mjs', import.meta.url);
const { main } = await import(existsSync(bundle) ? bundle.href : '../dist/src/cli/main.js');

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 3;
  },
);
