/**
 * Runs a battery between two targets, in pairs (base and head at once, each server on the same
 * CPU with its own generator; two pairs per block, their start order alternating) or serially
 * (blocks of A B B A runs, alternating with B A A B): a fresh server per run when the targets are
 * builds, `parley load` pinned away from the server, server figures scraped during each run. Runs whose generator fell behind or whose machine was starved
 * are discarded and redone; a target that cannot be served is an infrastructure failure.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT as ROOT, selfCommand } from '../core/paths.ts';
import { parseResult, type LoadResult } from '../loadtest/result.ts';
import type { Battery, BatteryScenario, Design } from './batteries.ts';
import { compareBattery, type CompareOptions, type Row, type Sample } from './compare.ts';
import { pinPrefix, type Target } from './deploy.ts';
import type { DiscardedRun, RunRecord } from './history.ts';
import { clientMetrics, METRIC_SPECS, specOf, type MetricSpec } from './metrics.ts';
import { adaptiveSession, blockOrder, pairOrder, PAIRS_PER_BLOCK, type Side } from './session.ts';
import { RunClock } from './progress.ts';
import { watchRun } from './watch.ts';

/** A side of the comparison: how to get a server for one run. */
export interface Provider {
  /** A fresh server (or the long-running environment) for one run, and how to release it. */
  acquire(): Promise<Target & { release(): Promise<void> }>;
}

export class InfrastructureError extends Error {
  /** What the battery had measured and thrown away before it gave up (for the report and history). */
  partial?: Omit<BatteryOutcome, 'rows'>;
  constructor(message: string) {
    super(message);
    this.name = 'InfrastructureError';
  }
}

export interface BatteryOptions {
  battery: Battery;
  providers: Record<Side, Provider>;
  secret: string;
  /** Directory for the per-run result files. */
  runsDir: string;
  compare: CompareOptions;
  /** CPU of the load generator (servers use another). */
  generatorCpu: number;
  log: (line: string) => void;
  /** Load average (1 min) per CPU above which a run counts as starved; unset: recorded, not checked. */
  maxLoadPerCpu?: number;
  /** Serial runs or base and head in pairs (default: the battery's). */
  design?: Design;
  /** Called after every run (kept or discarded) with run N of M and the ETA. */
  onRun?: (p: { run: number; of: number; etaMs: number; detail: string; unit: 'run' | 'pair' }) => void;
}

export interface BatteryOutcome {
  runs: RunRecord[];
  discarded: DiscardedRun[];
  rows: Row[];
  blocks: number;
}


const SAYS_ERROR = /error|cannot|refused|failed|denied|unknown/i;

/**
 * The last `n` telling lines of a child's stderr (of its stdout when stderr was empty): blank
 * lines, stack frames and Node's version banner say nothing about why a run failed. The last line
 * that names an error is kept even when more than `n` lines follow it.
 */
export function lastLines(stderr: string, stdout: string, n = 5): string[] {
  const pick = (s: string) => s.split('\n').map((l) => l.trimEnd().slice(0, 300)).filter((l) => l.trim() && !/^\s+at /.test(l) && !/^Node\.js v\d/.test(l));
  const err = pick(stderr);
  const lines = err.length ? err : pick(stdout);
  const key = lines.findLastIndex((l) => SAYS_ERROR.test(l));
  return key >= 0 && key < lines.length - n ? [lines[key]!, ...lines.slice(-(n - 1))] : lines.slice(-n);
}

/** The line of a failure's output that names the error (the last that says error), else its last line. */
export function keyLine(tail: readonly string[]): string | undefined {
  return tail.findLast((l) => SAYS_ERROR.test(l)) ?? tail.at(-1);
}

/** Runs `parley load` once; resolves the parsed result file and the load's last output lines. */
export function runLoad(sc: BatteryScenario, target: Target, secret: string, out: string, cpu: number): Promise<{ code: number; result?: LoadResult; tail: string[] }> {
  const argv = [...pinPrefix(cpu), ...selfCommand(), 'load', sc.scenario, '--target', target.wsUrl, '--workers', '1', '--quiet', '--out', out, ...sc.args];
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { cwd: ROOT, env: { ...process.env, PARLEY_SECRET: secret }, maxBuffer: 16 << 20, timeout: 10 * 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      let result: LoadResult | undefined;
      try { result = parseResult(fs.readFileSync(out, 'utf8'), out); } catch { result = undefined; }
      // Without a result file stdout may be all the load said; with one, its summary table is not news.
      resolve({ code, result, tail: lastLines(String(stderr), result ? '' : String(stdout)) });
    });
  });
}

/** A scenario's metrics as compared: catalog entries with the battery's primary split and thresholds. */
export function scenarioSpecs(sc: BatteryScenario): MetricSpec[] {
  if (!sc.primary && !sc.secondary) return [...METRIC_SPECS];
  const pick = (key: string, gate: boolean): MetricSpec => ({ ...specOf(key), gate, threshold: sc.thresholds?.[key] ?? specOf(key).threshold });
  return [...(sc.primary ?? []).map((k) => pick(k, true)), ...(sc.secondary ?? []).map((k) => pick(k, false))];
}

function stealTicks(): number[] {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return cpu;
}

/**
 * The values of `metric` in the pairs of `scenario` whose two runs both measured it, in the order
 * the pairs were run: base[i] and head[i] come from pair i.
 */
export function pairedValues(runs: readonly RunRecord[], scenario: string, metric: string): { base: number[]; head: number[] } {
  const byPair = new Map<number, Partial<Record<Side, number>>>();
  for (const r of runs) {
    if (r.scenario !== scenario || r.pair === undefined || !(metric in r.metrics)) continue;
    byPair.set(r.pair, { ...byPair.get(r.pair), [r.side]: r.metrics[metric]! });
  }
  const whole = [...byPair.values()].filter((p) => p.base !== undefined && p.head !== undefined);
  return { base: whole.map((p) => p.base!), head: whole.map((p) => p.head!) };
}

/** What the battery compares from the runs kept so far: per scenario x metric, pair by pair when `paired`. */
export function samplesOf(runs: readonly RunRecord[], battery: Battery, paired: boolean): Sample[] {
  const samples: Sample[] = [];
  for (const sc of battery.scenarios) for (const spec of scenarioSpecs(sc)) {
    if (paired) {
      const whole = pairedValues(runs, sc.name, spec.key);
      if (whole.base.length) samples.push({ scenario: sc.name, spec, ...whole, paired: true });
      continue;
    }
    const pick = (side: Side) => runs.filter((r) => r.scenario === sc.name && r.side === side && spec.key in r.metrics).map((r) => r.metrics[spec.key]!);
    const base = pick('base');
    const head = pick('head');
    if (base.length || head.length) samples.push({ scenario: sc.name, spec, base, head });
  }
  return samples;
}

/** A meeting point for the runs of a pair: `arrive` resolves once all have arrived, or rejects once one failed. */
interface Barrier {
  arrive(): Promise<void>;
  fail(err: unknown): void;
}

function barrier(parties: number): Barrier {
  let arrived = 0;
  let open!: () => void;
  let fail!: (err: unknown) => void;
  const all = new Promise<void>((resolve, reject) => { open = resolve; fail = reject; });
  all.catch(() => { /* seen by whoever awaits arrive() */ });
  return { arrive: () => { if (++arrived === parties) open(); return all; }, fail };
}

/** Runs the battery adaptively and compares; throws InfrastructureError when runs cannot be made. */
export async function runBattery(opts: BatteryOptions): Promise<BatteryOutcome> {
  const { battery, log } = opts;
  const runs: RunRecord[] = [];
  const discarded: DiscardedRun[] = [];
  let blocksRun = 0;
  const maxLoad = (opts.maxLoadPerCpu ?? Infinity) * os.cpus().length;
  fs.mkdirSync(opts.runsDir, { recursive: true });
  const clock = new RunClock();
  const paired = (opts.design ?? battery.design ?? 'serial') === 'paired';
  const perBlock = (paired ? PAIRS_PER_BLOCK : 4) * battery.scenarios.length;
  clock.plan(battery.plan.initialBlocks * perBlock);

  /**
   * One measured run of `sc` on a server acquired for it; a reason when it must be discarded. With
   * `start`, the measured load waits at that barrier until the other run of its pair is warm too.
   */
  const measure = async (side: Side, sc: BatteryScenario, block: number, file: string, start?: Barrier): Promise<{ record?: RunRecord; reason?: string; tail: string[] }> => {
    let target;
    try {
      target = await opts.providers[side].acquire();
    } catch (err) {
      const infra = new InfrastructureError(`${side} server unavailable: ${(err as Error).message}`);
      start?.fail(infra);
      throw infra;
    }
    let reason: string | undefined;
    let tail: string[] = [];
    let record: RunRecord | undefined;
    try {
      try {
        // The warm-up's result is not kept; a failed warm-up shows in the measured run.
        if (sc.warmup) await runLoad({ ...sc, args: sc.warmup }, target, opts.secret, `${file}.warmup`, opts.generatorCpu);
        fs.rmSync(`${file}.warmup`, { force: true });
      } catch (err) {
        // Whatever fails before the barrier must free the other run of the pair, not leave it waiting.
        start?.fail(err);
        throw err;
      }
      await start?.arrive();
      const started = new Date();
      const stat0 = stealTicks();
      const { result, code, server, nodes, tail: said } = await watchRun(target, (t) => runLoad(sc, t, opts.secret, file, opts.generatorCpu), sc.unit);
      tail = said;
      const stat1 = stealTicks();
      const total = stat1.reduce((s, v, i) => s + v - (stat0[i] ?? 0), 0);
      const steal = total > 0 ? (100 * ((stat1[7] ?? 0) - (stat0[7] ?? 0))) / total : 0;
      const load1 = os.loadavg()[0]!;
      if (!result) reason = `parley load exited ${code} without a result file${tail.length ? `: ${keyLine(tail)!.trim()}` : ''}`;
      else if (code === 98 || result.exitCode === 98) reason = `load infrastructure failure: ${result.exitReason}`;
      else if (!result.validity.valid) reason = `generator unhealthy: ${result.validity.reasons.join('; ')}`;
      else if (steal > 10) reason = `machine starved: ${steal.toFixed(1)}% steal`;
      else if (load1 > maxLoad) reason = `machine starved: load average ${load1.toFixed(2)} > ${maxLoad}`;
      if (result && !reason) {
        const w = result.health.workers;
        record = {
          side, scenario: sc.name, block, index: -1, startedAt: started.toISOString(), durationMs: result.durationMs, file: path.basename(file),
          metrics: { ...clientMetrics(result), ...server },
          health: { scheduleLagP99Ms: Math.max(0, ...w.map((x) => x.scheduleLagP99Ms)), generatorCpuPercent: Math.max(0, ...w.map((x) => x.cpuPercent)), loadavg1: load1, stealPercent: steal },
          ...(nodes ? { nodes } : {}),
        };
      }
    } finally {
      await target.release();
    }
    return { record, reason, tail };
  };

  const keep = (record: RunRecord) => {
    record.index = runs.length;
    runs.push(record);
    log(`  block ${record.block + 1} ${record.side.padEnd(4)} ${record.scenario}: ${Object.entries(record.metrics).filter(([k]) => /p50|cpu/.test(k)).map(([k, v]) => `${k}=${v.toFixed(2)}`).join(' ')}`);
  };
  const discard = (side: Side, sc: BatteryScenario, block: number, reason: string, tail: string[], what = '') => {
    const previous = discarded.at(-1)?.tail?.join('\n');
    discarded.push({ side, scenario: sc.name, reason, ...(tail.length ? { tail } : {}) });
    log(`  block ${block + 1} ${side} ${sc.name}: discarded (${reason}); redoing${what}`);
    // The load's own words, once per distinct message, so nine identical failures read as one.
    if (tail.length && tail.join('\n') !== previous) for (const l of tail) log(`    | ${l}`);
  };
  const giveUp = (what: string, attempt: number) => {
    const last = discarded.at(-1);
    return new InfrastructureError(`${what}: no healthy run after ${attempt} attempts (last: ${last?.reason ?? 'unknown'})`);
  };
  const fileOf = (side: Side, sc: BatteryScenario, attempt: number, n = runs.length) =>
    path.join(opts.runsDir, `${String(n).padStart(3, '0')}-${side}-${sc.name}${attempt ? `-redo${attempt}` : ''}.json`);

  const oneRun = async (side: Side, sc: BatteryScenario, block: number): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      if (attempt > battery.maxRedos) throw giveUp(`${sc.name} on ${side}`, attempt);
      const { record, reason, tail } = await measure(side, sc, block, fileOf(side, sc, attempt));
      opts.onRun?.({ ...clock.tick(), unit: 'run', detail: `block ${block + 1}, ${side} ${sc.name}${record ? '' : ' (discarded, redoing)'}` });
      if (record) return keep(record);
      discard(side, sc, block, reason!, tail);
    }
  };

  /**
   * Base and head at once: both servers on the same CPU, each driven by its own generator on the
   * same fixed schedule, so the machine's speed of the moment is common to both runs of the pair.
   * A pair is kept whole or redone whole. `order` is the order the two servers are started in
   * (their measured loads then start together, after both warm-ups).
   */
  const onePair = async (sc: BatteryScenario, block: number, order: readonly Side[]): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      if (attempt > battery.maxRedos) throw giveUp(`${sc.name} (base and head in pairs)`, attempt);
      const n = runs.length;
      const start = barrier(order.length);
      const out = await Promise.allSettled(order.map((side, k) => measure(side, sc, block, fileOf(side, sc, attempt, n + k), start)));
      const failed = out.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) throw failed.reason;
      const done = out.map((o) => (o as PromiseFulfilledResult<Awaited<ReturnType<typeof measure>>>).value);
      opts.onRun?.({ ...clock.tick(), unit: 'pair', detail: `block ${block + 1}, ${sc.name}${done.every((d) => d.record) ? '' : ' (discarded, redoing)'}` });
      if (done.every((d) => d.record)) {
        const pair = pairsKept++;
        for (const d of done) keep({ ...d.record!, pair });
        return;
      }
      // Both runs are thrown away and redone, so both are counted: a healthy run without its pair says why.
      const why = done.find((d) => !d.record)!.reason!;
      done.forEach((d, k) => discard(order[k]!, sc, block, d.record ? `healthy, but the other run of its pair was discarded (${why})` : d.reason!, d.tail, ' with its pair'));
    }
  };

  let pairsKept = 0;
  const runBlock = async (block: number) => {
    blocksRun = block + 1;
    clock.plan(blocksRun * perBlock);
    if (paired) for (const order of pairOrder(block)) for (const sc of battery.scenarios) await onePair(sc, block, order);
    else for (const side of blockOrder(block)) for (const sc of battery.scenarios) await oneRun(side, sc, block);
  };
  const evaluate = (): Row[] => compareBattery(samplesOf(runs, battery, paired), opts.compare);
  try {
    const { rows, blocks } = await adaptiveSession(battery.plan, runBlock, evaluate, (b, rows) => {
      const open = rows.filter((r) => r.gate && r.verdict === 'inconclusive').map((r) => `${r.scenario} ${r.metric}`);
      log(`after ${b} block(s): ${rows.filter((r) => r.verdict === 'regression').length} regression(s)${open.length ? `, inconclusive: ${open.join(', ')}` : ''}`);
    });
    return { runs, discarded, rows, blocks };
  } catch (err) {
    if (err instanceof InfrastructureError) err.partial = { runs, discarded, blocks: blocksRun };
    throw err;
  }
}
