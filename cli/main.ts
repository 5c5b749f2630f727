/**
 * The `parley` command line. Each command is a function of its arguments returning an exit code;
 * `bin/parley.js` runs the compiled form, tests import `main` directly.
 */
import { resolveSecret, TokenAuthority } from '../core/edge/auth.ts';
import { loadConfig, settingsHelp } from '../core/config.ts';
import { parseArgs, UsageError } from '../core/args.ts';
import { ParleyError } from '../core/errors.ts';
import { startServer } from '../core/server.ts';
import { ALERTS_HELP, alertsCommand } from './alerts.ts';
import { KEYS_HELP, keysCommand } from './keys.ts';
import { FLAGS_HELP, flagsCommand } from './flags.ts';
import { LOAD_HELP, load } from '../loadtest/cli.ts';
import { PROFILE_HELP, profileCommand } from '../loadtest/profile.ts';
import { NIGHTLY_HELP, nightly } from '../nightly/cli.ts';
import { DASHBOARDS_HELP, dashboardsCommand } from '../dashboards/render.ts';

type Command = { summary: string; help: string; run: (argv: string[]) => Promise<number> };

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run a chat node (embedded defaults: SQLite under ./data, in-process bus)',
    help: `usage: parley serve [--flag value ...]

Every setting is a flag or a PARLEY_* variable (flags win):
${settingsHelp()}

SIGTERM or SIGINT drains: stop accepting, tell clients to reconnect (4000), finish in-flight
commits, exit 0 within --drain-timeout-ms.`,
    run: serve,
  },
  token: {
    summary: 'mint an access token for a user (development and load tests)',
    help: `usage: parley token <userId> [--ttl-sec N] [--data-dir DIR] [--secret S]

Prints an HS256 token for <userId>, signed with the node's secret (--secret / PARLEY_SECRET, or
the one generated in the data dir). Default lifetime: --token-ttl-sec (86400).`,
    run: token,
  },
  flags: { summary: 'list, evaluate and roll out feature flags (flags/features.json)', help: FLAGS_HELP, run: (argv) => flagsCommand(argv) },
  alerts: { summary: 'render the alert definitions as Prometheus rules, or list them', help: ALERTS_HELP, run: alertsCommand },
  load: { summary: 'drive simulated users against a node; thresholds gate the exit code', help: LOAD_HELP, run: load },
  profile: { summary: 'profile a fresh node (clinic or --cpu-prof) while a scenario drives it', help: PROFILE_HELP, run: profileCommand },
  nightly: { summary: 'build, deploy and load two refs interleaved, compare, publish the report and gate the release', help: NIGHTLY_HELP, run: (argv) => nightly(argv) },
  dashboards: { summary: 'render the Grafana dashboards (jsonnet) from the metric catalog and alert rules', help: DASHBOARDS_HELP, run: dashboardsCommand },
  keys: { summary: 'rotate the roster-note encryption key, re-encrypt old notes, list keys', help: KEYS_HELP, run: keysCommand },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: parley <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun \`parley <command> --help\` for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`parley: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ParleyError) {
      console.error(`parley ${name}: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

async function serve(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv);
  if (rest.length) throw new UsageError([`unexpected argument "${rest[0]}"`]);
  const config = loadConfig(flags);
  const server = await startServer(config);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      server.log.info({ signal }, 'draining');
      const hardStop = setTimeout(() => {
        server.log.error('drain exceeded its bound; exiting');
        resolve(1);
      }, config.drainTimeoutMs + 5_000);
      hardStop.unref();
      server.close().then(() => { clearTimeout(hardStop); resolve(0); }, (err: unknown) => {
        server.log.error({ err }, 'drain failed');
        resolve(1);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

async function token(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv);
  const ttl = flags.get('ttl-sec');
  flags.delete('ttl-sec');
  const config = loadConfig(flags);
  const user = rest[0];
  if (!user || rest.length > 1) throw new UsageError(['expected exactly one <userId>']);
  const ttlSec = ttl === undefined ? config.tokenTtlSec : Number(ttl);
  if (!Number.isSafeInteger(ttlSec) || ttlSec < 1) throw new UsageError([`--ttl-sec must be a positive integer, got "${ttl}"`]);
  const authority = new TokenAuthority(resolveSecret(config.secret, config.dataDir));
  console.log(await authority.mint(user, ttlSec));
  return 0;
}
