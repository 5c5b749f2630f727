/**
 * `parley nightly`: build base and head, deploy, run the battery interleaved, compare, record the
 * night in the history, publish and gate. Registered in cli/main.ts; the exit code is the gate's.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, UsageError } from '../core/args.ts';
import { BATTERIES, DEPLOYS, DESIGNS, type Deploy, type Design } from './batteries.ts';
import { DEFAULT_NIGHTLY_PG, DEFAULT_NIGHTLY_REDIS, deployCluster, nodeCpu, redisServerInstalled } from './cluster.ts';
import { createProgress } from './progress.ts';
import { InfrastructureError, runBattery, type Provider } from './battery.ts';
import { BuildError, buildRef, type Build } from './build.ts';
import { calibrate, loadThresholds, saveCalibration } from './calibrate.ts';
import { deploy, pinPrefix, Teardown, waitReady } from './deploy.ts';
import { decideGate, GATE_EXIT, loadWaivers } from './gate.ts';
import { appendNight, previousBuild, readHistory, type BuildRef, type NightRecord } from './history.ts';
import { preflight } from './preflight.ts';
import { pruneOutput } from './prune.ts';
import { publish } from './publish.ts';
import { designOf, trendsOf } from './trends.ts';
import { withinRun } from './within.ts';

export const NIGHTLY_HELP = `usage: parley nightly [--base <ref>] [--head <ref>] [--battery ${Object.keys(BATTERIES).join('|')}] [--out <dir>] [options]
       parley nightly --base-url ws://a/ws --base-ops-url http://a:9464 --head-url ws://b/ws --head-ops-url http://b:9464 --secret S

Builds each ref in its own git worktree (cached by commit and lockfile hash), starts a fresh server
per run on loopback (pinned with taskset), runs the battery in pairs (base and head at once) or
interleaved A B B A (--design), compares every scenario x metric (paired: Hodges-Lehmann of the
log ratios, exact signed-rank test; serial: ratio of medians, bootstrap CI, exact Mann-Whitney U;
both: Cliff's delta, BH, MDE),
appends the night to <out>/history.jsonl, writes <out>/nights/<id>/{report.html,summary.md,result.json}
and <out>/index.html, delivers email/webhook, and exits with the gate's code.

refs:
  --base REF            default: the head of the previous built night in the history; on the first
                        night (no history) the head is measured against itself and recorded as the
                        baseline (exit 0, "baseline recorded")
  --head REF            default: HEAD
  --repo DIR            git repository to build from (default: the current directory)
  --allow-dirty         build HEAD although --repo has uncommitted changes to tracked files (they are
                        not measured: the gate builds commits); refused otherwise (exit 2)
  --cache DIR           worktrees and dependencies (default: <out>/cache)
  --deps-from DIR       reuse DIR/node_modules when its lockfile matches (default: --repo)
running environments instead of builds (skips build and deploy; same compare, history, publish, gate):
  --base-url, --head-url           WebSocket URLs of the two environments
  --base-ops-url, --head-ops-url   their ops ports (/readyz, /metrics)
  --secret S            token secret of both environments (default: $PARLEY_SECRET)
battery and statistics:
  --battery NAME        ${Object.values(BATTERIES).map((b) => `${b.name}: ${b.description}`).join('\n                        ')}
  --blocks N            blocks before the first comparison (default: the battery's)
  --max-blocks N        cap on blocks when verdicts stay inconclusive (default: the battery's)
  --alpha A             false discovery rate across the battery (default 0.05)
  --design serial|paired
                        paired (the default of the built-in batteries on one node): base and head run at
                        the same time, both servers on one CPU, each with its own generator, compared
                        pair by pair (signed-rank test), so the machine's speed of the moment cancels;
                        serial (the default with --deploy cluster and with --base-url/--head-url): one
                        run at a time in A B B A blocks
  --max-load L          discard and redo a run when the 1-minute load average per CPU exceeds L
                        (default: not checked; runs with > 10% CPU steal are always redone)
  --calibrate           after an A/A night (--base X --head X), store thresholds from all A/A nights
  --waivers FILE        reviewed waivers (default: nightly/waivers.json in the repo)
  --head-env K=V,...    extra server settings for head runs (e.g. PARLEY_FAULT_DELAY_MS=5)
deployment of each run (builds only):
  --deploy single|cluster
                        single (default, unless the battery says otherwise): one node on SQLite;
                        cluster: two nodes of the build on a PostgreSQL database created for the run
                        and dropped after it, and a redis-server started for the run on a free port
                        (without redis-server on PATH: the shared --redis, a key prefix per run); users are
                        spread over both nodes, server figures summed over them (docs/nightly.md)
  --pg URL              PostgreSQL server the run's database is created on (default $PARLEY_NIGHTLY_PG,
                        else ${DEFAULT_NIGHTLY_PG})
  --redis URL           Redis for the nodes when redis-server is not installed (default
                        $PARLEY_NIGHTLY_REDIS, else ${DEFAULT_NIGHTLY_REDIS})
output and delivery:
  --out DIR             default ./nightly-out
  --keep-nights N       keep the files of the newest N nights (and the builds they used); the history
                        keeps every night (default: keep everything)
  --smtp-url URL        send the summary by SMTP (default $PARLEY_SMTP_URL); otherwise summary.eml is written
  --email-to A  --email-from A
  --webhook-url URL     Slack-compatible webhook (default $PARLEY_NIGHTLY_WEBHOOK)
  --report-url URL      where --out is served; links in the email and webhook point there ($PARLEY_NIGHTLY_REPORT_URL)

exit codes: ${GATE_EXIT.pass} pass, ${GATE_EXIT.regression} regression, ${GATE_EXIT.inconclusive} inconclusive (noisy; a human decides),
            ${GATE_EXIT.infrastructure} infrastructure failure (build, deploy, load generator, interrupted),
            ${GATE_EXIT.usage} usage error (bad flags, unknown ref, dirty worktree; nothing is recorded)`;

const FLAGS = new Set(['base', 'head', 'repo', 'cache', 'base-url', 'head-url', 'base-ops-url', 'head-ops-url', 'secret', 'battery', 'blocks', 'max-blocks',
  'alpha', 'calibrate', 'waivers', 'head-env', 'deps-from', 'max-load', 'out', 'smtp-url', 'email-to', 'email-from', 'webhook-url', 'report-url', 'resamples',
  'keep-nights', 'allow-dirty', 'deploy', 'pg', 'redis', 'design']);

interface Args {
  battery: (typeof BATTERIES)[string];
  out: string;
  repo: string;
  cache: string;
  alpha: number;
  resamples: number;
  url?: { base: string; head: string; baseOps: string; headOps: string; secret: string };
  maxLoad?: number;
  headEnv: Record<string, string>;
  keepNights?: number;
  deploy: Deploy;
  design: Design;
  /** PostgreSQL admin URL and shared Redis of cluster runs. */
  pg: string;
  redis: string;
}

function parse(argv: string[]): { args: Args; flags: Map<string, string> } {
  const { flags, rest } = parseArgs(argv);
  const problems: string[] = [];
  if (rest.length) problems.push(`unexpected argument "${rest[0]}"`);
  for (const f of flags.keys()) if (!FLAGS.has(f)) problems.push(`unknown flag --${f} (see parley nightly --help)`);
  const batteryName = flags.get('battery') ?? 'nightly';
  const battery = BATTERIES[batteryName];
  if (!battery) problems.push(`--battery must be one of ${Object.keys(BATTERIES).join(', ')}, got "${batteryName}"`);
  const int = (name: string, min: number, max: number): number | undefined => {
    const v = flags.get(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) { problems.push(`--${name} must be an integer in [${min}, ${max}], got "${v}"`); return undefined; }
    return n;
  };
  const blocks = int('blocks', 1, 50);
  const maxBlocks = int('max-blocks', 1, 100);
  const resamples = int('resamples', 100, 1_000_000) ?? 10_000;
  const keepNights = int('keep-nights', 1, 100_000);
  const maxLoad = flags.has('max-load') ? Number(flags.get('max-load')) : undefined;
  if (maxLoad !== undefined && !(maxLoad > 0)) problems.push(`--max-load must be a positive number, got "${flags.get('max-load')}"`);
  const alpha = Number(flags.get('alpha') ?? 0.05);
  if (!(alpha > 0 && alpha < 0.5)) problems.push(`--alpha must be in (0, 0.5), got "${flags.get('alpha')}"`);
  const urlFlags = ['base-url', 'head-url', 'base-ops-url', 'head-ops-url'];
  const urlMode = urlFlags.some((f) => flags.has(f));
  let url: Args['url'];
  if (urlMode) {
    for (const f of urlFlags) if (!flags.has(f)) problems.push(`--${f} is required when comparing running environments`);
    if (flags.has('base') || flags.has('head')) problems.push('--base/--head (refs) and --base-url/--head-url (environments) exclude each other');
    const secret = flags.get('secret') ?? process.env.PARLEY_SECRET;
    if (!secret) problems.push('--secret (or PARLEY_SECRET) is required to mint tokens for running environments');
    for (const f of urlFlags) {
      const v = flags.get(f);
      const ops = f.endsWith('-ops-url');
      if (v && !(ops ? /^https?:\/\// : /^wss?:\/\//).test(v)) problems.push(`--${f} must be a ${ops ? 'http:// or https://' : 'ws:// or wss://'} URL, got "${v}"`);
    }
    url = { base: flags.get('base-url')!, head: flags.get('head-url')!, baseOps: flags.get('base-ops-url')!, headOps: flags.get('head-ops-url')!, secret: secret! };
  }
  const headEnv: Record<string, string> = {};
  for (const pair of (flags.get('head-env') ?? '').split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq < 1 || !pair.startsWith('PARLEY_')) problems.push(`--head-env expects PARLEY_NAME=value pairs, got "${pair}"`);
    else headEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const deploy = (flags.get('deploy') ?? battery?.deploy ?? 'single') as Deploy;
  if (!DEPLOYS.includes(deploy)) problems.push(`--deploy must be one of ${DEPLOYS.join(', ')}, got "${deploy}"`);
  if (urlMode && flags.has('deploy')) problems.push('--deploy applies to builds; running environments (--base-url/--head-url) are deployed already');
  // Two clusters at once would put four nodes and two Redis servers on two cores: clusters run
  // serially. Running environments are serial unless asked: they need not share a machine's speed,
  // and one environment given twice (an A/A of a staging node) would count both loads in its CPU.
  const design = (flags.get('design') ?? (deploy === 'cluster' || urlMode ? 'serial' : battery?.design ?? 'serial')) as Design;
  if (!DESIGNS.includes(design)) problems.push(`--design must be one of ${DESIGNS.join(', ')}, got "${design}"`);
  if (design === 'paired' && deploy === 'cluster' && !urlMode) problems.push('--design paired cannot run with --deploy cluster: two clusters at once would share two cores; clusters run serially');
  if (design === 'paired' && urlMode && flags.get('base-ops-url') === flags.get('head-ops-url')) {
    problems.push('--design paired needs two environments: --base-ops-url and --head-ops-url are the same, so each run\'s server CPU would count both loads');
  }
  const pg = flags.get('pg') ?? process.env.PARLEY_NIGHTLY_PG ?? DEFAULT_NIGHTLY_PG;
  if (!/^postgres(ql)?:\/\//.test(pg)) problems.push(`--pg must be a postgres:// or postgresql:// URL, got "${pg}"`);
  const redis = flags.get('redis') ?? process.env.PARLEY_NIGHTLY_REDIS ?? DEFAULT_NIGHTLY_REDIS;
  if (!/^rediss?:\/\//.test(redis)) problems.push(`--redis must be a redis:// or rediss:// URL, got "${redis}"`);
  if (problems.length) throw new UsageError(problems);
  const out = path.resolve(flags.get('out') ?? 'nightly-out');
  const plan = { initialBlocks: blocks ?? battery!.plan.initialBlocks, maxBlocks: Math.max(maxBlocks ?? battery!.plan.maxBlocks, blocks ?? 0) };
  return {
    flags,
    args: {
      battery: { ...battery!, plan }, out, repo: path.resolve(flags.get('repo') ?? '.'), cache: path.resolve(flags.get('cache') ?? path.join(out, 'cache')),
      alpha, resamples, url, headEnv, maxLoad, keepNights, deploy, design, pg, redis,
    },
  };
}

function environment(pinned: boolean, deploy: Deploy): Record<string, string | number> {
  let kernel = os.release();
  try { kernel = execFileSync('uname', ['-srm']).toString().trim(); } catch { /* os.release is enough */ }
  return {
    host: os.hostname(), node: process.version, kernel, cpu: os.cpus()[0]?.model ?? 'unknown', cpus: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30), loadavg: os.loadavg().map((v) => v.toFixed(2)).join(' '),
    pinning: !pinned ? 'none (one CPU or no taskset)' : deploy === 'cluster'
      ? `${nodeCpu(0) === nodeCpu(1) ? `both nodes on CPU ${nodeCpu(0)}` : `nodes on CPU ${nodeCpu(0)} and ${nodeCpu(1)}`}${redisServerInstalled() ? ', redis-server with the first' : ''}, load generator on CPU 0 (taskset)`
      : 'server on CPU 1, load generator on CPU 0 (taskset)',
    ...(deploy === 'cluster' ? { deploy: `cluster: 2 nodes, a PostgreSQL database and ${redisServerInstalled() ? 'a redis-server' : 'the shared Redis'} per run` } : {}),
  };
}

/** `parley nightly ...`; returns the gate's exit code. */
export async function nightly(argv: string[], logLine?: (line: string) => void): Promise<number> {
  const { args, flags } = parse(argv);
  // A caller's logger gets plain lines; the console gets a status line on a TTY.
  const progress = logLine ? undefined : createProgress(process.stderr, process.stderr.isTTY === true);
  const log = logLine ?? ((l: string) => progress!.log(l));
  const phase = (name: string) => progress?.update({ phase: name });
  const history = readHistory(args.out);
  if (history.skipped) log(`history: skipped ${history.skipped} line(s) of another schema version or unreadable`);
  const waivers = loadWaivers(path.resolve(flags.get('waivers') ?? path.join(args.repo, 'nightly/waivers.json')));
  // Refs, the default base and the worktree are checked before anything is built or recorded.
  const refs = args.url ? undefined : await preflight({
    repo: args.repo, base: flags.get('base'), head: flags.get('head') ?? 'HEAD', previous: previousBuild(history.nights), allowDirty: flags.get('allow-dirty') === 'true',
  });
  if (refs?.dirty.length) log(`warning: ${refs.dirty.length} uncommitted tracked file(s) in ${args.repo} are not measured (--allow-dirty)`);
  if (refs?.baseline) log(`first night: no history in ${args.out} and no --base; measuring ${refs.head.ref} against itself as the baseline`);
  const teardown = new Teardown();
  const onSignal = (signal: string) => {
    log(`${signal}: stopping servers`);
    void teardown.run().finally(() => process.exit(GATE_EXIT.infrastructure));
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.once('SIGINT', sigint);
  process.once('SIGTERM', sigterm);
  const at = new Date();
  const id = at.toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  const pinned = pinPrefix(1).length > 0;
  let base: BuildRef = refs?.base ?? { ref: 'base', commit: 'unknown' };
  let head: BuildRef = refs?.head ?? { ref: 'head', commit: 'unknown' };
  const builds: Build[] = [];
  let infra: string | undefined;
  let outcome: Awaited<ReturnType<typeof runBattery>> = { runs: [], discarded: [], rows: [], blocks: 0 };
  try {
    let providers: Record<'base' | 'head', Provider>;
    let secret: string;
    if (args.url) {
      const u = args.url;
      secret = u.secret;
      base = { ref: u.base, commit: u.base };
      head = { ref: u.head, commit: u.head };
      const remote = (wsUrl: string, opsUrl: string): Provider => ({
        acquire: async () => { await waitReady(opsUrl, 30_000); return { wsUrl, opsUrl, release: async () => {} }; },
      });
      providers = { base: remote(u.base, u.baseOps), head: remote(u.head, u.headOps) };
    } else {
      for (const side of ['base', 'head'] as const) {
        phase(`build ${side} ${refs![side].ref}`);
        const b = await buildRef(refs![side].commit, { repo: args.repo, cacheDir: args.cache, depsFrom: path.resolve(flags.get('deps-from') ?? args.repo), log, name: refs![side].ref });
        builds.push(b);
      }
      secret = randomBytes(24).toString('base64url');
      const local = (b: Build, env: Record<string, string>): Provider => ({
        acquire: async () => {
          if (args.deploy === 'cluster') {
            const c = await deployCluster({ buildDir: b.dir, secret, nodes: 2, teardown, env, pgAdmin: args.pg, sharedRedis: args.redis, log });
            return { wsUrl: c.wsUrl, opsUrl: c.opsUrl, nodes: c.nodes, release: c.stop };
          }
          const d = await deploy({ buildDir: b.dir, secret, cpu: 1, teardown, env });
          return { wsUrl: d.wsUrl, opsUrl: d.opsUrl, pid: d.pid, release: d.stop };
        },
      });
      if (args.deploy === 'cluster' && !redisServerInstalled()) {
        log(`redis-server is not installed: the cluster nodes share ${args.redis}, each run under a key prefix of its own (PARLEY_REDIS_PREFIX; a build from before that setting shares the default prefix)`);
      }
      providers = { base: local(builds[0]!, {}), head: local(builds[1]!, args.headEnv) };
    }
    log(`battery ${args.battery.name}: ${base.commit.slice(0, 10)} → ${head.commit.slice(0, 10)}`);
    outcome = await runBattery({
      battery: args.battery, providers, secret, runsDir: path.join(args.out, 'nights', id, 'runs'), generatorCpu: 0, log, maxLoadPerCpu: args.maxLoad, design: args.design,
      onRun: (p) => progress?.update({ phase: `battery ${args.battery.name}`, ...p }),
      compare: { alpha: args.alpha, resamples: args.resamples, seed: `${base.commit}|${head.commit}`, calibrated: loadThresholds(args.out, args.design) },
    });
  } catch (err) {
    if (!(err instanceof BuildError || err instanceof InfrastructureError)) throw err;
    infra = err.message;
    if (err instanceof InfrastructureError && err.partial) outcome = { ...err.partial, rows: [] };
    log(`infrastructure failure: ${infra}`);
  } finally {
    await teardown.run();
    phase('compare and publish');
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
  const aa = !args.url && base.commit === head.commit && Object.keys(args.headEnv).length === 0;
  const baselineNote = refs?.baseline ? `first night: ${head.ref} ${head.commit.slice(0, 10)} is the baseline (A/A against itself); the next night compares against it` : undefined;
  const gate = decideGate(outcome.rows, waivers, at.toISOString().slice(0, 10), infra, baselineNote);
  const night: NightRecord = {
    schemaVersion: 1, id, at: at.toISOString(), battery: args.battery.name, mode: args.url ? 'url' : 'build', aa, base, head, blocks: outcome.blocks,
    runs: outcome.runs, discarded: outcome.discarded, rows: outcome.rows, gate: { status: gate.status, exitCode: gate.exitCode, reasons: gate.reasons },
    environment: {
      ...environment(pinned, args.deploy), design: args.design === 'paired' ? `paired: base and head at once${args.url ? '' : ' on the same CPU'}, compared pair by pair` : 'serial: one run at a time, A B B A blocks', ...(Object.keys(args.headEnv).length ? { headEnv: JSON.stringify(args.headEnv) } : {}),
      ...(refs?.dirty.length ? { uncommitted: `${refs.dirty.length} tracked file(s) changed in the repo, not measured` } : {}),
    },
  };
  appendNight(args.out, night);
  const all = [...history.nights, night];
  if (flags.get('calibrate') === 'true') {
    if (!aa) log('--calibrate: this night was not A/A (base and head differ); thresholds left as they were');
    else {
      const cal = calibrate(all.filter((n) => designOf(n) === args.design), args.design);
      saveCalibration(args.out, cal);
      log(`calibrated ${Object.keys(cal.metrics).length} metric(s) from ${cal.sessions} A/A night(s)`);
    }
  }
  if (args.keepNights !== undefined) {
    const pruned = pruneOutput(args.out, args.keepNights, all, { cacheDir: args.cache, repo: args.repo });
    if (pruned.nights.length || pruned.builds.length) log(`--keep-nights ${args.keepNights}: removed ${pruned.nights.length} night(s) and ${pruned.builds.length} build(s)`);
  }
  const aaNights = all.filter((n) => n.aa && n.gate.status !== 'infrastructure');
  const published = await publish(args.out, {
    night, gate, trends: trendsOf(all, outcome.rows, night), within: withinRun(night, path.join(args.out, 'nights', id, 'runs')),
    aaAlarms: { alarms: aaNights.filter((n) => n.rows.some((r) => r.verdict === 'regression')).length, sessions: aaNights.length },
    builds: builds.map((b, i) => ({ side: i ? 'head' : 'base', ref: i ? head.ref : base.ref, commit: b.commit, subject: b.subject, cached: b.cached, warnings: b.warnings, buildMs: b.buildMs })),
  }, all, {
    smtpUrl: flags.get('smtp-url') ?? process.env.PARLEY_SMTP_URL, emailTo: flags.get('email-to'), emailFrom: flags.get('email-from'),
    webhookUrl: flags.get('webhook-url') ?? process.env.PARLEY_NIGHTLY_WEBHOOK, reportUrl: flags.get('report-url') ?? process.env.PARLEY_NIGHTLY_REPORT_URL,
  });
  progress?.done();
  for (const w of published.warnings) log(`warning: ${w}`);
  for (const r of outcome.rows) {
    log(`${r.scenario.padEnd(8)} ${r.metric.padEnd(28)} ${r.verdict.padEnd(12)} change ${((r.ratio - 1) * 100).toFixed(1).padStart(6)}%  MDE ${Number.isFinite(r.mde) ? `${(r.mde * 100).toFixed(1)}%` : 'n/a'}`);
  }
  if (outcome.discarded.length) log(`${outcome.runs.length} run(s) kept, ${outcome.discarded.length} discarded (reasons in the report and summary.md)`);
  const verdict = gate.status === 'baseline' ? `baseline recorded: ${head.ref} ${head.commit.slice(0, 10)}` : gate.status;
  console.log(`${verdict} (exit ${gate.exitCode}); report ${published.report}`);
  return gate.exitCode;
}
