#!/usr/bin/env node
// The published entry point runs the compiled CLI (`npm run build`, done by `npm install`).
import { main } from '../dist/cli/main.js';

// `parley ... | head` closes the pipe early: that is the reader's choice, not a crash.
process.stdout.on('error', (err) => { if (err.code === 'EPIPE') process.exit(0); throw err; });

// Hold the event loop open until main settles: a close that waits on unref'd handles (a store's
// worker thread) must not let the process end early with exit code 0.
const alive = setInterval(() => {}, 1 << 30);
main(process.argv.slice(2)).finally(() => clearInterval(alive)).then(
  (code) => process.exit(code),
  (err) => { console.error(err instanceof Error ? err.stack : err); process.exit(1); },
);
