/**
 * bench:soak: does a node hold steady over a long run? It measures the node's capacity (acked 1:1
 * sends/s, closed loop, a fresh node), then runs a fresh node at 50% of it for the given time with
 * churn (core/bench/churn.ts: 1:1 and room messages, reconnects, presence, typing, room joins and
 * leaves). It samples the node's RSS from /proc every 5 s, its heap after a forced full GC every
 * 30 s (core/bench/heap-probe.mjs, preloaded with --expose-gc in this bench only), and event-loop
 * delay p99 per minute; fits RSS and heap-after-GC against time by least squares (MiB/hour with
 * the slope's standard error); and counts every acked message to its recipients: 0 lost.
 * Per-session send limits are raised (the load is spread over few users). Node on core 0,
 * generator on core 1.
 *
 * Usage: npm run bench:soak [-- --minutes 10 | --seconds 90] [--rate N (sends/s; skips capacity)]
 *   [--users 200 --rooms 10 --reconnects-per-sec 2 ...] [--out out/bench-soak.json]
 * The JSON is rewritten every minute while running ("status": "running"), so a run that dies
 * leaves what it saw. Exit code: 0 nothing lost, 1 an acked message lost or users left offline,
 * 2 a crash.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from '../args.ts';
import { CHURN_DEFAULTS, ChurnLoad, type ChurnCounts, type ChurnOptions } from './churn.ts';
import { fromLabel, LOAD_CPU, machine, measureCapacity, printTable, procCpuSec, procRss, raisePriority, ROOT, round, runPinned, SERVER_CPU, startParley, type ParleyNode } from './harness.ts';
import { fitLine, type LineFit } from './stats.ts';

const RSS_EVERY_MS = 5_000;
const HEAP_EVERY_MS = 30_000;
const LOOP_EVERY_MS = 60_000;
/** The first samples are the node warming up (JIT, caches, SQLite pages); fits start after them. */
const WARMUP_MS = 60_000;

interface Options extends ChurnOptions {
  durationMs: number;
  rate: number | undefined;
  share: number;
  graceMs: number;
  out: string;
}

function options(argv: string[]): Options {
  const { flags } = parseArgs(argv);
  const num = (name: string, fallback: number, integer = true) => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!(Number.isFinite(n) && n >= 0) || (integer && !Number.isSafeInteger(n))) throw new Error(`--${name} must be a non-negative ${integer ? 'integer' : 'number'}, got "${raw}"`);
    return n;
  };
  const seconds = flags.has('seconds') ? num('seconds', 0) : num('minutes', 10, false) * 60;
  if (!(seconds > 0)) throw new Error('--minutes or --seconds must be above 0');
  const d = CHURN_DEFAULTS;
  return {
    durationMs: Math.round(seconds * 1000),
    rate: flags.has('rate') ? num('rate', 0) : undefined,
    share: num('share', 0.5, false),
    graceMs: num('grace-sec', 30) * 1000,
    out: flags.get('out') ?? path.join(ROOT, 'out/bench-soak.json'),
    ratePerSec: 0,
    users: num('users', d.users), rooms: num('rooms', d.rooms), roomMembers: num('room-members', d.roomMembers), roomShare: num('room-share', d.roomShare, false),
    reconnectsPerSec: num('reconnects-per-sec', d.reconnectsPerSec, false), presencePerSec: num('presence-per-sec', d.presencePerSec, false),
    typingPerSec: num('typing-per-sec', d.typingPerSec, false), roomChurnPerSec: num('room-churn-per-sec', d.roomChurnPerSec, false),
  };
}

/** Asks the preloaded heap probe a question over IPC. */
function ask<T>(node: ParleyNode, cmd: 'heap' | 'loop'): Promise<T | undefined> {
  const id = Math.random().toString(36).slice(2);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { node.child.off('message', on); resolve(undefined); }, 10_000);
    const on = (m: { id?: string }) => {
      if (m.id !== id) return;
      clearTimeout(timer);
      node.child.off('message', on);
      resolve(m as T);
    };
    node.child.on('message', on);
    node.child.send({ cmd, id });
  });
}

interface HeapSample { t: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number; arrayBuffersMiB: number; rssMiB: number; gcMs: number }
interface LoopSample { minute: number; p50Ms: number; p99Ms: number; maxMs: number; meanMs: number }
interface MinuteRow extends LoopSample { rssMiB: number; heapAfterGcMiB: number; cpuPct: number; counts: ChurnCounts }

const fit = (points: { t: number; y: number }[]): LineFit & { slopeMiBPerHour: number; stdErrMiBPerHour: number } => {
  const f = fitLine(points.map((p) => p.t / 3_600_000), points.map((p) => p.y));
  return { ...f, slopeMiBPerHour: round(f.slope, 2), stdErrMiBPerHour: round(f.slopeStdErr, 2) };
};

async function bench(argv: string[]): Promise<number> {
  const opts = options(argv);
  const pin = process.env.PARLEY_BENCH_PINNED === '1';
  const started = new Date();
  const m = machine(os.tmpdir(), raisePriority());
  console.log(`bench:soak  ${String(m.cpu)} ×${String(m.cpus)}, node ${process.version}, ${fromLabel()}, pinning ${pin ? `server cpu ${SERVER_CPU}, load cpu ${LOAD_CPU}` : 'OFF'}, loadavg ${(m.loadavg as number[]).join(' ')}`);
  const capacity = opts.rate === undefined ? await measureCapacity({ pin, pairs: 100, window: 8 }) : undefined;
  const rate = opts.rate ?? Math.round(capacity! * opts.share);
  const churn: ChurnOptions = { ...opts, ratePerSec: rate };
  console.log(`  ${opts.durationMs / 1000} s at ${rate} sends/s${capacity ? ` (${opts.share * 100}% of ${capacity}/s)` : ''}, ${churn.users} users, ${churn.rooms} open rooms of ${churn.roomMembers} stable members, ${churn.roomShare * 100}% of sends to rooms; ` +
    `per second: ${churn.reconnectsPerSec} reconnects, ${churn.presencePerSec} presence changes, ${churn.typingPerSec} typing, ${churn.roomChurnPerSec} room joins (each left 2-6 s later)`);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-soak-'));
  const node = await startParley({ pin, dataDir, ipc: true, nodeFlags: ['--expose-gc', '--import', path.join(ROOT, 'core/bench/heap-probe.mjs')] });
  const rss: { t: number; rssMiB: number }[] = [];
  const heap: HeapSample[] = [];
  const minutes: MinuteRow[] = [];
  let exitCode = 2;
  let written = false;
  const write = (status: string, extra: Record<string, unknown> = {}) => {
    const after = (t: number) => t >= Math.min(WARMUP_MS, opts.durationMs / 3);
    const result = {
      bench: 'soak', status, startedAt: started.toISOString(), elapsedSec: Math.round((Date.now() - started.getTime()) / 1000),
      command: `npm run bench:soak${argv.length ? ` -- ${argv.join(' ')}` : ''}`, build: fromLabel(), pinned: pin, machine: m, options: opts, capacityPerSec: capacity, ratePerSec: rate,
      heapAfterGc: 'process.memoryUsage().heapUsed right after global.gc() in the node (core/bench/heap-probe.mjs, --expose-gc in this bench only)',
      fits: {
        fromSec: Math.round(Math.min(WARMUP_MS, opts.durationMs / 3) / 1000),
        rss: fit(rss.filter((s) => after(s.t)).map((s) => ({ t: s.t, y: s.rssMiB }))),
        heapAfterGc: fit(heap.filter((s) => after(s.t)).map((s) => ({ t: s.t, y: s.heapUsedMiB }))),
      },
      minutes, rss, heap, ...extra,
    };
    // A failed write (a full disk, a removed folder) costs this snapshot, not the run: the next
    // minute tries again, and the table and the verdict still reach the console.
    try {
      fs.mkdirSync(path.dirname(opts.out), { recursive: true });
      fs.writeFileSync(`${opts.out}.tmp`, `${JSON.stringify(result, null, 1)}\n`);
      fs.renameSync(`${opts.out}.tmp`, opts.out);
      written = true;
    } catch (err) {
      written = false;
      console.error(`  could not write ${opts.out} (${status}): ${err instanceof Error ? err.message : String(err)}`);
    }
    return result;
  };
  try {
    const load = new ChurnLoad(node.target, churn);
    await load.setup();
    await ask(node, 'loop');
    const t0 = performance.now();
    const pid = node.child.pid!;
    let cpuAt = procCpuSec(pid);
    load.start();
    const timers = [
      setInterval(() => { const r = procRss(pid); if (r) rss.push({ t: Math.round(performance.now() - t0), rssMiB: r.rssMiB }); }, RSS_EVERY_MS),
      setInterval(() => void ask<Omit<HeapSample, 't'>>(node, 'heap').then((h) => { if (h) heap.push({ t: Math.round(performance.now() - t0), ...h }); }), HEAP_EVERY_MS),
    ];
    const minute = async () => {
      const l = await ask<Omit<LoopSample, 'minute'>>(node, 'loop');
      const cpu = procCpuSec(pid);
      const secs = Math.max(1, (performance.now() - t0) / 1000 - minutes.length * 60);
      const row: MinuteRow = {
        minute: minutes.length + 1, p50Ms: l?.p50Ms ?? NaN, p99Ms: l?.p99Ms ?? NaN, maxMs: l?.maxMs ?? NaN, meanMs: l?.meanMs ?? NaN,
        rssMiB: rss.at(-1)?.rssMiB ?? NaN, heapAfterGcMiB: heap.at(-1)?.heapUsedMiB ?? NaN, cpuPct: Math.round(((cpu - cpuAt) / Math.min(60, secs)) * 100), counts: load.take(),
      };
      cpuAt = cpu;
      minutes.push(row);
      const c = row.counts;
      const errs = Object.entries(c.errors).map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(`  min ${String(row.minute).padStart(3)}: RSS ${row.rssMiB} MiB, heap after GC ${row.heapAfterGcMiB} MiB, event loop p99 ${row.p99Ms} ms (max ${row.maxMs}), cpu ${row.cpuPct}%; sent ${c.sent}, acked ${c.acked}, ack p99 ${c.ackP99Ms} ms, generator lag p99 ${c.dispatchLagP99Ms} ms, reconnects ${c.reconnects}, joins ${c.joins}${errs ? `; errors ${errs}` : ''}`);
      write('running');
    };
    const deadline = t0 + opts.durationMs;
    while (performance.now() < deadline) {
      const next = Math.min(deadline, t0 + (minutes.length + 1) * LOOP_EVERY_MS);
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      if (next - t0 >= (minutes.length + 1) * LOOP_EVERY_MS || performance.now() >= deadline) await minute();
    }
    for (const t of timers) clearInterval(t);
    const last = await ask<Omit<HeapSample, 't'>>(node, 'heap');
    if (last) heap.push({ t: Math.round(performance.now() - t0), ...last });
    const ledger = await load.stop(opts.graceMs);
    const totals = load.totals;
    await load.close();
    const peakRssMiB = procRss(pid)?.peakMiB ?? NaN;

    console.log('');
    printTable(['minute', 'RSS MiB', 'heap after GC MiB', 'loop p99 ms', 'loop max ms', 'cpu', 'sent', 'ack p99 ms', 'reconnects', 'errors'], minutes.map((r) => [
      String(r.minute), r.rssMiB.toFixed(1), r.heapAfterGcMiB.toFixed(1), r.p99Ms.toFixed(1), r.maxMs.toFixed(1), `${r.cpuPct}%`, String(r.counts.sent), r.counts.ackP99Ms.toFixed(1), String(r.counts.reconnects),
      String(Object.values(r.counts.errors).reduce((a, b) => a + b, 0))]), 1);
    const result = write('done', { peakRssMiB, ledger, totals });
    const f = result.fits;
    const gcMs = heap.map((h) => h.gcMs).sort((a, b) => a - b);
    console.log(`\n  RSS slope ${f.rss.slopeMiBPerHour} ± ${f.rss.stdErrMiBPerHour} MiB/h (${f.rss.n} samples from ${f.fromSec} s); heap after GC slope ${f.heapAfterGc.slopeMiBPerHour} ± ${f.heapAfterGc.stdErrMiBPerHour} MiB/h (${f.heapAfterGc.n} samples)`);
    console.log(`  RSS first/last ${rss[0]?.rssMiB ?? '-'} / ${rss.at(-1)?.rssMiB ?? '-'} MiB, peak ${peakRssMiB} MiB; forced GC pause median ${gcMs[gcMs.length >> 1] ?? '-'} ms, max ${gcMs.at(-1) ?? '-'} ms (in the event-loop numbers)`);
    console.log(`  ledger: ${ledger.acked} acked, ${ledger.lost} lost, ${ledger.unacked} unacked, ${ledger.offline} users offline at the end; duplicates ${totals.duplicates}; reconnects ${totals.reconnects}, presence ${totals.presence}, typing ${totals.typing}, joins ${totals.joins}, leaves ${totals.leaves}`);
    const errs = Object.entries(totals.errors);
    if (errs.length) console.log(`  errors: ${errs.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (written) console.log(`  wrote ${path.relative(process.cwd(), opts.out)}`);
    exitCode = ledger.lost === 0 && ledger.offline === 0 ? 0 : 1;
    return exitCode;
  } catch (err) {
    write('crashed', { error: err instanceof Error ? err.stack : String(err) });
    throw err;
  } finally {
    await node.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

runPinned(import.meta.url, bench);
