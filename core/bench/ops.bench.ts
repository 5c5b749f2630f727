/**
 * What operability costs on the hot path, as ratios against a baseline measured in the same run:
 *   1. a frame's bookkeeping (SessionProbe with the live registry, debug off) against a probe with
 *      no operability layer (NOOP meter);
 *   2. the batched fan-out (canary) against the control fan-out, for the same bus events and sessions.
 * Runs alternate baseline and candidate rounds; the median of the rounds is reported.
 *
 *   npm run bench:ops
 */
import pino from 'pino';
import type { BusEvent } from '../bus/types.ts';
import { DebugLog, type DebugSlot } from '../ops/debug/debug.ts';
import { Fanout } from '../chat/fanout.ts';
import { Hub, type HubSession } from '../chat/hub.ts';
import { NOOP_METER } from '../metrics.ts';
import { Metrics } from '../ops/registry.ts';
import { SessionProbe, type ProbeOps } from '../edge/probe.ts';
import type { Message } from '../protocol.ts';

const ROUNDS = 7;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function timeAsync(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function probeBench(): void {
  const metrics = new Metrics({ runtime: false });
  const silent = pino({ level: 'silent' });
  const ops: ProbeOps = { metrics, debug: new DebugLog({ log: silent, sink: silent }), sessionStarted() {} };
  const live = new SessionProbe(ops, 's1', 'alice', Date.now() + 3_600_000);
  const off = { on: false } as DebugSlot;
  const bare = new SessionProbe({ metrics: NOOP_METER, debug: { attach: () => off, detach() {} }, sessionStarted() {} }, 's2', 'bob', Date.now() + 3_600_000);
  const frameIn = '{"op":"send","id":7,"chat":"d:alice:bob","cmid":"c1","body":"hello"}';
  const frameOut = '{"op":"msg","chat":"d:alice:bob","seq":7,"from":"alice","cmid":"c1","body":"hello","ts":1700000000000}';
  const N = 200_000;
  const run = (p: SessionProbe) => () => { for (let i = 0; i < N; i++) { p.in(frameIn, 'send'); p.out(frameOut); } };
  const base: number[] = [];
  const cand: number[] = [];
  run(bare)(); run(live)();
  for (let r = 0; r < ROUNDS; r++) {
    base.push(time(run(bare)));
    cand.push(time(run(live)));
  }
  const b = median(base), c = median(cand);
  console.log(`probe: ${N} frames in + ${N} out; no ops layer ${b.toFixed(1)} ms, live registry ${c.toFixed(1)} ms; ` +
    `ratio ${(c / b).toFixed(2)}; cost ${(((c - b) * 1e6) / (2 * N)).toFixed(0)} ns per frame`);
}

class Sink implements HubSession {
  delivered = 0;
  constructor(readonly id: string, readonly user: string) {}
  deliver(_m: Message, _text: string): void { this.delivered++; }
  push(): void {}
  close(): void {}
  heartbeat(): boolean { return true; }
}

async function fanoutBench(): Promise<void> {
  const USERS = 200, EVENTS = 20_000, ROOM = 50;
  const hub = new Hub();
  for (let u = 0; u < USERS; u++) hub.add(new Sink(`s${u}`, `u${u}`));
  const events: BusEvent[] = Array.from({ length: EVENTS }, (_, i) => ({
    kind: 'msg',
    message: { chat: `r:room${i % 40}`, seq: i + 1, from: `u${i % USERS}`, cmid: `c${i}`, body: 'hello world', ts: Date.now() },
    to: Array.from({ length: ROOM }, (_, k) => `u${(i + k) % USERS}`),
  }));
  const run = (variant: 'control' | 'batched') => async () => {
    const f = new Fanout(hub, NOOP_METER);
    f.variant = variant;
    // Events arrive in bursts of 100 per event-loop turn, as a busy bus delivers them.
    for (let i = 0; i < EVENTS; i += 100) {
      for (let k = i; k < i + 100; k++) f.dispatch(events[k]!);
      await new Promise<void>((r) => setImmediate(r));
    }
    await new Promise<void>((r) => setImmediate(r));
  };
  await run('control')(); await run('batched')();
  const base: number[] = [];
  const cand: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    base.push(await timeAsync(run('control')));
    cand.push(await timeAsync(run('batched')));
  }
  const b = median(base), c = median(cand);
  console.log(`fan-out: ${EVENTS} events x ${ROOM} recipients; control ${b.toFixed(1)} ms, batched ${c.toFixed(1)} ms; ratio batched/control ${(c / b).toFixed(2)}`);
}

probeBench();
await fanoutBench();
