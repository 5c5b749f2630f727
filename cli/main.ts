/**
 * The `parley` command line. Each command is a function of its arguments returning an exit code;
 * `bin/parley.js` runs the compiled form, tests import `main` directly.
 */
import { resolveSecret, TokenAuthority } from '../core/edge/auth.ts';
import { settingsHelp, wrap } from '../core/config.ts';
import { parseArgs, UsageError } from '../core/args.ts';
import { ParleyError } from '../core/errors.ts';
import { PACKAGE_VERSION } from '../core/paths.ts';
import { BindError, startServer } from '../core/server.ts';
import { commandConfig } from './config.ts';
import { ALERTS_HELP, alertsCommand } from './alerts.ts';
import { KEYS_HELP, keysCommand } from './keys.ts';
import { FLAGS_HELP, flagsCommand } from './flags.ts';
import { CANARY_HELP, canaryCommand } from './canary.ts';
import { LOAD_HELP, load } from '../loadtest/cli.ts';
import { PROFILE_HELP, profileCommand } from '../loadtest/profile.ts';
import { NIGHTLY_HELP, nightly } from '../nightly/cli.ts';
import { DASHBOARDS_HELP, dashboardsCommand } from '../dashboards/render.ts';
import { OPS_HELP, opsCommand } from './ops.ts';
import { CLUSTER_HELP, clusterCommand } from './cluster.ts';
import { SEARCH_HELP, searchCommand } from './search.ts';

type Command = { summary: string; help: string; run: (argv: string[]) => Promise<number> };

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run a chat node (embedded defaults: SQLite under ./data, in-process bus)',
    help: `usage: parley serve [--setting value ...]

Every setting is a flag or a PARLEY_* variable (flags win). An empty value is an error: leave a
setting out to get its default. A PARLEY_* variable that is no setting is reported on stderr.
${settingsHelp()}

SIGTERM or SIGINT drains: stop accepting, tell clients to reconnect (4000), finish in-flight
commits, exit 0 within --drain-timeout-ms. A port that cannot be bound exits 2.`,
    run: serve,
  },
  token: {
    summary: 'mint an access token for a user (development and load tests)',
    help: `usage: parley token <userId> [--ttl-sec N] [--data-dir DIR] [--secret S]

Prints an HS256 token for <userId>, signed with the node's secret (--secret / PARLEY_SECRET, or
the one generated in the data dir). Default lifetime: --token-ttl-sec (86400). Every
\`parley serve\` setting is accepted too. When neither a secret nor a data dir with one exists, a
new secret is generated and a warning says that only a node started on that data dir accepts
the token.`,
    run: token,
  },
  flags: { summary: 'list, evaluate and roll out feature flags (flags/features.json); push and pull them to and from Unleash', help: FLAGS_HELP, run: (argv) => flagsCommand(argv) },
  canary: { summary: 'judge a flag\'s variant against control from the nodes\' metrics; widen, hold or roll back its rollout', help: CANARY_HELP, run: (argv) => canaryCommand(argv) },
  alerts: { summary: 'render the alert definitions as Prometheus rules, or list them', help: ALERTS_HELP, run: alertsCommand },
  load: { summary: 'drive simulated users against a node; thresholds gate the exit code', help: LOAD_HELP, run: load },
  profile: { summary: 'profile a fresh node (clinic or --cpu-prof) while a scenario drives it', help: PROFILE_HELP, run: profileCommand },
  nightly: { summary: 'build, deploy and load two refs interleaved, compare, publish the report and gate the release', help: NIGHTLY_HELP, run: (argv) => nightly(argv) },
  dashboards: { summary: 'render the Grafana dashboards (jsonnet) from the metric catalog and alert rules', help: DASHBOARDS_HELP, run: dashboardsCommand },
  search: { summary: 'rebuild the full-text search index from the stored messages', help: SEARCH_HELP, run: searchCommand },
  keys: { summary: 'rotate the roster-note encryption key, re-encrypt old notes, list keys', help: KEYS_HELP, run: keysCommand },
  ops: { summary: 'run a local ops stack: real Prometheus and Alertmanager scraping the local node(s), alerts to a webhook', help: OPS_HELP, run: opsCommand },
  cluster: { summary: 'run a local cluster: N nodes on PostgreSQL and Redis behind HAProxy; Ctrl-C drains and stops everything', help: CLUSTER_HELP, run: clusterCommand },
};

/** `  name  text` rows with the names padded to one width and the text wrapped beneath itself. */
function table(rows: [string, string][], width = 100): string {
  const pad = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, text]) => `  ${name.padEnd(pad)}  ${wrap(text, width - pad - 4).join(`\n${' '.repeat(pad + 4)}`)}`).join('\n');
}

function usage(): string {
  const commands = table([...Object.entries(COMMANDS).map(([name, c]): [string, string] => [name, c.summary]), ['version', 'print the version (also --version, -V)']]);
  return `usage: parley <command> [options]\n\ncommands:\n${commands}\n\nRun \`parley <command> --help\` for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(`parley ${PACKAGE_VERSION}`);
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
    if (err instanceof UsageError || err instanceof ParleyError || err instanceof BindError) {
      console.error(`parley ${name}: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

async function serve(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv);
  if (rest.length) throw new UsageError([`unexpected argument "${rest[0]}"`]);
  const config = commandConfig('serve', flags);
  // Listen for signals before starting: without a listener the kernel ends the process at once, so
  // a SIGTERM just after the listening line would skip the drain. One that comes early waits for it.
  let onSignal: ((signal: string) => void) | undefined;
  let early: string | undefined;
  const signalled = (signal: string) => { if (onSignal) onSignal(signal); else early ??= signal; };
  process.once('SIGTERM', () => signalled('SIGTERM'));
  process.once('SIGINT', () => signalled('SIGINT'));
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
    onSignal = stop;
    if (early) stop(early);
  });
}

async function token(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv);
  const ttl = flags.get('ttl-sec');
  flags.delete('ttl-sec');
  const config = commandConfig('token', flags);
  const user = rest[0];
  if (!user || rest.length > 1) throw new UsageError(['expected exactly one <userId>']);
  const ttlSec = ttl === undefined ? config.tokenTtlSec : Number(ttl);
  if (!Number.isSafeInteger(ttlSec) || ttlSec < 1) throw new UsageError([`--ttl-sec must be a positive integer, got "${ttl}"`]);
  const authority = new TokenAuthority(resolveSecret(config.secret, config.dataDir, (file) => {
    console.error(`parley token: warning: no secret was configured and ${config.dataDir} had none: generated a new one in ${file}.
  A node already running with another secret or data dir refuses this token. Pass that node's
  --secret (or PARLEY_SECRET), or its --data-dir.`);
  }));
  console.log(await authority.mint(user, ttlSec));
  return 0;
}
