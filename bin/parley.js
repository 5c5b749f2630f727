#!/usr/bin/env node
// The published entry point runs the compiled CLI (`npm run build`, done by `npm install`).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => { console.error(err instanceof Error ? err.stack : err); process.exit(1); },
);
