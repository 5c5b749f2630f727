/**
 * Command-line words shared by every command (the server's settings, the load generator, the
 * nightly gate): `--name value` / `--name=value` pairs, and the error a command throws for bad
 * usage. A UsageError lists every problem at once; the CLI prints it and exits 2.
 */

export class UsageError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.length === 1 ? problems[0]! : `invalid arguments:\n  - ${problems.join('\n  - ')}`);
    this.name = 'UsageError';
    this.problems = problems;
  }
}

/** Reads `--name value` / `--name=value` pairs; returns them and the words that are not flags. */
export function parseArgs(argv: readonly string[]): { flags: Map<string, string>; rest: string[] } {
  const flags = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) { rest.push(arg); continue; }
    const eq = arg.indexOf('=');
    if (eq > 0) { flags.set(arg.slice(2, eq), arg.slice(eq + 1)); continue; }
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) { flags.set(arg.slice(2), next); i++; } else flags.set(arg.slice(2), 'true');
  }
  return { flags, rest };
}
