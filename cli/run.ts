/** Runs the CLI from source (tests and development: `node --import tsx cli/run.ts`). */
import { main } from './main.ts';

process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); throw err; });

// Hold the event loop open until main settles: a close that waits on unref'd handles (a store's
// worker thread) must not let the process end early with exit code 0.
const alive = setInterval(() => {}, 1 << 30);
main(process.argv.slice(2)).finally(() => clearInterval(alive)).then(
  (code) => process.exit(code),
  (err: unknown) => { console.error(err instanceof Error ? err.stack : err); process.exitCode = 1; },
);
