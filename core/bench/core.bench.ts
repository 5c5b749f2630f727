/**
 * bench:core: the same 1:1 workload against a raw `ws` relay (no persistence: the ceiling on this
 * machine), parley with durable storage (SQLite WAL, fsync before ack) and Socket.IO (no
 * persistence, acks by callback), in one run. Servers are pinned to core 0 and the load generator
 * to core 1. Each round runs every server (order reversed each round: A B C C B A) through
 * saturation by a closed loop and p50/p99 send→deliver latency in an open model at 25% and 50% of
 * the relay's ceiling (measured in the first round), with server CPU ns and heap bytes allocated
 * per delivered message. Then, per server: memory per idle session and logins per second.
 * Prints tables, medians with their spread over rounds, PASS/FAIL per target; writes out/bench-core.json.
 *
 * Usage: npm run bench:core [-- --pairs 100 --rounds 2 --measure-ms 5000 --window 8 --idle-sessions
 * 15000 --logins 3000 --servers raw,parley,socketio --profile --ceiling N]
 * (--profile writes parley's CPU profile to out/profiles; --ceiling skips measuring the relay's
 * saturation; without raw in --servers the verdict is partial)
 * Exit code: 0 PASS, 1 FAIL, 2 invalid (the generator fell behind), partial, or a crash.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from '../args.ts';
import { SUBPROTOCOL } from '../protocol.ts';
import { probeFdatasync } from './disk.ts';
import { coreBusySec, fromLabel, LOAD_CPU, machine as machineInfo, nodeArgs, pinned, printTable as table, procCpuSec, raisePriority, ROOT, round, runPinned, SERVER_CPU, spawnServer, startParley as startNode, stopChild } from './harness.ts';
import { connectUser, LoadGen, type RunStats, type Target } from './loadgen.ts';
import { cpuNs, GcTrace, readHeap } from './readings.ts';

/** Targets from issue 12. */
const TARGETS = Object.freeze({
  minThroughputRatio: 0.7,
  maxP99AtQuarterMs: 10,
  maxP99AtHalfMs: 25,
  /** Server CPU per delivered message at the same offered rate (25% phase), parley / relay. */
  maxCpuPerMsgRatio: 2,
  maxIdleBytesPerSession: 8192,
  minLoginsPerSec: 5000,
});

const DEFAULTS = Object.freeze({
  /** Pairs of users; each user sends to its peer, so 2×pairs sockets. */
  pairs: 100,
  /** Sends outstanding per user in the closed (saturation) loop. */
  window: 8,
  /** Rounds over all servers, each in the reverse order of the one before. */
  rounds: 2,
  warmupMs: 2_000,
  measureMs: 5_000,
  /** How long a run waits for its last sampled messages before counting them undelivered. */
  graceMs: 3_000,
  /**
   * A run whose generator dispatched sends later than this (p99), or issued under 99% of the
   * offered rate, measured the generator: invalid. (Lateness still counts in latency: no hiding.)
   */
  maxDispatchLagMs: 10,
  /** Idle authenticated sessions held open at once to measure memory per session (0: skip). */
  idleSessions: 15_000,
  /** Logins (connect + authenticate + sync) timed per server (0: skip). */
  logins: 3_000,
  /** Logins in flight at once. */
  loginConcurrency: 100,
});

type Options = { -readonly [K in keyof typeof DEFAULTS]: number } & {
  profile: boolean;
  out: string;
  /** Skip the relay's saturation and take its ceiling from here. */
  ceiling: number | undefined;
  servers: ServerName[];
};

const SERVERS = ['raw', 'parley', 'socketio'] as const;
type ServerName = (typeof SERVERS)[number];

function options(argv: string[]): Options {
  const { flags } = parseArgs(argv);
  const ceiling = flags.has('ceiling') ? Number(flags.get('ceiling')) : undefined;
  if (ceiling !== undefined && !(Number.isSafeInteger(ceiling) && ceiling > 0)) throw new Error(`--ceiling must be a positive integer, got "${flags.get('ceiling')}"`);
  const servers = (flags.get('servers') ?? SERVERS.join(',')).split(',') as ServerName[];
  const unknown = servers.filter((s) => !SERVERS.includes(s));
  if (unknown.length || !servers.length) throw new Error(`--servers takes a comma-separated subset of ${SERVERS.join(', ')}, got "${flags.get('servers')}"`);
  if (ceiling === undefined && !servers.includes('raw') && flags.get('rounds') !== '0') throw new Error('--servers without raw needs --ceiling N (the relay\'s saturation, msgs/s)');
  const opts: Options = { ...DEFAULTS, profile: flags.has('profile'), out: flags.get('out') ?? path.join(ROOT, 'out/bench-core.json'), ceiling, servers };
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  // --rounds 0 measures only idle sessions and logins.
  const zeroOk = new Set(['idleSessions', 'logins', 'rounds']);
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const raw = flags.get(kebab(key));
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0 || (n === 0 && !zeroOk.has(key))) throw new Error(`--${kebab(key)} must be a ${zeroOk.has(key) ? 'non-negative' : 'positive'} integer, got "${raw}"`);
    opts[key] = n;
  }
  return opts;
}

// ── servers under test ──────────────────────────────────────────────────────────────────────────

interface ServerUnderTest {
  name: ServerName;
  child: ChildProcess;
  target: Target;
  gc: GcTrace;
  stop(): Promise<void>;
}

/** Every server runs with --trace-gc (allocation) and the heap probe (memory after a GC). */
const PROBE_FLAGS = ['--trace-gc', '--expose-gc', '--import', path.join(ROOT, 'core/bench/heap-probe.mjs')];
const IPC = ['ignore', 'pipe', 'pipe', 'ipc'] as const;
const portLine = (line: string) => { try { return (JSON.parse(line) as { port?: number }).port; } catch { return undefined; } };

async function startHelper(name: 'raw' | 'socketio', pin: boolean): Promise<ServerUnderTest> {
  const argv = nodeArgs(name === 'raw' ? 'core/bench/relay.ts' : 'core/bench/socketio.ts');
  argv.splice(1, 0, ...PROBE_FLAGS);
  const { child, port } = await spawnServer(pinned(pin, SERVER_CPU, argv), {}, portLine, [...IPC]);
  child.channel?.unref();
  const target: Target = name === 'raw'
    ? { protocol: SUBPROTOCOL, url: async (user) => `ws://127.0.0.1:${port}/ws?user=${user}` }
    : { protocol: '', wire: 'socketio', url: async (user) => `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket&user=${user}` };
  return { name, child, target, gc: new GcTrace(child), stop: () => stopChild(child) };
}

async function startServer(name: ServerName, pin: boolean, opts: Options, dataDir: string): Promise<ServerUnderTest> {
  if (name !== 'parley') return startHelper(name, pin);
  const nodeFlags = [...PROBE_FLAGS, ...(opts.profile ? ['--cpu-prof', '--cpu-prof-dir', path.join(ROOT, 'out/profiles')] : [])];
  const n = await startNode({ pin, dataDir, nodeFlags, ipc: true });
  n.child.channel?.unref();
  return { name, child: n.child, stop: n.stop, target: n.target, gc: new GcTrace(n.child) };
}

// ── one measured phase ──────────────────────────────────────────────────────────────────────────

interface Phase extends RunStats {
  server: ServerName;
  round: number;
  phase: 'saturation' | 'p25' | 'p50';
  offeredPerSec?: number;
  serverCpuPct: number;
  loadCpuPct: number;
  /** Server CPU (all threads, schedstat) per message delivered in the window, µs. */
  cpuUsPerMsg: number;
  /** Heap bytes the server allocated per message delivered in the window (--trace-gc). */
  allocBytesPerMsg: number;
  /** GC pause per second of the window, ms. */
  gcMsPerSec: number;
  /** CPU other processes took from the server's and the generator's core: noise in this run. */
  otherCpuPct: { serverCore: number; loadCore: number };
  /** The generator used ≥ 90% of its core: it, not the server, may have been the limit. */
  generatorLimited: boolean;
  valid: boolean;
}

/** Runs one measurement and samples both processes over its measured window. */
async function measure(sut: ServerUnderTest, round: number, phase: Phase['phase'], opts: Options, pin: boolean, run: () => Promise<RunStats>, offeredPerSec?: number): Promise<Phase> {
  const pid = sut.child.pid!;
  const sample = () => ({ cpu: procCpuSec(pid), ns: cpuNs(pid), load: process.cpuUsage(), cores: coreBusySec(), t: performance.now(), mb: sut.gc.allocatedMB, gcMs: sut.gc.pauseMs });
  let s0 = sample(); let s1 = s0;
  const a = setTimeout(() => { s0 = sample(); }, opts.warmupMs);
  const b = setTimeout(() => { s1 = sample(); }, opts.warmupMs + opts.measureMs);
  const stats = await run();
  clearTimeout(a); clearTimeout(b);
  const secs = (s1.t - s0.t) / 1000 || 1;
  const pct = (sec: number) => Math.round((sec / secs) * 100);
  const serverCpuPct = pct(s1.cpu - s0.cpu);
  const loadCpuPct = pct((s1.load.user + s1.load.system - s0.load.user - s0.load.system) / 1e6);
  const coreBusy = (i: number) => pct((s1.cores[i] ?? 0) - (s0.cores[i] ?? 0));
  const msgs = Math.max(1, stats.deliveredPerSec * secs);
  const p: Phase = {
    server: sut.name, round, phase, ...stats, serverCpuPct, loadCpuPct,
    cpuUsPerMsg: round1((s1.ns - s0.ns) / 1e3 / msgs),
    allocBytesPerMsg: Math.round(((s1.mb - s0.mb) * 2 ** 20) / msgs),
    gcMsPerSec: round1((s1.gcMs - s0.gcMs) / secs),
    otherCpuPct: pin ? { serverCore: Math.max(0, coreBusy(Number(SERVER_CPU)) - serverCpuPct), loadCore: Math.max(0, coreBusy(Number(LOAD_CPU)) - loadCpuPct) }
      : { serverCore: Math.max(0, coreBusy(0) + coreBusy(1) - serverCpuPct - loadCpuPct), loadCore: 0 },
    generatorLimited: loadCpuPct >= 90,
    valid: stats.dispatchLagP99Ms <= opts.maxDispatchLagMs && (offeredPerSec === undefined || stats.issuedPerSec >= 0.99 * offeredPerSec),
  };
  if (offeredPerSec !== undefined) p.offeredPerSec = offeredPerSec;
  const what = offeredPerSec === undefined ? `closed ${opts.window}/user` : `open ${offeredPerSec}/s`;
  console.log(`  r${round} ${sut.name.padEnd(8)} ${phase.padEnd(10)} ${what.padEnd(15)} delivered ${String(p.deliveredPerSec).padStart(6)}/s  p50 ${fmt(p.p50Ms)}  p99 ${fmt(p.p99Ms)}  srv ${p.serverCpuPct}% ${p.cpuUsPerMsg} µs/msg ${p.allocBytesPerMsg} B/msg  gen ${p.loadCpuPct}%  other ${p.otherCpuPct.serverCore}%/${p.otherCpuPct.loadCore}%${p.errors ? `  errors ${p.errors}` : ''}  lag ${p.dispatchLagP99Ms.toFixed(1)} ms${p.generatorLimited ? '  GENERATOR-LIMITED' : ''}${p.valid ? '' : '  INVALID (generator fell behind)'}`);
  return p;
}

const round1 = (x: number) => round(x, 1);
const fmt = (ms: number) => `${ms.toFixed(2).padStart(7)} ms`;
/** Every sampled message delivered, none refused, and deliveries kept pace with the offered rate. */
const sustained = (p: Phase) => p.errors === 0 && p.sent > 0 && p.delivered === p.sent && p.deliveredPerSec >= 0.97 * (p.offeredPerSec ?? 0);

// ── idle sessions and logins ────────────────────────────────────────────────────────────────────

interface SessionCosts {
  server: ServerName;
  idleSessions: number;
  /** RSS and heap (after a full GC) per idle session: (with them − before them) / sessions. */
  rssBytesPerSession: number;
  heapBytesPerSession: number;
  before: { rssMiB: number; heapUsedMiB: number };
  after: { rssMiB: number; heapUsedMiB: number };
  /** Logins per second: connect, authenticate, sync (parley) or namespace connect (Socket.IO). */
  loginsPerSec: number;
  loginServerCpuPct: number;
  loginGenCpuPct: number;
  loginErrors: number;
}

/** Opens `users` with `concurrency` logins in flight; resolves the open sockets and the error count. */
async function openAll(target: Target, users: string[], concurrency: number): Promise<{ sockets: import('ws').WebSocket[]; errors: number }> {
  const sockets: import('ws').WebSocket[] = [];
  let next = 0; let errors = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, async () => {
    while (next < users.length) {
      const user = users[next++]!;
      try { sockets.push(await connectUser(target, user)); } catch { errors++; }
    }
  }));
  return { sockets, errors };
}

const closeAll = (sockets: import('ws').WebSocket[]) => Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
  ws.once('close', () => resolve());
  ws.close();
  setTimeout(() => { ws.terminate(); resolve(); }, 3000).unref();
})));

async function sessionCosts(sut: ServerUnderTest, opts: Options): Promise<SessionCosts> {
  // URLs (parley: tokens) are made before timing: the generator's signing is not the server's cost.
  const urls = new Map<string, string>();
  const prepared: Target = { ...sut.target, url: async (u) => urls.get(u) ?? sut.target.url(u) };
  const name = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const idle = name('idle', opts.idleSessions);
  const logins = name('login', opts.logins);
  for (const u of [...idle, ...logins]) urls.set(u, await sut.target.url(u));

  await new Promise((r) => setTimeout(r, 500));
  const before = await readHeap(sut.child);
  const held = await openAll(prepared, idle, 200);
  await new Promise((r) => setTimeout(r, 2000));
  const after = await readHeap(sut.child);
  await closeAll(held.sockets);
  const n = Math.max(1, held.sockets.length);
  const per = (mib: number) => Math.round((mib * 2 ** 20) / n);

  const pid = sut.child.pid!;
  const c0 = procCpuSec(pid); const g0 = process.cpuUsage(); const t0 = performance.now();
  const login = logins.length ? await openAll(prepared, logins, opts.loginConcurrency) : { sockets: [], errors: 0 };
  const secs = (performance.now() - t0) / 1000;
  const g = process.cpuUsage(g0);
  const c1 = procCpuSec(pid);
  await closeAll(login.sockets);
  const r: SessionCosts = {
    server: sut.name, idleSessions: held.sockets.length,
    rssBytesPerSession: per(after.rssMiB - before.rssMiB), heapBytesPerSession: per(after.heapUsedMiB - before.heapUsedMiB),
    before: { rssMiB: before.rssMiB, heapUsedMiB: before.heapUsedMiB }, after: { rssMiB: after.rssMiB, heapUsedMiB: after.heapUsedMiB },
    loginsPerSec: Math.round(login.sockets.length / secs), loginServerCpuPct: Math.round(((c1 - c0) / secs) * 100),
    loginGenCpuPct: Math.round(((g.user + g.system) / 1e6 / secs) * 100), loginErrors: login.errors + held.errors,
  };
  console.log(`  ${sut.name.padEnd(8)} idle ${r.idleSessions} sessions: RSS ${r.before.rssMiB} → ${r.after.rssMiB} MiB (${r.rssBytesPerSession} B/session), heap ${r.before.heapUsedMiB} → ${r.after.heapUsedMiB} MiB (${r.heapBytesPerSession} B/session); ${logins.length ? `logins ${r.loginsPerSec}/s (srv ${r.loginServerCpuPct}% gen ${r.loginGenCpuPct}%${r.loginGenCpuPct >= 90 ? ' GENERATOR-LIMITED' : ''})` : 'logins not measured'}${r.loginErrors ? `  errors ${r.loginErrors}` : ''}`);
  return r;
}

// ── the run ─────────────────────────────────────────────────────────────────────────────────────

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const spread = (xs: number[], digits = 0) => ({ median: round(median(xs), digits), min: round(Math.min(...xs), digits), max: round(Math.max(...xs), digits), n: xs.length });
type Spread = ReturnType<typeof spread>;
const show = (s: Spread, unit = '') => (s.n > 1 ? `${s.median}${unit} (${s.min}-${s.max}, n=${s.n})` : `${s.median}${unit}`);

async function bench(argv: string[]): Promise<number> {
  const opts = options(argv);
  const pin = process.env.PARLEY_BENCH_PINNED === '1';
  const started = new Date();
  const niceness = raisePriority();
  const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bench-'));
  const machine = machineInfo(probeDir, niceness) as { cpu: string; cpus: number; node: string; dataFs: string; loadavg: number[] };
  const busy = machine.loadavg[0]! > machine.cpus * 0.5;
  console.log(`bench:core  ${machine.cpu} ×${machine.cpus}, node ${machine.node}, ${fromLabel()}, pinning ${pin ? `server cpu ${SERVER_CPU}, load cpu ${LOAD_CPU}` : 'OFF'}, session nice ${niceness ?? 'unchanged'}`);
  console.log(`  ${opts.pairs * 2} users in ${opts.pairs} 1:1 pairs; ${opts.rounds} round(s) over ${opts.servers.join(', ')}; warmup ${opts.warmupMs} ms, measure ${opts.measureMs} ms per phase; loadavg ${machine.loadavg.join(' ')}${busy ? '  (BUSY MACHINE: absolute numbers are not comparable)' : ''}`);
  const disk = probeFdatasync(probeDir);
  fs.rmSync(probeDir, { recursive: true, force: true });
  console.log(`  disk (${machine.dataFs}): 4 KiB append + fdatasync p50 ${disk.p50Ms} ms, p99 ${disk.p99Ms} ms, max ${disk.maxMs} ms`);

  const phases: Phase[] = [];
  let ceiling = opts.ceiling ?? 0;
  const roundOf = async (r: number, name: ServerName) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bench-'));
    const sut = await startServer(name, pin, opts, dataDir);
    try {
      const gen = await LoadGen.connect(sut.target, opts.pairs, name === 'parley' ? 'u' : name);
      const saturation = async () => {
        const p = await measure(sut, r, 'saturation', opts, pin, () => gen.closed(opts.window, opts.warmupMs, opts.measureMs, opts.graceMs));
        phases.push(p);
        if (name === 'raw' && r === 0 && opts.ceiling === undefined) ceiling = p.deliveredPerSec;
      };
      // The relay's first saturation sets the offered rates; parley's latency runs on a fresh store,
      // so no saturation backlog leaks into them.
      if (name === 'raw') await saturation();
      for (const [phase, share] of [['p25', 0.25], ['p50', 0.5]] as const) {
        const rate = Math.round(ceiling * share);
        phases.push(await measure(sut, r, phase, opts, pin, () => gen.open(rate, opts.warmupMs, opts.measureMs, opts.graceMs), rate));
      }
      if (name !== 'raw') await saturation();
      await gen.close();
    } finally {
      await sut.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  };
  const order = [...opts.servers].sort((a, b) => SERVERS.indexOf(a) - SERVERS.indexOf(b));
  for (let r = 0; r < opts.rounds; r++) {
    for (const name of r % 2 === 0 ? order : [...order].reverse()) await roundOf(r, name);
  }

  const costs: SessionCosts[] = [];
  if (opts.idleSessions > 0 || opts.logins > 0) {
    for (const name of order) {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bench-'));
      const sut = await startServer(name, pin, opts, dataDir);
      try { costs.push(await sessionCosts(sut, opts)); } finally { await sut.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); }
    }
  }

  // Medians over rounds, with their range: one round on a busy machine is not the whole story.
  const of = (server: ServerName, phase: Phase['phase']) => phases.filter((p) => p.server === server && p.phase === phase);
  const stat = (server: ServerName, phase: Phase['phase'], key: 'deliveredPerSec' | 'p99Ms' | 'p50Ms' | 'cpuUsPerMsg' | 'allocBytesPerMsg', digits = 0) => {
    const xs = of(server, phase).map((p) => p[key]);
    return xs.length ? spread(xs, digits) : undefined;
  };
  const perRound = (a: ServerName, b: ServerName, phase: Phase['phase'], key: 'deliveredPerSec' | 'cpuUsPerMsg') => {
    const xs: number[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      const pa = of(a, phase).find((p) => p.round === r); const pb = of(b, phase).find((p) => p.round === r);
      if (pa && pb && pb[key] > 0) xs.push(pa[key] / pb[key]);
    }
    return xs.length ? spread(xs, 3) : undefined;
  };
  const summary = {
    ceilingPerSec: ceiling,
    throughputParleyRaw: perRound('parley', 'raw', 'saturation', 'deliveredPerSec'),
    throughputParleySocketIo: perRound('parley', 'socketio', 'saturation', 'deliveredPerSec'),
    cpuPerMsgParleyRaw: perRound('parley', 'raw', 'p25', 'cpuUsPerMsg'),
    cpuPerMsgParleySocketIo: perRound('parley', 'socketio', 'p25', 'cpuUsPerMsg'),
    byServer: Object.fromEntries(order.map((s) => [s, Object.fromEntries((['saturation', 'p25', 'p50'] as const).map((ph) => [ph, {
      deliveredPerSec: stat(s, ph, 'deliveredPerSec'), p50Ms: stat(s, ph, 'p50Ms', 2), p99Ms: stat(s, ph, 'p99Ms', 2),
      cpuUsPerMsg: stat(s, ph, 'cpuUsPerMsg', 1), allocBytesPerMsg: stat(s, ph, 'allocBytesPerMsg'),
      sustained: ph === 'saturation' ? undefined : of(s, ph).every(sustained),
    }]))])),
  };

  const pq = of('parley', 'p25'); const ph = of('parley', 'p50');
  const pc = costs.find((c) => c.server === 'parley');
  const m = (x: Spread | undefined) => x?.median ?? NaN;
  const checks = {
    throughput: { target: `parley/raw saturation ≥ ${TARGETS.minThroughputRatio}`, value: m(summary.throughputParleyRaw), pass: m(summary.throughputParleyRaw) >= TARGETS.minThroughputRatio },
    p99AtQuarter: { target: `p99 ≤ ${TARGETS.maxP99AtQuarterMs} ms at 25% of the ceiling, all delivered`, value: m(summary.byServer.parley?.p25?.p99Ms), pass: pq.length > 0 && m(summary.byServer.parley?.p25?.p99Ms) <= TARGETS.maxP99AtQuarterMs && pq.every(sustained) },
    p99AtHalf: { target: `sustained, p99 ≤ ${TARGETS.maxP99AtHalfMs} ms at 50% of the ceiling`, value: m(summary.byServer.parley?.p50?.p99Ms), pass: ph.length > 0 && m(summary.byServer.parley?.p50?.p99Ms) <= TARGETS.maxP99AtHalfMs && ph.every(sustained) },
    cpuPerMsg: { target: `parley/raw server CPU per message at 25% ≤ ${TARGETS.maxCpuPerMsgRatio}`, value: m(summary.cpuPerMsgParleyRaw), pass: m(summary.cpuPerMsgParleyRaw) <= TARGETS.maxCpuPerMsgRatio },
    idleMemory: { target: `RSS and heap per idle session ≤ ${TARGETS.maxIdleBytesPerSession} B at ${opts.idleSessions}`, value: pc ? { rss: pc.rssBytesPerSession, heap: pc.heapBytesPerSession } : undefined, pass: !!pc && pc.idleSessions === opts.idleSessions && Math.max(pc.rssBytesPerSession, pc.heapBytesPerSession) <= TARGETS.maxIdleBytesPerSession },
    logins: { target: `logins ≥ ${TARGETS.minLoginsPerSec}/s on one core`, value: pc?.loginsPerSec, pass: !!pc && pc.loginsPerSec >= TARGETS.minLoginsPerSec },
  };
  const valid = phases.every((p) => p.valid);
  const partial = !opts.servers.includes('raw') || !opts.servers.includes('parley') || opts.idleSessions === 0 || opts.logins === 0 || opts.rounds === 0;
  const verdict = !valid ? 'INVALID' : partial ? 'PARTIAL' : Object.values(checks).every((c) => c.pass) ? 'PASS' : 'FAIL';

  printTables(phases, costs, ceiling);
  const line = (label: string, s: Spread | undefined, unit = '') => s && console.log(`  ${label}: ${show(s, unit)}`);
  console.log('');
  line('throughput parley/raw (saturation, per round)', summary.throughputParleyRaw);
  line('throughput parley/Socket.IO (saturation, per round)', summary.throughputParleySocketIo);
  line('server CPU per message parley/raw (25% phase)', summary.cpuPerMsgParleyRaw);
  line('server CPU per message parley/Socket.IO (25% phase)', summary.cpuPerMsgParleySocketIo);
  for (const s of order) for (const p of ['p25', 'p50'] as const) {
    const b = summary.byServer[s]?.[p];
    if (b?.p99Ms) console.log(`  ${s} at ${p === 'p25' ? 25 : 50}% of the ceiling (${Math.round(ceiling * (p === 'p25' ? 0.25 : 0.5))}/s): ${b.sustained ? 'sustained' : 'NOT sustained'}, p99 ${show(b.p99Ms, ' ms')}, ${show(b.cpuUsPerMsg!, ' µs/msg')}, ${show(b.allocBytesPerMsg!, ' B/msg')}`);
  }
  console.log('');
  for (const [k, c] of Object.entries(checks)) console.log(`  ${c.pass ? 'PASS' : 'FAIL'}  ${k}: ${typeof c.value === 'object' ? JSON.stringify(c.value) : c.value} (target ${c.target})`);
  for (const p of phases.filter((x) => x.phase === 'saturation' && x.serverCpuPct < 90)) {
    console.log(`  note: r${p.round} ${p.server} saturation used ${p.serverCpuPct}% of its core; something other than the server's CPU limited it`);
  }
  const genLimited = phases.filter((p) => p.generatorLimited);
  if (genLimited.length) console.log(`  note: the generator used ≥ 90% of its core in ${genLimited.map((p) => `r${p.round} ${p.server}/${p.phase}`).join(', ')}: there it, not the server, may have been the limit`);
  const noisy = phases.filter((p) => p.otherCpuPct.serverCore > 10 || p.otherCpuPct.loadCore > 10);
  if (noisy.length) console.log(`  warning: other processes took >10% of a benchmark core in ${noisy.length} of ${phases.length} phases; rerun on a quiet machine`);
  if (busy) console.log(`  warning: load average ${machine.loadavg[0]} on ${machine.cpus} cores at the start: a busy machine`);
  if (!valid) console.log(`  INVALID: the generator dispatched sends more than ${opts.maxDispatchLagMs} ms late (p99) or under 99% of the offered rate; the numbers measure the generator`);
  console.log(`\n  verdict: ${verdict}`);

  const result = {
    bench: 'core', verdict, startedAt: started.toISOString(), durationSec: Math.round((Date.now() - started.getTime()) / 1000),
    command: `npm run bench:core${argv.length ? ` -- ${argv.join(' ')}` : ''}`, build: fromLabel(), pinned: pin, busyMachine: busy, machine, options: opts, targets: TARGETS,
    methods: {
      cpu: 'server CPU ns over all its threads from /proc/<pid>/task/*/schedstat across the measured window, divided by messages delivered in the window',
      alloc: 'server heap bytes allocated from node --trace-gc: sum over collections in the window of (size before this GC − size after the previous GC), divided by messages delivered in the window',
      idle: 'process.memoryUsage() after global.gc() in the server (heap-probe.mjs) before and 2 s after opening the idle sessions; (after − before) / sessions',
      logins: 'sessions opened (connect, authenticate, sync; Socket.IO: namespace connect) per second with loginConcurrency in flight, fresh users, URLs/tokens made before timing',
    },
    ceilingPerSec: ceiling, summary, checks, disk, phases, sessionCosts: costs,
  };
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`  wrote ${path.relative(process.cwd(), opts.out)}`);
  return verdict === 'PASS' ? 0 : verdict === 'FAIL' ? 1 : 2;
}

function printTables(phases: Phase[], costs: SessionCosts[], ceiling: number): void {
  console.log(`\n  ceiling (raw relay, saturation, round 0): ${ceiling} msgs/s\n`);
  const head = ['round', 'server', 'phase', 'offered/s', 'delivered/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'undelivered', 'srv cpu', 'µs/msg', 'B/msg', 'gen cpu'];
  const rows = phases.map((p) => [String(p.round), p.server, p.phase, p.offeredPerSec === undefined ? 'closed' : String(p.offeredPerSec), String(p.deliveredPerSec),
    p.p50Ms.toFixed(2), p.p99Ms.toFixed(2), p.p999Ms.toFixed(2), p.maxMs.toFixed(2), String(p.sent - p.delivered), `${p.serverCpuPct}%`, String(p.cpuUsPerMsg), String(p.allocBytesPerMsg), `${p.loadCpuPct}%${p.generatorLimited ? '!' : ''}`]);
  table(head, rows, 3);
  if (!costs.length) return;
  console.log('');
  table(['server', 'idle sessions', 'RSS B/session', 'heap B/session', 'logins/s', 'srv cpu', 'gen cpu'],
    costs.map((c) => [c.server, String(c.idleSessions), String(c.rssBytesPerSession), String(c.heapBytesPerSession), String(c.loginsPerSec), `${c.loginServerCpuPct}%`, `${c.loginGenCpuPct}%`]), 1);
}

runPinned(import.meta.url, bench);
