/** `parley canary <flag>`: judge a flag's variant against control, and walk its rollout. */
import path from 'node:path';
import { parseArgs, UsageError } from '../core/args.ts';
import { parseDuration } from '../loadtest/duration.ts';
import { GUARDS } from '../flags/canary/guards.ts';
import { DEFAULT_JUDGE } from '../flags/canary/judge.ts';
import { PrometheusSource, ScrapeSource } from '../flags/canary/source.ts';
import { CANARY_EXIT, fileTarget, runCanary, unleashTarget, type RolloutTarget } from '../flags/canary/walk.ts';
import { UnleashAdmin } from '../flags/unleash.ts';

export const CANARY_HELP = `usage: parley canary <flag> (--prometheus URL | --node URL ...) [--steps 5,25,50,100] [options]

Judges the flag's variant against control from the variant-labelled metrics the nodes export
(delivery latency mean and p95, error frames per 1k frames in), read from Prometheus's HTTP API
(--prometheus URL) or by scraping each node's ops port (--node http://127.0.0.1:9464, repeatable
or comma-separated). One sample per --sample and side; samples are merged into batch means while
autocorrelated; the nightly gate's statistics (exact Mann-Whitney U, bootstrap interval of the ratio
of medians, Benjamini-Hochberg) decide: widen, hold (not enough evidence) or roll back.

  --steps 5,25,50,100     walk the rollout: set each step, observe, widen only on a pass, roll back
                          to 0% at once on a fail; without --steps: judge the current rollout once
  --interval 5m           observation per judgement (default 5m)
  --sample 10s            length of one sample interval (default 10s)
  --settle 30s            skipped after each change while the nodes follow it (default 30s)
  --max-holds 3           extra intervals a step may hold before the canary stops (default 3)
  --min-samples 6         samples per side before any verdict (default 6)
  --min-events 20         deliveries per side for a sample interval to count (default 20)
  --alpha 0.05            false discovery rate over the flag's metrics
rollout target (with --steps):
  --file FILE             the flags file the nodes read (default PARLEY_FLAGS_FILE or ./flags/features.json)
  --unleash URL           an Unleash server instead (default UNLEASH_URL) with --admin-token T
                          (default UNLEASH_ADMIN_TOKEN), --project P (default), --environment E (development)
decisions are posted like the nightly's:
  --webhook-url URL (default $PARLEY_NIGHTLY_WEBHOOK)  --smtp-url URL (default $PARLEY_SMTP_URL)
  --email-to A  --email-from A  --out DIR (.eml files when there is no SMTP server)

exit codes: ${CANARY_EXIT.widened} widened to 100% (without --steps: pass), ${CANARY_EXIT.rolledBack} rolled back (without --steps: fail, nothing changed),
            ${CANARY_EXIT.stopped} stopped (held without a verdict, or interrupted; the rollout stays where it was),
            ${CANARY_EXIT.usage} usage error, ${CANARY_EXIT.infrastructure} metrics source or rollout target unreachable
canaried flags: ${Object.keys(GUARDS).join(', ')}`;

const KNOWN = new Set(['prometheus', 'node', 'steps', 'interval', 'sample', 'settle', 'max-holds', 'min-samples', 'min-events', 'alpha', 'file', 'unleash', 'admin-token', 'project', 'environment', 'webhook-url', 'smtp-url', 'email-to', 'email-from', 'out']);

function int(v: string | undefined, what: string, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError([`--${what} must be an integer ≥ ${min}, got "${v}"`]);
  return n;
}

/** Runs `parley canary`; returns the exit code. */
export async function canaryCommand(argv: string[], env: NodeJS.ProcessEnv = process.env, print?: (l: string) => void): Promise<number> {
  const nodes: string[] = [];
  argv.forEach((a, i) => { if (a === '--node' && argv[i + 1]) nodes.push(...argv[i + 1]!.split(',').filter(Boolean)); else if (a.startsWith('--node=')) nodes.push(...a.slice(7).split(',').filter(Boolean)); });
  const { flags, rest } = parseArgs(argv);
  const problems: string[] = [];
  for (const k of flags.keys()) if (!KNOWN.has(k)) problems.push(`unknown flag --${k} (see parley canary --help)`);
  const [flag, ...extra] = rest;
  if (!flag || extra.length) problems.push('expected: parley canary <flag> (--prometheus URL | --node URL ...)');
  const guard = flag ? GUARDS[flag] : undefined;
  if (flag && !guard) problems.push(`flag "${flag}" has no guarded metrics; canaried flags: ${Object.keys(GUARDS).join(', ')}`);
  const prom = flags.get('prometheus');
  if (!prom && !nodes.length) problems.push('give --prometheus URL or at least one --node URL');
  if (prom && nodes.length) problems.push('give --prometheus or --node, not both');
  const steps = flags.has('steps') ? flags.get('steps')!.split(',').map((s) => Number(s.trim())) : [];
  if (steps.some((s) => !Number.isInteger(s) || s < 1 || s > 100) || steps.some((s, i) => i > 0 && s <= steps[i - 1]!)) problems.push(`--steps must be ascending integers from 1 to 100, got "${flags.get('steps')}"`);
  else if (steps.length && steps.at(-1) !== 100) problems.push(`--steps must end at 100, got "${flags.get('steps')}"`);
  const alpha = Number(flags.get('alpha') ?? DEFAULT_JUDGE.alpha);
  if (!(alpha > 0 && alpha < 1)) problems.push(`--alpha must be in (0, 1), got "${flags.get('alpha')}"`);
  if (problems.length) throw new UsageError(problems);

  let target: RolloutTarget | undefined;
  const unleash = flags.get('unleash') ?? (flags.has('file') ? undefined : env.UNLEASH_URL);
  if (unleash) {
    const token = flags.get('admin-token') ?? env.UNLEASH_ADMIN_TOKEN;
    if (!token) throw new UsageError(['--unleash needs --admin-token (or UNLEASH_ADMIN_TOKEN)']);
    target = unleashTarget(new UnleashAdmin({ url: unleash, token, project: flags.get('project'), environment: flags.get('environment') }));
  } else {
    target = fileTarget(path.resolve(flags.get('file') ?? env.PARLEY_FLAGS_FILE ?? './flags/features.json'));
  }
  const intervalMs = parseDuration(flags.get('interval') ?? '5m', '--interval');
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const r = await runCanary({
      guard: guard!, source: prom ? new PrometheusSource(prom) : new ScrapeSource(nodes), target, steps, intervalMs,
      sampleMs: parseDuration(flags.get('sample') ?? '10s', '--sample'), settleMs: parseDuration(flags.get('settle') ?? '30s', '--settle'),
      maxHolds: int(flags.get('max-holds'), 'max-holds', 3),
      judge: { minSamples: int(flags.get('min-samples'), 'min-samples', DEFAULT_JUDGE.minSamples, 2), minEvents: int(flags.get('min-events'), 'min-events', DEFAULT_JUDGE.minEvents, 1), alpha },
      delivery: { webhookUrl: flags.get('webhook-url') ?? env.PARLEY_NIGHTLY_WEBHOOK, smtpUrl: flags.get('smtp-url') ?? env.PARLEY_SMTP_URL, emailTo: flags.get('email-to'), emailFrom: flags.get('email-from') },
      outDir: flags.get('out'), print, signal: ac.signal,
    });
    return r.code;
  } catch (err) {
    (print ?? console.error)(`parley canary: ${(err as Error).message}`);
    return CANARY_EXIT.infrastructure;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
