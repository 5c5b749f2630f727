/**
 * An open-model 1:1 load in phases of different rates (e.g. 50%, then 200%, then 50% of a node's
 * capacity) with a ledger of every send: each ends acked, refused (by error code) or unanswered,
 * and each acked message must reach its recipient, or it is counted lost. Latency is from the
 * send's scheduled time to its ack, so a stalled node cannot hide its queue (no coordinated
 * omission). Results come per second (by scheduled time) and per phase.
 */
import { build, type Histogram } from 'hdr-histogram-js';
import type WebSocket from 'ws';
import { connectUser, type Target } from './loadgen.ts';

/** One phase of the load: `ratePerSec` sends spread evenly over `ms`. */
export interface Segment {
  name: string;
  ratePerSec: number;
  ms: number;
}

export interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** What happened to the sends scheduled in one second (and to acks that arrived in it). */
export interface SecondStats extends LatencySummary {
  /** Seconds since the load started. */
  t: number;
  segment: string;
  scheduled: number;
  acked: number;
  refused: Record<string, number>;
  /** Acks that arrived during this second, whenever their send was scheduled: throughput. */
  ackedArrived: number;
}

export interface SegmentStats extends LatencySummary {
  name: string;
  ratePerSec: number;
  scheduled: number;
  acked: number;
  refused: Record<string, number>;
  unanswered: number;
  /** Acks that arrived while the segment ran, per second. */
  ackedPerSec: number;
}

/** Every send's end: acked + refused + unanswered = scheduled; lost must be 0. */
export interface LedgerStats {
  scheduled: number;
  acked: number;
  refused: number;
  /** No ack and no error by the end of the grace period. */
  unanswered: number;
  /** Acked messages their recipient got. */
  delivered: number;
  /** Acked messages their recipient never got: the number that must be 0. */
  lost: number;
  /** Messages delivered although their send was refused or unanswered (possible for unanswered ones). */
  deliveredUnacked: number;
  duplicates: number;
  /** The first error frame of each code, verbatim (truncated). */
  firstErrors: Record<string, string>;
}

export interface PhasedResult {
  seconds: SecondStats[];
  segments: SegmentStats[];
  ledger: LedgerStats;
  /** How late the generator dispatched sends (p99, ms): above a few ms the run measured the generator. */
  dispatchLagP99Ms: number;
  /** performance.now() when the load started, to line up samples taken beside it. */
  startedAt: number;
}

const BODY = 'x'.repeat(64);
const CMID_KEY = Buffer.from('"cmid":"c');
const ID_KEY = Buffer.from('"id":');
const CODE_KEY = Buffer.from('"code":"');
const OP_AT = '{"op":"'.length;

/** The decimal number right after `key` in a frame, or -1 when the key is absent. */
function numberAfter(data: Buffer, key: Buffer): number {
  const at = data.indexOf(key);
  if (at < 0) return -1;
  let n = -1;
  for (let k = at + key.length; k < data.length; k++) {
    const c = data[k]!;
    if (c < 0x30 || c > 0x39) break;
    n = (n < 0 ? 0 : n * 10) + (c - 0x30);
  }
  return n;
}
const STATE_ACKED = 1;
const STATE_REFUSED = 2;

const histogram = (): Histogram => build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
const summary = (h: Histogram): LatencySummary => {
  const ms = (us: number) => Math.round(us) / 1000;
  return { p50Ms: ms(h.getValueAtPercentile(50)), p99Ms: ms(h.getValueAtPercentile(99)), maxMs: ms(h.maxValue) };
};

interface Conn {
  ws: WebSocket;
  index: number;
  user: string;
  peer: string;
}

export class PhasedLoad {
  readonly #conns: Conn[] = [];

  private constructor() {}

  /** Connects `pairs` pairs of users named `<prefix>-<i>`; each user sends to its peer. */
  static async connect(target: Target, pairs: number, prefix: string): Promise<PhasedLoad> {
    const load = new PhasedLoad();
    const users = Array.from({ length: pairs * 2 }, (_, i) => `${prefix}-${i}`);
    const sockets = await Promise.all(users.map((u) => connectUser(target, u)));
    sockets.forEach((ws, i) => load.#conns.push({ ws, index: i, user: users[i]!, peer: users[i ^ 1]! }));
    return load;
  }

  get connections(): number {
    return this.#conns.length;
  }

  /** Runs the segments back to back, then waits up to graceMs for answers and deliveries. */
  async run(segments: readonly Segment[], graceMs: number): Promise<PhasedResult> {
    const conns = this.#conns;
    // Sends are numbered in schedule order; the cmid `c<n>` and the request id carry the number.
    const bounds: { from: number; to: number; startMs: number; interval: number }[] = [];
    let total = 0;
    let offset = 0;
    for (const s of segments) {
      const n = Math.floor((s.ratePerSec * s.ms) / 1000);
      bounds.push({ from: total, to: total + n, startMs: offset, interval: 1000 / s.ratePerSec });
      total += n;
      offset += s.ms;
    }
    const intended = new Float64Array(total);
    const state = new Uint8Array(total);
    const delivered = new Uint8Array(total);
    const sender = new Uint32Array(total);
    const refusedCode: (string | undefined)[] = [];
    const firstErrors: Record<string, string> = {};
    const seconds = Math.ceil(offset / 1000) + 1;
    const perSecond = Array.from({ length: seconds }, () => ({ h: histogram(), acked: 0, arrived: 0, refused: {} as Record<string, number> }));
    const perSegment = segments.map(() => histogram());
    const lag = histogram();
    const segmentOf = (i: number) => { let s = 0; while (i >= bounds[s]!.to) s++; return s; };
    let duplicates = 0;
    let deliveredUnacked = 0;
    let answered = 0;
    let deliveredAcked = 0;
    let ackedTotal = 0;
    const start = performance.now() + 5;
    const secondOf = (t: number) => Math.min(seconds - 1, Math.max(0, Math.floor((t - start) / 1000)));

    const indexAfterCmid = (data: Buffer): number => {
      const n = numberAfter(data, CMID_KEY);
      return n < total ? n : -1;
    };

    for (const c of conns) {
      c.ws.on('message', (data: Buffer) => {
        const op = data[OP_AT];
        const now = performance.now();
        if (op === 0x61 /* a: ack */) {
          const i = indexAfterCmid(data);
          if (i < 0 || state[i] !== 0 || sender[i] !== c.index) return;
          state[i] = STATE_ACKED;
          answered++;
          ackedTotal++;
          if (delivered[i]) deliveredAcked++;
          const us = Math.max(1, Math.round((now - intended[i]!) * 1000));
          const sec = perSecond[secondOf(intended[i]!)]!;
          sec.h.recordValue(us);
          sec.acked++;
          perSecond[secondOf(now)]!.arrived++;
          perSegment[segmentOf(i)]!.recordValue(us);
        } else if (op === 0x6d /* m: msg */) {
          const i = indexAfterCmid(data);
          // Only a peer's message to this user counts (its own message coming back is not a delivery).
          if (i < 0 || (sender[i]! ^ 1) !== c.index) return;
          if (delivered[i]) { duplicates++; return; }
          delivered[i] = 1;
          if (state[i] === STATE_ACKED) deliveredAcked++;
        } else if (op === 0x65 /* e: error */) {
          // Refusals can outnumber acks several times over: read the id and code without a full parse.
          const i = numberAfter(data, ID_KEY);
          const at = data.indexOf(CODE_KEY);
          const code = at < 0 ? 'unknown' : data.toString('latin1', at + CODE_KEY.length, data.indexOf(0x22, at + CODE_KEY.length));
          firstErrors[code] ??= data.toString().slice(0, 300);
          if (i < 0 || i >= total || state[i] !== 0) return;
          state[i] = STATE_REFUSED;
          refusedCode[i] = code;
          answered++;
          const sec = perSecond[secondOf(intended[i]!)]!;
          sec.refused[code] = (sec.refused[code] ?? 0) + 1;
        }
      });
    }

    let j = 0;
    await new Promise<void>((resolve) => {
      let s = 0;
      const tick = () => {
        const now = performance.now();
        while (s < bounds.length && j >= bounds[s]!.to) s++;
        if (s < bounds.length) {
          const b = bounds[s]!;
          const dueOf = (k: number) => start + b.startMs + (k - b.from) * b.interval;
          if (dueOf(j) <= now) lag.recordValue(Math.max(1, Math.round((now - dueOf(j)) * 1000)));
          while (j < b.to && dueOf(j) <= now) {
            const due = dueOf(j);
            const c = conns[j % conns.length]!;
            intended[j] = due;
            sender[j] = c.index;
            c.ws.send(`{"op":"send","id":${j},"to":"${c.peer}","cmid":"c${j}","body":"${BODY}"}`);
            j++;
          }
        }
        if (j < total) setTimeout(tick, 1);
        else resolve();
      };
      setTimeout(tick, 1);
    });

    const deadline = performance.now() + graceMs;
    while ((answered < total || deliveredAcked < ackedTotal) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));

    for (const c of conns) c.ws.removeAllListeners('message');
    const ledger: LedgerStats = { scheduled: total, acked: 0, refused: 0, unanswered: 0, delivered: 0, lost: 0, deliveredUnacked: 0, duplicates, firstErrors };
    const segStats: SegmentStats[] = segments.map((seg, k) => ({ name: seg.name, ratePerSec: seg.ratePerSec, scheduled: bounds[k]!.to - bounds[k]!.from, acked: 0, refused: {}, unanswered: 0, ackedPerSec: 0, ...summary(perSegment[k]!) }));
    for (let i = 0; i < total; i++) {
      const seg = segStats[segmentOf(i)]!;
      if (state[i] === STATE_ACKED) {
        ledger.acked++;
        seg.acked++;
        if (delivered[i]) ledger.delivered++; else ledger.lost++;
      } else {
        if (delivered[i]) deliveredUnacked++;
        if (state[i] === STATE_REFUSED) {
          ledger.refused++;
          const code = refusedCode[i]!;
          seg.refused[code] = (seg.refused[code] ?? 0) + 1;
        } else {
          ledger.unanswered++;
          seg.unanswered++;
        }
      }
    }
    ledger.deliveredUnacked = deliveredUnacked;
    segStats.forEach((seg, k) => {
      const b = bounds[k]!;
      const from = Math.floor(b.startMs / 1000);
      const to = Math.floor((b.startMs + segments[k]!.ms) / 1000);
      let arrived = 0;
      for (let t = from; t < to; t++) arrived += perSecond[t]!.arrived;
      seg.ackedPerSec = Math.round(arrived / Math.max(1, to - from));
    });
    const secStats: SecondStats[] = perSecond.slice(0, seconds - 1).map((p, t) => {
      const k = bounds.findIndex((b, n) => t * 1000 >= b.startMs && t * 1000 < b.startMs + segments[n]!.ms);
      return { t, segment: segments[k < 0 ? segments.length - 1 : k]!.name, scheduled: 0, acked: p.acked, refused: p.refused, ackedArrived: p.arrived, ...summary(p.h) };
    });
    for (let i = 0; i < total; i++) secStats[Math.min(secStats.length - 1, secondOf(intended[i]!))]!.scheduled++;
    return { seconds: secStats, segments: segStats, ledger, dispatchLagP99Ms: summary(lag).p99Ms, startedAt: start };
  }

  async close(): Promise<void> {
    await Promise.all(this.#conns.map((c) => new Promise<void>((resolve) => {
      if (c.ws.readyState === c.ws.CLOSED) return resolve();
      c.ws.once('close', () => resolve());
      c.ws.close();
      setTimeout(() => { c.ws.terminate(); resolve(); }, 2000).unref();
    })));
  }
}
