/**
 * A lean 1:1 load generator for bench:core: raw `ws` sockets (not the full client library) so one
 * core can outrun the server. Users come in pairs and each sends to its peer, or (parley only) in
 * rooms and each sends to its room. The send frame carries its intended send time in the body;
 * every receiver reads it back without a full parse.
 *
 * Two shapes: `open` schedules sends on a clock at a fixed total rate (one timer tick dispatches
 * every send that is due; latency counts from the scheduled time, so a stalled server cannot hide
 * it) and `closed` keeps a fixed number of sends outstanding per user to find saturation.
 */
import { build } from 'hdr-histogram-js';
import WebSocket from 'ws';

/** How to reach one server under test. */
export interface Target {
  /** The WebSocket URL for a user. */
  url(user: string): Promise<string>;
  protocol: string;
  /** A frame sent right after connecting (parley: `{"op":"sync"}`), and the op that answers it. */
  hello?: { frame: string; replyOp: string };
  /**
   * The framing: parley's JSON frames (default; the raw relay speaks them too) or Socket.IO v5 over
   * Engine.IO v4 (`42<id>["send",{...}]` with an ack id, `43<id>[...]` acks, `42["msg",{...}]`).
   */
  wire?: 'parley' | 'socketio';
}

export interface RunStats {
  /** Sends issued inside the measured window. */
  sent: number;
  /** Deliveries of those to their recipients (one per send for pairs, room size - 1 for rooms) before the grace period ended. */
  delivered: number;
  /** Recipients per send: 1 for pairs, room size - 1 for rooms. */
  fanout: number;
  /** Every ack of the run, warm-up and grace included. */
  acked: number;
  /** Delivered msgs/s counted by receive time inside the measured window. */
  deliveredPerSec: number;
  /** Offered sends/s actually issued inside the window (open) or achieved acks/s (closed). */
  issuedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** How late the generator dispatched sends (p99, ms): above a few ms the run is invalid. */
  dispatchLagP99Ms: number;
  errors: number;
  /** msg frames of the receiver's own messages (see Meter.echoes). */
  echoes: number;
  firstError?: string;
  windowMs: number;
}

interface Conn {
  ws: WebSocket;
  user: string;
  /** Where the user's sends go, as the send frame's field: `"to":"<peer>"` or `"chat":"<room>"`. */
  dest: string;
  /** Sends awaiting their ack (closed loop). */
  outstanding: number;
  /** `"from":"<user>"`: a msg frame with it is the user's own message coming back. */
  fromSelf: Buffer;
}

const BODY_PAD = 'x'.repeat(64);
const BODY_KEY = Buffer.from('"body":"');
const OP_AT = '{"op":"'.length;

/** Measures one run; created per run so histograms and counters start clean. */
class Meter {
  readonly latency = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  readonly lag = build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  from = Infinity;
  to = Infinity;
  sent = 0;
  delivered = 0;
  deliveredInWindow = 0;
  acked = 0;
  errors = 0;
  /** msg frames carrying the receiver's own message (resent by a catch-up read): not deliveries. */
  echoes = 0;
  firstError: string | undefined;

  inWindow(t: number): boolean {
    return t >= this.from && t < this.to;
  }
}

/**
 * Opens one user's socket and resolves once it is ready (after the target's hello is answered).
 * Frames that arrive before the caller attaches its own listener are only the hello's reply.
 */
export async function connectUser(target: Target, user: string): Promise<WebSocket> {
  if (target.wire === 'socketio') return connectSocketIo(target, user);
  // A zero mask lets ws skip masking: the generator's core is the scarce one, and this is loopback.
  const ws = new WebSocket(await target.url(user), target.protocol, { perMessageDeflate: false, generateMask: (mask) => void mask.fill(0) });
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`${user}: upgrade refused with HTTP ${res.statusCode}`)));
    ws.once('open', () => {
      if (!target.hello) return resolve();
      const want = `{"op":"${target.hello.replyOp}"`;
      const onHello = (data: Buffer) => {
        if (!data.toString('latin1').startsWith(want)) return;
        ws.off('message', onHello);
        resolve();
      };
      ws.on('message', onHello);
      ws.send(target.hello.frame);
    });
  });
  return ws;
}

/**
 * Engine.IO v4 sends its open packet (`0{"sid":...}`) first; the client then connects to the main
 * namespace (`40`), which the server confirms with `40{"sid":...}`. Pings (`2`) are answered by the
 * generator's frame handler (`3`).
 */
async function connectSocketIo(target: Target, user: string): Promise<WebSocket> {
  const ws = new WebSocket(await target.url(user), { perMessageDeflate: false, generateMask: (mask) => void mask.fill(0) });
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`${user}: upgrade refused with HTTP ${res.statusCode}`)));
    // Answered for the socket's life, idle or not: a ping left unanswered closes it after 45 s.
    ws.on('message', (data: Buffer) => { if (data.length === 1 && data[0] === 0x32 /* 2: ping */) ws.send('3'); });
    const onFrame = (data: Buffer) => {
      if (data[0] === 0x30 /* 0: open */) return ws.send('40');
      if (data[0] === 0x34 && data[1] === 0x30 /* 40: connected */) {
        ws.off('message', onFrame);
        resolve();
      }
    };
    ws.on('message', onFrame);
  });
  return ws;
}

/** What a received frame is, whatever the wire. */
const enum Kind { Msg, Ack, Error, Other }

function parleyKind(data: Buffer): Kind {
  const op = data[OP_AT];
  return op === 0x6d /* m: msg */ ? Kind.Msg : op === 0x61 /* a: ack */ ? Kind.Ack : op === 0x65 /* e: error */ ? Kind.Error : Kind.Other;
}

function socketIoKind(data: Buffer): Kind {
  if (data[0] !== 0x34 /* 4: message */) return Kind.Other;
  // 42["msg",...] events (the server emits nothing else), 43<id>[...] acks.
  return data[1] === 0x32 ? Kind.Msg : data[1] === 0x33 ? Kind.Ack : Kind.Other;
}

export class LoadGen {
  readonly #conns: Conn[] = [];
  readonly #byUser = new Map<string, Conn>();
  #meter = new Meter();
  #cmid = 0;
  /** Closed loop: called on each ack or error to issue the next send. */
  #onAck: ((c: Conn) => void) | undefined;
  #fanout = 1;
  readonly #socketIo: boolean;
  readonly #kind: (data: Buffer) => Kind;

  private constructor(target: Target) {
    this.#socketIo = target.wire === 'socketio';
    this.#kind = this.#socketIo ? socketIoKind : parleyKind;
  }

  /** Connects `pairs` pairs of users named `<prefix>-<i>` and waits until every socket is ready. */
  static async connect(target: Target, pairs: number, prefix: string): Promise<LoadGen> {
    const gen = new LoadGen(target);
    const users = Array.from({ length: pairs * 2 }, (_, i) => `${prefix}-${i}`);
    await Promise.all(users.map(async (user, i) => {
      const ws = await connectUser(target, user);
      gen.#add({ ws, user, dest: `"to":"${users[i ^ 1]!}"`, outstanding: 0, fromSelf: Buffer.from(`"from":"${user}"`) });
    }));
    return gen;
  }

  /**
   * Connects `rooms` rooms of `size` users named `<prefix>-<room>-<i>` (parley's wire only); the
   * first member of each creates it with the others. Every send reaches size - 1 members.
   */
  static async connectRooms(target: Target, rooms: number, size: number, prefix: string): Promise<LoadGen> {
    if (target.wire === 'socketio') throw new Error('rooms are a parley workload');
    if (size < 2) throw new Error(`a room needs at least 2 members, got ${size}`);
    const gen = new LoadGen(target);
    gen.#fanout = size - 1;
    await Promise.all(Array.from({ length: rooms }, async (_, r) => {
      const users = Array.from({ length: size }, (_, i) => `${prefix}-${r}-${i}`);
      const sockets = await Promise.all(users.map((u) => connectUser(target, u)));
      const owner = sockets[0]!;
      const chat = await new Promise<string>((resolve, reject) => {
        const on = (data: Buffer) => {
          const f = JSON.parse(data.toString()) as { id?: string; op: string; result?: { chat: string }; code?: string };
          if (f.id !== 'room') return;
          owner.off('message', on);
          if (f.op === 'reply' && f.result) resolve(f.result.chat);
          else reject(new Error(`room.create failed: ${data.toString().slice(0, 200)}`));
        };
        owner.on('message', on);
        owner.send(JSON.stringify({ op: 'room.create', id: 'room', name: `${prefix}-${r}`, members: users.slice(1) }));
      });
      users.forEach((user, i) => gen.#add({ ws: sockets[i]!, user, dest: `"chat":"${chat}"`, outstanding: 0, fromSelf: Buffer.from(`"from":"${user}"`) }));
    }));
    return gen;
  }

  #add(conn: Conn): void {
    this.#conns.push(conn);
    this.#byUser.set(conn.user, conn);
    conn.ws.on('message', (data: Buffer) => this.#onFrame(conn, data));
  }

  get connections(): number {
    return this.#conns.length;
  }

  #send(c: Conn, intended: number): void {
    const m = this.#meter;
    const stamp = intended.toFixed(3);
    // The receiver sees the rounded stamp: sample by it too, so both sides agree on the window.
    if (m.inWindow(parseFloat(stamp))) m.sent++;
    c.outstanding++;
    const id = ++this.#cmid;
    if (this.#socketIo) c.ws.send(`42${id}["send",{${c.dest},"cmid":"c${id}","body":"${stamp}|${BODY_PAD}"}]`);
    else c.ws.send(`{"op":"send",${c.dest},"cmid":"c${id}","body":"${stamp}|${BODY_PAD}"}`);
  }

  #onFrame(c: Conn, data: Buffer): void {
    const m = this.#meter;
    const kind = this.#kind(data);
    if (kind === Kind.Msg) {
      if (data.indexOf(c.fromSelf) >= 0) {
        m.echoes++;
        return;
      }
      const at = data.indexOf(BODY_KEY);
      const intended = parseFloat(data.toString('latin1', at + BODY_KEY.length, at + BODY_KEY.length + 24));
      const now = performance.now();
      if (m.inWindow(now)) m.deliveredInWindow++;
      if (m.inWindow(intended)) {
        m.delivered++;
        m.latency.recordValue(Math.max(1, Math.round((now - intended) * 1000)));
      }
      return;
    }
    if (kind === Kind.Ack) {
      c.outstanding--;
      m.acked++;
      this.#onAck?.(c);
      return;
    }
    if (kind === Kind.Error) {
      c.outstanding--;
      m.errors++;
      m.firstError ??= data.toString().slice(0, 300);
      this.#onAck?.(c);
    }
  }

  /**
   * Open model: `ratePerSec` sends in total, spread evenly over time and round-robin over users.
   * Samples sends scheduled in [warmupMs, warmupMs + measureMs); waits up to graceMs for them.
   */
  async open(ratePerSec: number, warmupMs: number, measureMs: number, graceMs: number): Promise<RunStats> {
    const m = (this.#meter = new Meter());
    const interval = 1000 / ratePerSec;
    const start = performance.now() + 5;
    m.from = start + warmupMs;
    m.to = m.from + measureMs;
    const total = Math.floor((warmupMs + measureMs) / interval);
    const conns = this.#conns;
    let j = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        let due = start + j * interval;
        if (due <= now && j < total) m.lag.recordValue(Math.max(1, Math.round((now - due) * 1000)));
        while (due <= now && j < total) {
          this.#send(conns[j % conns.length]!, due);
          due = start + ++j * interval;
        }
        if (j < total) setTimeout(tick, 1);
        else resolve();
      };
      setTimeout(tick, 1);
    });
    await this.#settle(m, graceMs);
    return this.#stats(m, m.sent / (measureMs / 1000));
  }

  /** Closed loop: every user keeps `window` sends outstanding; measures what the server sustains. */
  async closed(window: number, warmupMs: number, measureMs: number, graceMs: number): Promise<RunStats> {
    const m = (this.#meter = new Meter());
    const start = performance.now();
    m.from = start + warmupMs;
    m.to = m.from + measureMs;
    let acksAtFrom = -1;
    let acksAtTo = -1;
    let stopped = false;
    this.#onAck = (c) => {
      const now = performance.now();
      if (acksAtFrom < 0 && now >= m.from) acksAtFrom = m.acked;
      if (now >= m.to) {
        if (acksAtTo < 0) acksAtTo = m.acked;
        stopped = true;
        return;
      }
      if (!stopped) this.#send(c, now);
    };
    for (const c of this.#conns) for (let i = 0; i < window; i++) this.#send(c, performance.now());
    await new Promise((r) => setTimeout(r, warmupMs + measureMs));
    stopped = true;
    await this.#settle(m, graceMs);
    this.#onAck = undefined;
    const acks = (acksAtTo < 0 ? m.acked : acksAtTo) - Math.max(0, acksAtFrom);
    return this.#stats(m, acks / (measureMs / 1000));
  }

  /** Waits until every sampled send was delivered and every send acked, or graceMs passed. */
  async #settle(m: Meter, graceMs: number): Promise<void> {
    const deadline = performance.now() + graceMs;
    const busy = () => m.delivered < m.sent * this.#fanout || this.#conns.some((c) => c.outstanding > 0);
    while (busy() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  #stats(m: Meter, issuedPerSec: number): RunStats {
    const windowMs = m.to - m.from;
    const ms = (us: number) => Math.round(us) / 1000;
    const s: RunStats = {
      sent: m.sent,
      delivered: m.delivered,
      fanout: this.#fanout,
      acked: m.acked,
      deliveredPerSec: Math.round(m.deliveredInWindow / (windowMs / 1000)),
      issuedPerSec: Math.round(issuedPerSec),
      p50Ms: ms(m.latency.getValueAtPercentile(50)),
      p99Ms: ms(m.latency.getValueAtPercentile(99)),
      p999Ms: ms(m.latency.getValueAtPercentile(99.9)),
      maxMs: ms(m.latency.maxValue),
      dispatchLagP99Ms: ms(m.lag.getValueAtPercentile(99)),
      errors: m.errors,
      echoes: m.echoes,
      windowMs: Math.round(windowMs),
    };
    if (m.firstError) s.firstError = m.firstError;
    return s;
  }

  async close(): Promise<void> {
    await Promise.all(this.#conns.map((c) => new Promise<void>((resolve) => {
      if (c.ws.readyState === WebSocket.CLOSED) return resolve();
      c.ws.once('close', () => resolve());
      c.ws.close();
      setTimeout(() => { c.ws.terminate(); resolve(); }, 2000).unref();
    })));
  }
}
