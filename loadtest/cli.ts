/**
 * The `parley load` and `parley profile` commands (registered in cli/main.ts): argument parsing,
 * progress and summary output, the result file, and the documented exit codes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, UsageError } from '../core/args.ts';
import { mergeResults } from './merge.ts';
import { serveLoadMetrics, type LiveRun } from './metrics-server.ts';
import { OPTION_FLAGS, resolveOptions } from './options.ts';
import { progressPrinter, summaryTable } from './report.ts';
import { EXIT_CODES, parseResult, type LoadResult } from './result.ts';
import { runLoad } from './runner.ts';
import { loadScenario, scenarioFile, scenarioNames } from './scenario.ts';
import { localSecretFile, tokenSourceFrom } from './tokens.ts';

export const LOAD_HELP = `usage: parley load <scenario> --target ws://host:port/ws [options] [--out result.json]
       parley load merge <a.json> <b.json> ... [--out merged.json]
       parley load list

Drives simulated users against any parley node and writes a JSON result (docs/loadtest.md).

tokens (one of):
  --secret S            the node's PARLEY_SECRET: tokens are minted locally (default: $PARLEY_SECRET)
  --token-file F        "user token" lines or a JSON object user → token
  --token-url U         GET U with {user} replaced; the body is the token (or {"token": ...})
  (none)                a loopback target (127.0.0.1, localhost, ::1) uses the local node's secret
                        file: --data-dir DIR, else $PARLEY_DATA_DIR, else ./data (like parley token)
load shape (override the scenario's options):
  --users N  --arrival-rate R (users/s)  --arrival poisson|fixed  --duration 30s
  --rate R (messages/s per user)  --schedule poisson|fixed  --mode open|closed  --think 1s
  --window N (sends in flight per user)  --group-size N  --param-<name> V (scenario knobs)
measurement and gates:
  --slice 1s  --drain 2s  --late-tolerance 10ms  --max-lag 25ms  --max-slice-lag 100ms  --max-cpu-percent 90
  --barrier-timeout 30s
distribution:
  --target A,B,...      several nodes of one cluster: user i connects to the (i mod n)-th URL
                        (REST scenarios use the first)
  --workers N (default: one per core)  --segment i/n  --seed N  --user-prefix P  --in-process
output:
  --out FILE (result JSON)  --quiet (no progress)
  --metrics-port N      serve the live figures in Prometheus format on 127.0.0.1:N/metrics while
                        the run goes on (0: a free port, printed); parley ops up --load scrapes it

exit codes: ${EXIT_CODES.pass} pass, ${EXIT_CODES.thresholds} thresholds failed, ${EXIT_CODES.invalid} invalid run (generator fell behind),
            ${EXIT_CODES.infrastructure} infrastructure failure, ${EXIT_CODES.usage} usage error`;

const LOAD_FLAGS = new Set([...OPTION_FLAGS, 'secret', 'token-file', 'token-url', 'data-dir', 'out', 'quiet', 'in-process', 'metrics-port']);

function writeResult(file: string | undefined, r: LoadResult): void {
  if (!file) return;
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(r, null, 1)}\n`);
}

/** `parley load ...`; returns the exit code. */
export async function load(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv);
  const sub = rest[0];
  if (sub === 'merge') return merge(rest.slice(1), flags);
  if (sub === 'list') {
    for (const name of scenarioNames()) {
      const s = await loadScenario(scenarioFile(name));
      console.log(`${name.padEnd(18)} ${s.story}`);
    }
    return EXIT_CODES.pass;
  }
  if (!sub || rest.length > 1) throw new UsageError([`expected one <scenario> (${scenarioNames().join(', ')} or a file), got ${rest.length ? rest.join(' ') : 'none'}`]);
  const unknown = [...flags.keys()].filter((f) => !LOAD_FLAGS.has(f) && !f.startsWith('param-'));
  if (unknown.length) throw new UsageError(unknown.map((f) => `unknown flag --${f} (see parley load --help)`));
  const file = scenarioFile(sub);
  const scenario = await loadScenario(file);
  const options = resolveOptions(scenario.options, flags);
  const tokens = tokenSourceFrom(flags, options.target);
  const quiet = flags.get('quiet') === 'true';
  if (!quiet && tokens.kind === 'secret' && !flags.has('secret') && !process.env.PARLEY_SECRET) console.error(`parley load: minting tokens with the local node's secret from ${localSecretFile(flags)}`);
  const mp = flags.get('metrics-port');
  if (mp !== undefined && !(/^\d+$/.test(mp) && Number(mp) <= 65535)) throw new UsageError([`--metrics-port must be a port number 0-65535 (0: a free one), got "${mp}"`]);
  const live: LiveRun | undefined = mp === undefined ? undefined : { scenario: scenario.name, phase: 'starting', workers: 0, users: 0, startAt: 0 };
  let metrics: Awaited<ReturnType<typeof serveLoadMetrics>> | undefined;
  try { metrics = live && (await serveLoadMetrics(live, Number(mp))); } catch (err) {
    console.error(`parley load: cannot serve metrics on 127.0.0.1:${mp}: ${(err as Error).message}`);
    return EXIT_CODES.infrastructure;
  }
  if (metrics) console.error(`parley load: metrics at http://127.0.0.1:${metrics.port}/metrics`);
  const progress = progressPrinter(process.stderr);
  // First Ctrl-C: stop the schedule, drain and still write the result; a second one exits at once.
  const interrupt = new AbortController();
  const onSigint = () => {
    if (interrupt.signal.aborted) process.exit(130);
    console.error('\nparley load: interrupted; draining and writing the result (Ctrl-C again to quit now)');
    interrupt.abort();
  };
  process.on('SIGINT', onSigint);
  const result = await runLoad({ scenario, scenarioFile: file, options, tokens, signal: interrupt.signal, inProcess: flags.get('in-process') === 'true', ...(quiet ? {} : { onProgress: progress.update }), ...(live ? { live } : {}) });
  process.off('SIGINT', onSigint);
  await metrics?.close();
  progress.end();
  writeResult(flags.get('out'), result);
  console.log(summaryTable(result));
  return result.exitCode;
}

async function merge(files: string[], flags: Map<string, string>): Promise<number> {
  if (files.length === 0) throw new UsageError(['merge expects one or more result files']);
  const results: LoadResult[] = [];
  for (const f of files) {
    let text: string;
    try { text = fs.readFileSync(f, 'utf8'); } catch (err) {
      console.error(`parley load merge: ${f}: ${(err as Error).message}`);
      return EXIT_CODES.infrastructure;
    }
    try { results.push(parseResult(text, f)); } catch (err) {
      console.error(`parley load merge: ${(err as Error).message}`);
      return EXIT_CODES.usage;
    }
  }
  let merged: LoadResult;
  try { merged = mergeResults(results); } catch (err) {
    console.error(`parley load merge: ${(err as Error).message}`);
    return EXIT_CODES.usage;
  }
  writeResult(flags.get('out'), merged);
  console.log(summaryTable(merged));
  return merged.exitCode;
}
