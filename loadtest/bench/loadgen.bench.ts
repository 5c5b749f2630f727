/**
 * npm run bench:loadgen — what one generator process can do against a raw ws sink (another
 * process): simulated users held and heap per user, and messages per second scheduled and
 * measured versus a bare `ws` send loop in the same run. Prints ratios; docs/benchmarks.md keeps them.
 *
 *   USERS=15000 SECONDS=5 CONNS=100 npm run bench:loadgen
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { now } from '../clock.ts';
import { resolveOptions } from '../options.ts';
import type { WorkerMessage } from '../messages.ts';
import { Runtime } from '../runtime.ts';
import { defineScenario } from '../api.ts';

const USERS = Number(process.env.USERS ?? 15_000);
const SECONDS = Number(process.env.SECONDS ?? 5);
const CONNS = Number(process.env.CONNS ?? 100);
const WINDOW = 16;
const SECRET = 'bench-secret-that-is-at-least-32-characters-long';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => { throw new Error('run with node --expose-gc (npm run bench:loadgen does)'); });
const settle = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 50)); } };

async function startSink(): Promise<{ url: string; stop: () => void }> {
  const child = fork(path.join(HERE, 'sink.ts'), [], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve((m as { port: number }).port)));
  return { url: `ws://127.0.0.1:${port}/ws`, stop: () => child.kill() };
}

/** A runtime in this process, its messages to the parent collected. */
function runtime(url: string, flags: Record<string, string>, users: number): { rt: Runtime; messages: WorkerMessage[] } {
  const messages: WorkerMessage[] = [];
  const options = resolveOptions({}, new Map(Object.entries({ target: url, users: String(users), workers: '1', 'user-prefix': 'b', ...flags })));
  const rt: Runtime = new Runtime({ options, tokens: { kind: 'secret', secret: SECRET }, worker: 0, workers: 1 }, (m) => {
    messages.push(m);
    if (m.type === 'barrier' && m.reached >= users) rt.release(m.name, now());
  });
  return { rt, messages };
}

async function usersHeld(url: string): Promise<void> {
  await settle();
  const before = process.memoryUsage();
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  let connected = 0;
  let failed = 0;
  const scenario = defineScenario({
    name: 'hold', story: 'connect and hold', options: {},
    async user(u) {
      try { await u.connect(); connected++; } catch { failed++; return; }
      await hold;
    },
  });
  const { rt } = runtime(url, { 'arrival-rate': '3000', 'group-size': '1', duration: '1h', drain: '0ms', slice: '5s' }, USERS);
  await rt.prepare();
  const t0 = now();
  const done = rt.run(scenario, now());
  while (connected + failed < USERS) await new Promise((r) => setTimeout(r, 100));
  const connectSec = (now() - t0) / 1000;
  await settle();
  const after = process.memoryUsage();
  const heapPerUser = (after.heapUsed - before.heapUsed) / connected;
  const rssPerUser = (after.rss - before.rss) / connected;
  console.log(`users held by one process: ${connected} connected, ${failed} failed, in ${connectSec.toFixed(1)} s`);
  console.log(`  heap per user: ${(heapPerUser / 1024).toFixed(2)} KB (target < 10 KB)   rss per user: ${(rssPerUser / 1024).toFixed(2)} KB (includes socket buffers)`);
  release();
  rt.abort();
  await done;
}

/** Bare loop: CONNS sockets, WINDOW frames in flight each, resend on every ack; acks per second. */
async function bareLoop(url: string): Promise<{ rate: number; perCpuSec: number }> {
  const frame = (n: number) => `{"op":"send","id":"${n}","to":"x","cmid":"${n}","body":"{\\"s\\":1,\\"q\\":${n},\\"t\\":1.000,\\"a\\":1.000}"}`;
  let acks = 0;
  let n = 0;
  let running = true;
  const sockets = await Promise.all(Array.from({ length: CONNS }, () => new Promise<WebSocket>((resolve) => {
    const ws = new WebSocket(url, 'parley.v1', { perMessageDeflate: false });
    ws.on('message', (d) => {
      if (d.toString().startsWith('{"op":"ack"')) { acks++; if (running) ws.send(frame(n++)); } else resolve(ws);
    });
  })));
  const t0 = now();
  const cpu0 = process.cpuUsage();
  for (const ws of sockets) for (let i = 0; i < WINDOW; i++) ws.send(frame(n++));
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  running = false;
  const cpu = process.cpuUsage(cpu0);
  const rate = acks / ((now() - t0) / 1000);
  for (const ws of sockets) ws.terminate();
  return { rate, perCpuSec: acks / ((cpu.user + cpu.system) / 1e6) };
}

/** The generator at a target rate over CONNS users: acked sends per second, measured and on time. */
async function generator(url: string, targetPerSec: number): Promise<{ rate: number; perCpuSec: number; late: number; lagP99: number; scheduled: number }> {
  // CPU is read over the steady phase only (after every user connected, until the schedule ends).
  let cpu0: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage | undefined;
  let conversing = 0;
  const scenario = defineScenario({
    name: 'rate', story: 'fixed-rate sends', options: {},
    async user(u, run) {
      await u.connect();
      await run.barrier('connected');
      cpu0 ??= process.cpuUsage();
      conversing++;
      await run.converse(u);
      if (--conversing === 0) cpu = process.cpuUsage(cpu0);
    },
  });
  const perUser = targetPerSec / CONNS;
  const { rt, messages } = runtime(url, { 'arrival-rate': '0', 'group-size': '2', rate: String(perUser), schedule: 'fixed', window: String(WINDOW), duration: `${SECONDS}s`, drain: '1s', 'late-tolerance': '10ms' }, CONNS);
  await rt.prepare();
  await rt.run(scenario, now());
  if (!cpu) throw new Error('the steady phase did not end');
  const done = messages.find((m) => m.type === 'done');
  if (done?.type !== 'done') throw new Error('generator did not finish');
  const t = done.totals;
  return { rate: (t.acked ?? 0) / SECONDS, perCpuSec: (t.acked ?? 0) / ((cpu.user + cpu.system) / 1e6), late: t.late_sends ?? 0, lagP99: done.health.scheduleLagP99Ms, scheduled: t.scheduled ?? 0 };
}

const sink = await startSink();
try {
  console.log(`bench:loadgen  node ${process.version}  users=${USERS}  seconds=${SECONDS}  conns=${CONNS}  window=${WINDOW}`);
  // Throughput first (a fresh heap), interleaved bare/generator twice so drifting machine load hits both.
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let round = 1; round <= 2; round++) {
    const bare = await bareLoop(sink.url);
    console.log(`round ${round}: bare ws send loop: ${bare.rate.toFixed(0)} acked msgs/s over ${CONNS} sockets; ${bare.perCpuSec.toFixed(0)} msgs per client CPU-second`);
    // Ask the generator for the bare loop's rate; it schedules, stamps and measures every send.
    const g = await generator(sink.url, bare.rate);
    console.log(`round ${round}: generator at ${bare.rate.toFixed(0)}/s: ${g.rate.toFixed(0)} acked msgs/s measured, ${g.late} of ${g.scheduled} sends late, schedule lag p99 ${g.lagP99} ms; ${g.perCpuSec.toFixed(0)} msgs per client CPU-second`);
    ratios.push(g.rate / bare.rate);
    cpuRatios.push(g.perCpuSec / bare.perCpuSec);
  }
  const pct = (xs: number[]) => xs.map((x) => `${(x * 100).toFixed(1)}%`).join(', ');
  console.log(`ratio generator / bare loop: throughput ${pct(ratios)}; per CPU-second ${pct(cpuRatios)} (target >= 70%)`);
  await usersHeld(sink.url);
} finally {
  sink.stop();
}
process.exit(0);
