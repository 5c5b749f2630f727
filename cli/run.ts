/** Runs the CLI from source (tests and development: `node --import tsx cli/run.ts`). */
import { main } from './main.ts';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => { console.error(err instanceof Error ? err.stack : err); process.exitCode = 1; },
);
