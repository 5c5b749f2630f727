/**
 * bench:overload: does a node shed load instead of collapsing? First the node's capacity (acked
 * 1:1 sends/s in a closed loop), then, per variant, on a fresh node: 50% of it (normal), 2x for
 * the overload phase, and 50% again (recovery). Variants: the node's budget as configured
 * ("limits") and switched off (nodeMaxInflight=0, nodeMaxQueuedBytes=0, heapWatermarkMb=0:
 * "no limits"), interleaved A B B A. Per-session send limits are raised on both so the run measures
 * the node budget, not one session's token bucket. Node on core 0, generator on core 1.
 *
 * Usage: npm run bench:overload [-- --pairs 100 --normal-sec 10 --overload-sec 30 --recover-sec 30
 *   --rounds 2 --capacity N --limits node-max-inflight:2000,heap-watermark-mb:300 --only limits|no-limits --profile]
 * (--capacity skips measuring it; --limits adds settings to the limits variant; --only: tuning runs,
 * no ratios; --profile writes each variant node's CPU profile to out/profiles)
 * Writes out/bench-overload.json. Exit code: 0 nothing lost and valid, 1 an acked message lost,
 * 2 invalid (the generator fell behind) or a crash.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from '../args.ts';
import { coreBusySec, fromLabel, LOAD_CPU, machine, measureCapacity, printTable, procCpuSec, procRss, raisePriority, ROOT, round, runPinned, SERVER_CPU, startParley, type ParleyNode } from './harness.ts';
import { PhasedLoad, type PhasedResult } from './phased.ts';
import { median, recoverySec } from './stats.ts';

const DEFAULTS = Object.freeze({
  pairs: 100,
  /** Closed-loop window per user while measuring capacity. */
  window: 8,
  normalSec: 10,
  overloadSec: 30,
  recoverSec: 30,
  /** Rounds of the pair of variants: 1 runs A B, 2 runs A B B A. */
  rounds: 2,
  /** Waiting for late answers and deliveries after the load ends. */
  graceSec: 60,
  /** Per-second p99 within max(2x the normal phase's p99, its p99 + this) counts as recovered. */
  recoverSlackMs: 10,
  maxDispatchLagMs: 10,
});

type Options = { -readonly [K in keyof typeof DEFAULTS]: number } & { out: string; capacity: number | undefined; limits: string[]; only: VariantRun['variant'] | undefined; profile: boolean };

const NO_LIMITS = ['--node-max-inflight', '0', '--node-max-queued-bytes', '0', '--heap-watermark-mb', '0'];

/** `name:value,name:value` (settings of the limits variant) as `--name value` flags. */
function limitFlags(raw: string | undefined): string[] {
  return (raw ?? '').split(',').filter(Boolean).flatMap((pair) => {
    const [name, value] = pair.split(':');
    if (!name || value === undefined) throw new Error(`--limits takes name:value pairs separated by commas, got "${pair}"`);
    return [`--${name}`, value];
  });
}

function options(argv: string[]): Options {
  const { flags } = parseArgs(argv);
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const num = (name: string, raw: string) => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  const opts: Options = { ...DEFAULTS, out: flags.get('out') ?? path.join(ROOT, 'out/bench-overload.json'), capacity: undefined, limits: limitFlags(flags.get('limits')), only: undefined, profile: flags.has('profile') };
  const only = flags.get('only');
  if (only !== undefined && only !== 'limits' && only !== 'no-limits') throw new Error(`--only must be limits or no-limits, got "${only}"`);
  if (only) opts.only = only === 'limits' ? 'limits' : 'no limits';
  if (flags.has('capacity')) opts.capacity = num('capacity', flags.get('capacity')!);
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const raw = flags.get(kebab(key));
    if (raw !== undefined) opts[key] = num(kebab(key), raw);
  }
  return opts;
}

interface VariantRun {
  variant: 'limits' | 'no limits';
  round: number;
  capacity: number;
  /** Acks that arrived per second during the overload phase. */
  overloadAckedPerSec: number;
  overloadP99Ms: number;
  overloadP50Ms: number;
  /** Of the overload phase's sends, the share refused, by error code. */
  refusedShare: Record<string, number>;
  normalP99Ms: number;
  recoverP99Ms: number;
  /** Seconds from the drop until every send was acked again with a normal p99; null: not within the phase. */
  recoverySec: number | null;
  peakRssMiB: number;
  rssAtStartMiB: number;
  /** Node CPU during the overload phase, % of one core. */
  overloadCpuPct: number;
  /** Share of /readyz polls during the overload phase that answered 503. */
  notReadyShare: number;
  otherCpuPct: number;
  dispatchLagP99Ms: number;
  valid: boolean;
  /** Set when the node exited during the run. */
  died?: string;
  result: PhasedResult;
}

/** Polls /readyz every 250 ms and samples RSS; returns what it saw per phase window. */
function watch(node: ParleyNode): { stop(): void; samples: { t: number; rssMiB: number; ready: boolean }[] } {
  const samples: { t: number; rssMiB: number; ready: boolean }[] = [];
  let stopped = false;
  const poll = async () => {
    while (!stopped) {
      const t = performance.now();
      const ready = await fetch(`http://127.0.0.1:${node.opsPort}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200, () => false);
      samples.push({ t, rssMiB: procRss(node.child.pid!)?.rssMiB ?? NaN, ready });
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  void poll();
  return { stop: () => { stopped = true; }, samples };
}

async function runVariant(variant: VariantRun['variant'], roundNo: number, capacity: number, pin: boolean, opts: Options): Promise<VariantRun> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-overload-'));
  const nodeFlags = opts.profile ? ['--cpu-prof', '--cpu-prof-dir', path.join(ROOT, 'out/profiles')] : [];
  const node = await startParley({ pin, dataDir, args: variant === 'limits' ? opts.limits : NO_LIMITS, nodeFlags });
  try {
    const rssAtStartMiB = procRss(node.child.pid!)!.rssMiB;
    const load = await PhasedLoad.connect(node.target, opts.pairs, 'u');
    const half = Math.round(capacity / 2);
    const normalMs = opts.normalSec * 1000;
    const overloadMs = opts.overloadSec * 1000;
    const w = watch(node);
    let cpu0 = 0; let cores0: number[] = []; let cpu1 = 0; let cores1: number[] = [];
    const a = setTimeout(() => { cpu0 = procCpuSec(node.child.pid!); cores0 = coreBusySec(); }, normalMs);
    const b = setTimeout(() => { cpu1 = procCpuSec(node.child.pid!); cores1 = coreBusySec(); }, normalMs + overloadMs);
    const result = await load.run([
      { name: 'normal', ratePerSec: half, ms: normalMs },
      { name: 'overload', ratePerSec: capacity * 2, ms: overloadMs },
      { name: 'recover', ratePerSec: half, ms: opts.recoverSec * 1000 },
    ], opts.graceSec * 1000);
    clearTimeout(a); clearTimeout(b);
    w.stop();
    const peakRssMiB = procRss(node.child.pid!)?.peakMiB ?? Math.max(...w.samples.map((x) => x.rssMiB).filter((x) => !Number.isNaN(x)));
    // A node that died under the load (heap limit, OOM killer) says so instead of looking fast.
    const died = node.child.exitCode !== null || node.child.signalCode !== null ? `exited ${node.child.exitCode ?? node.child.signalCode}` : undefined;
    await load.close();

    const [normal, overload, recover] = result.segments as [typeof result.segments[0], typeof result.segments[0], typeof result.segments[0]];
    const refusedShare = Object.fromEntries(Object.entries(overload.refused).map(([code, n]) => [code, round(n / overload.scheduled, 4)]));
    const limit = Math.max(2 * normal.p99Ms, normal.p99Ms + opts.recoverSlackMs);
    const seconds = result.seconds.map((s) => ({ p99Ms: s.p99Ms, scheduled: s.scheduled, acked: s.acked }));
    const rec = recoverySec(seconds, opts.normalSec + opts.overloadSec, limit);
    const inOverload = w.samples.filter((s) => s.t >= result.startedAt + normalMs && s.t < result.startedAt + normalMs + overloadMs);
    const secs = opts.overloadSec;
    const serverCpu = (cpu1 - cpu0) / secs * 100;
    const coreBusy = ((cores1[Number(SERVER_CPU)] ?? 0) - (cores0[Number(SERVER_CPU)] ?? 0)) / secs * 100;
    const run: VariantRun = {
      variant, round: roundNo, capacity,
      overloadAckedPerSec: overload.ackedPerSec, overloadP50Ms: overload.p50Ms, overloadP99Ms: overload.p99Ms, refusedShare,
      normalP99Ms: normal.p99Ms, recoverP99Ms: recover.p99Ms, recoverySec: rec ?? null,
      peakRssMiB, rssAtStartMiB,
      overloadCpuPct: Math.round(serverCpu), otherCpuPct: pin ? Math.max(0, Math.round(coreBusy - serverCpu)) : NaN,
      notReadyShare: inOverload.length ? round(inOverload.filter((s) => !s.ready).length / inOverload.length, 3) : NaN,
      dispatchLagP99Ms: result.dispatchLagP99Ms,
      valid: result.dispatchLagP99Ms <= opts.maxDispatchLagMs,
      result,
    };
    if (died) run.died = died;
    const l = result.ledger;
    const refusedText = Object.entries(refusedShare).map(([c, s]) => `${c} ${(s * 100).toFixed(1)}%`).join(', ') || 'none';
    console.log(`  ${variant.padEnd(9)} round ${roundNo}: overload acked ${run.overloadAckedPerSec}/s (${(run.overloadAckedPerSec / capacity * 100).toFixed(0)}% of capacity), p99 ${run.overloadP99Ms} ms, refused ${refusedText}; ` +
      `recovery ${rec === undefined ? `not within ${opts.recoverSec} s` : `${rec} s`}; peak RSS ${peakRssMiB} MiB; ledger ${l.acked} acked, ${l.refused} refused, ${l.unanswered} unanswered, ${l.lost} lost; lag p99 ${run.dispatchLagP99Ms} ms${run.valid ? '' : '  INVALID'}${died ? `  NODE ${died.toUpperCase()}` : ''}`);
    return run;
  } finally {
    await node.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function bench(argv: string[]): Promise<number> {
  const opts = options(argv);
  const pin = process.env.PARLEY_BENCH_PINNED === '1';
  const started = new Date();
  const niceness = raisePriority();
  const m = machine(os.tmpdir(), niceness);
  console.log(`bench:overload  ${String(m.cpu)} ×${String(m.cpus)}, node ${process.version}, ${fromLabel()}, pinning ${pin ? `server cpu ${SERVER_CPU}, load cpu ${LOAD_CPU}` : 'OFF'}, loadavg ${(m.loadavg as number[]).join(' ')}`);
  console.log(`  ${opts.pairs * 2} connections (1:1 pairs), per-session send limits raised to 1,000,000/s; phases normal 50% ${opts.normalSec} s, overload 200% ${opts.overloadSec} s, recover 50% ${opts.recoverSec} s${opts.limits.length ? `; limits variant flags: ${opts.limits.join(' ')}` : ''}`);
  const capacity = opts.capacity ?? await measureCapacity({ pin, pairs: opts.pairs, window: opts.window, args: opts.limits });
  const order: VariantRun['variant'][] = [];
  for (let r = 0; r < opts.rounds; r++) order.push(...(r % 2 === 0 ? ['limits', 'no limits'] as const : ['no limits', 'limits'] as const).filter((v) => !opts.only || v === opts.only));
  const runs: VariantRun[] = [];
  for (const [k, v] of order.entries()) runs.push(await runVariant(v, Math.floor(k / 2) + 1, capacity, pin, opts));

  const head = ['variant', 'round', 'acked/s in overload', '% of capacity', 'p50 ms', 'p99 ms', 'refused (by code)', 'not ready', 'normal p99', 'recover p99', 'recovery s', 'peak RSS MiB', 'srv cpu', 'lost'];
  console.log('');
  printTable(head, runs.map((r) => [r.variant, String(r.round), String(r.overloadAckedPerSec), `${Math.round(r.overloadAckedPerSec / capacity * 100)}%`, r.overloadP50Ms.toFixed(1), r.overloadP99Ms.toFixed(1),
    Object.entries(r.refusedShare).map(([c, s]) => `${c} ${(s * 100).toFixed(1)}%`).join(' ') || '0', Number.isNaN(r.notReadyShare) ? '-' : `${Math.round(r.notReadyShare * 100)}%`,
    r.normalP99Ms.toFixed(1), r.recoverP99Ms.toFixed(1), r.recoverySec === null ? `>${opts.recoverSec}` : String(r.recoverySec), r.peakRssMiB.toFixed(0), `${r.overloadCpuPct}%`, String(r.result.ledger.lost)]), 2);

  const med = (v: VariantRun['variant'], f: (r: VariantRun) => number) => median(runs.filter((r) => r.variant === v).map(f));
  const recovery = (r: VariantRun) => r.recoverySec ?? opts.recoverSec + 1;
  const ratios = {
    ackedPerSec: round(med('limits', (r) => r.overloadAckedPerSec) / med('no limits', (r) => r.overloadAckedPerSec), 3),
    p99: round(med('limits', (r) => r.overloadP99Ms) / med('no limits', (r) => r.overloadP99Ms), 4),
    peakRss: round(med('limits', (r) => r.peakRssMiB) / med('no limits', (r) => r.peakRssMiB), 3),
    recovery: round(med('limits', recovery) / med('no limits', recovery), 3),
  };
  console.log(`\n  capacity ${capacity} acked sends/s; offered ${capacity * 2}/s in overload, ${Math.round(capacity / 2)}/s otherwise`);
  console.log(`  ratios limits / no limits (medians over ${opts.rounds} round(s)): acked/s in overload ${ratios.ackedPerSec}, p99 in overload ${ratios.p99}, peak RSS ${ratios.peakRss}, recovery time ${ratios.recovery}${runs.some((r) => r.recoverySec === null) ? ` (not recovered counted as ${opts.recoverSec + 1} s)` : ''}`);
  const lost = runs.reduce((n, r) => n + r.result.ledger.lost, 0);
  const valid = runs.every((r) => r.valid);
  console.log(`  acked messages lost: ${lost} of ${runs.reduce((n, r) => n + r.result.ledger.acked, 0)}`);
  const noisy = runs.filter((r) => r.otherCpuPct > 10);
  if (noisy.length) console.log(`  warning: other processes took >10% of the node's core in ${noisy.length} of ${runs.length} runs; rerun on a quiet machine`);
  if (!valid) console.log(`  INVALID: the generator dispatched sends more than ${opts.maxDispatchLagMs} ms late (p99); the numbers measure the generator`);
  const verdict = lost > 0 ? 'LOST' : valid ? 'VALID' : 'INVALID';
  console.log(`  verdict: ${verdict}`);

  const out = {
    bench: 'overload', verdict, startedAt: started.toISOString(), durationSec: Math.round((Date.now() - started.getTime()) / 1000),
    command: `npm run bench:overload${argv.length ? ` -- ${argv.join(' ')}` : ''}`, build: fromLabel(), pinned: pin, machine: m, options: opts,
    capacityPerSec: capacity, ratios, lost, runs,
  };
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, `${JSON.stringify(out, null, 1)}\n`);
  console.log(`  wrote ${path.relative(process.cwd(), opts.out)}`);
  return lost > 0 ? 1 : valid ? 0 : 2;
}

runPinned(import.meta.url, bench);
