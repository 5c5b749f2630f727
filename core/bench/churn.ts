/**
 * The soak's load: a day in the life of a small community, compressed. Pairs of friends message
 * each other, members of open rooms talk in them, people reconnect, change presence, type, and
 * drop into rooms and out again. Every message is on a ledger until each expected recipient got
 * it (a recipient who was offline gets it through its resume), so a message acked but never
 * delivered is counted lost however long the run.
 *
 * Sockets are raw `ws` with full JSON parsing (the rate is a fraction of capacity; realism of
 * the frames matters more here than the generator's cost). Each socket's listener is attached
 * before its sync, so messages a resume sends ahead of `synced` are counted too.
 */
import { build, type Histogram } from 'hdr-histogram-js';
import WebSocket from 'ws';
import { directChatId } from '../protocol.ts';
import type { Target } from './loadgen.ts';

export interface ChurnOptions {
  users: number;
  rooms: number;
  /** Members of each room who never leave it: the expected recipients of its messages. */
  roomMembers: number;
  /** Sends per second, 1:1 and room messages together. */
  ratePerSec: number;
  /** Share of sends that go to a room. */
  roomShare: number;
  reconnectsPerSec: number;
  presencePerSec: number;
  typingPerSec: number;
  /** Room joins per second by users outside a room's stable members (each leaves a few seconds later). */
  roomChurnPerSec: number;
}

export const CHURN_DEFAULTS: Readonly<Omit<ChurnOptions, 'ratePerSec'>> = Object.freeze({
  users: 200, rooms: 10, roomMembers: 6, roomShare: 0.1,
  reconnectsPerSec: 2, presencePerSec: 5, typingPerSec: 10, roomChurnPerSec: 2,
});

/** Counts since the last `take()`, and totals. */
export interface ChurnCounts {
  sent: number;
  acked: number;
  delivered: number;
  duplicates: number;
  reconnects: number;
  presence: number;
  typing: number;
  joins: number;
  leaves: number;
  /** Error frames by `<op>:<code>`. */
  errors: Record<string, number>;
  ackP50Ms: number;
  ackP99Ms: number;
  ackMaxMs: number;
  /** How late the generator dispatched sends (p99, ms): above a few ms it, not the node, set the pace. */
  dispatchLagP99Ms: number;
}

interface Rec {
  intended: number;
  acked: boolean;
  /** Users still to receive it. */
  expect: Set<number>;
}

interface User {
  index: number;
  name: string;
  ws: WebSocket | undefined;
  online: boolean;
  /** Set while a reconnect waits for the user's sends to be acked. */
  leaving: boolean;
  cursors: Map<string, number>;
  inflight: number;
  /** Rooms this user is a stable member of. */
  rooms: string[];
  /** Rooms this user dropped into and has not left yet (not picked again until it has). */
  visiting: Set<string>;
}

const histogram = (): Histogram => build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
const BODY = 'y'.repeat(48);

export class ChurnLoad {
  readonly #target: Target;
  readonly #o: ChurnOptions;
  readonly #users: User[];
  readonly #roomIds: string[] = [];
  /** Stable members of each room, by room id. */
  readonly #stable = new Map<string, number[]>();
  readonly #ledger = new Map<number, Rec>();
  readonly #requests = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #n = 0;
  #req = 0;
  #lat = histogram();
  #lag = histogram();
  #counts = ChurnLoad.#zero();
  readonly #totals = ChurnLoad.#zero();
  #timers: NodeJS.Timeout[] = [];
  #running = false;
  #lost = 0;
  #ackedTotal = 0;

  constructor(target: Target, o: ChurnOptions) {
    this.#target = target;
    this.#o = o;
    this.#users = Array.from({ length: o.users }, (_, i) => ({ index: i, name: `s-${i}`, ws: undefined, online: false, leaving: false, cursors: new Map(), inflight: 0, rooms: [], visiting: new Set() }));
  }

  static #zero(): Omit<ChurnCounts, 'ackP50Ms' | 'ackP99Ms' | 'ackMaxMs' | 'dispatchLagP99Ms'> {
    return { sent: 0, acked: 0, delivered: 0, duplicates: 0, reconnects: 0, presence: 0, typing: 0, joins: 0, leaves: 0, errors: {} };
  }

  /** Connects everyone, makes each pair friends, and creates the open rooms with their stable members. */
  async setup(): Promise<void> {
    await Promise.all(this.#users.map((u) => this.#connect(u)));
    await Promise.all(this.#users.filter((u) => u.index % 2 === 0).map(async (u) => {
      const peer = this.#users[u.index + 1];
      if (!peer) return;
      await this.#request(u, { op: 'friend.request', user: peer.name });
      await this.#request(peer, { op: 'friend.accept', user: u.name });
    }));
    for (let r = 0; r < this.#o.rooms; r++) {
      const members = Array.from({ length: this.#o.roomMembers }, (_, k) => (r * this.#o.roomMembers + k) % this.#users.length);
      const owner = this.#users[members[0]!]!;
      const res = await this.#request(owner, { op: 'room.create', name: `room ${r}`, members: members.slice(1).map((i) => this.#users[i]!.name), policy: 'open' }) as { chat: string };
      this.#roomIds.push(res.chat);
      this.#stable.set(res.chat, members);
      for (const i of members) this.#users[i]!.rooms.push(res.chat);
    }
  }

  #send(u: User, frame: Record<string, unknown>): void {
    if (u.ws?.readyState === WebSocket.OPEN) u.ws.send(JSON.stringify(frame));
  }

  #request(u: User, frame: Record<string, unknown>): Promise<unknown> {
    const id = `r${++this.#req}`;
    return new Promise((resolve, reject) => {
      this.#requests.set(id, { resolve, reject });
      this.#send(u, { ...frame, id });
    });
  }

  /** Opens the user's socket, listens before syncing from its cursors, resolves on `synced`. */
  #connect(u: User): Promise<void> {
    return new Promise((resolve, reject) => {
      void this.#target.url(u.name).then((url) => {
        const ws = new WebSocket(url, this.#target.protocol, { perMessageDeflate: false });
        u.ws = ws;
        ws.once('unexpected-response', (_req, res) => reject(new Error(`${u.name}: upgrade refused with HTTP ${res.statusCode}`)));
        ws.once('error', reject);
        ws.on('message', (data: Buffer) => {
          const f = JSON.parse(data.toString()) as Record<string, unknown> & { op: string };
          if (f.op === 'synced') { u.online = true; resolve(); return; }
          this.#onFrame(u, f);
        });
        ws.on('close', () => { u.online = false; });
        // Resume only chats the user stays in: a room it dropped into and left is not its to resume.
        const cursors = Object.fromEntries([...u.cursors].filter(([chat]) => chat.startsWith('d:') || u.rooms.includes(chat)));
        ws.once('open', () => ws.send(JSON.stringify({ op: 'sync', cursors })));
        setTimeout(() => reject(new Error(`${u.name}: no synced within 15 s`)), 15_000).unref();
      }, reject);
    });
  }

  #onFrame(u: User, f: Record<string, unknown> & { op: string }): void {
    const c = this.#counts;
    switch (f.op) {
      case 'msg': {
        const chat = f.chat as string;
        const seq = f.seq as number;
        const last = u.cursors.get(chat) ?? 0;
        if (seq > last) u.cursors.set(chat, seq);
        const cmid = f.cmid as string;
        const rec = cmid[0] === 'k' ? this.#ledger.get(Number(cmid.slice(1))) : undefined;
        if (rec?.expect.delete(u.index)) {
          c.delivered++;
          if (rec.acked && rec.expect.size === 0) this.#ledger.delete(Number(cmid.slice(1)));
        } else if (seq <= last && (chat.startsWith('d:') || u.rooms.includes(chat))) {
          c.duplicates++;
        }
        return;
      }
      case 'ack': {
        const n = Number((f.cmid as string).slice(1));
        u.inflight--;
        const rec = this.#ledger.get(n);
        if (!rec || rec.acked) return;
        rec.acked = true;
        c.acked++;
        this.#ackedTotal++;
        // The sender's own message is next in its chat (commit order): its cursor moves past it.
        const chat = f.chat as string;
        if ((u.cursors.get(chat) ?? 0) + 1 === (f.seq as number)) u.cursors.set(chat, f.seq as number);
        this.#lat.recordValue(Math.max(1, Math.round((performance.now() - rec.intended) * 1000)));
        if (rec.expect.size === 0) this.#ledger.delete(n);
        return;
      }
      case 'reply':
      case 'error': {
        const id = f.id as string | undefined;
        const pending = id === undefined ? undefined : this.#requests.get(id);
        if (f.op === 'error') {
          const key = `${id?.startsWith('k') ? 'send' : pending ? 'request' : 'push'}:${String(f.code)}`;
          c.errors[key] = (c.errors[key] ?? 0) + 1;
          if (id?.startsWith('k')) { u.inflight--; this.#ledger.delete(Number(id.slice(1))); }
        }
        if (pending) {
          this.#requests.delete(id!);
          if (f.op === 'reply') pending.resolve(f.result); else pending.reject(new Error(`${String(f.code)}: ${String(f.message)}`));
        }
        return;
      }
      default:
    }
  }

  /** One send, 1:1 to the user's friend or to one of its rooms. */
  #message(u: User, intended: number, toRoom: boolean): void {
    const n = ++this.#n;
    let frame: Record<string, unknown>;
    let expect: number[];
    if (toRoom && u.rooms.length) {
      const chat = u.rooms[n % u.rooms.length]!;
      frame = { op: 'send', id: `k${n}`, chat, cmid: `k${n}`, body: BODY };
      expect = this.#stable.get(chat)!.filter((i) => i !== u.index);
    } else {
      const peer = u.index ^ 1;
      if (peer >= this.#users.length) return;
      frame = { op: 'send', id: `k${n}`, to: this.#users[peer]!.name, cmid: `k${n}`, body: BODY };
      expect = [peer];
    }
    this.#ledger.set(n, { intended, acked: false, expect: new Set(expect) });
    u.inflight++;
    this.#counts.sent++;
    this.#send(u, frame);
  }

  /** Starts the open-model message schedule and the churn timers; runs until stop(). */
  start(): void {
    this.#running = true;
    const o = this.#o;
    const interval = 1000 / o.ratePerSec;
    const start = performance.now() + 5;
    let j = 0;
    const roomEvery = o.roomShare > 0 ? Math.round(1 / o.roomShare) : 0;
    const tick = () => {
      if (!this.#running) return;
      const now = performance.now();
      if (start + j * interval <= now) this.#lag.recordValue(Math.max(1, Math.round((now - start - j * interval) * 1000)));
      while (start + j * interval <= now) {
        // Sends due for a user who is offline go to the next one online: the offered rate stays.
        const due = start + j * interval;
        for (let k = 0; k < this.#users.length; k++) {
          const u = this.#users[(j + k) % this.#users.length]!;
          if (!u.online || u.leaving) continue;
          this.#message(u, due, roomEvery > 0 && j % roomEvery === 0);
          break;
        }
        j++;
      }
      this.#timers[0] = setTimeout(tick, 1);
    };
    this.#timers[0] = setTimeout(tick, 1);
    const every = (perSec: number, fn: () => void) => { if (perSec > 0) this.#timers.push(setInterval(fn, 1000 / perSec)); };
    const pick = () => this.#users[Math.floor(Math.random() * this.#users.length)]!;
    every(o.reconnectsPerSec, () => void this.#reconnect(pick()));
    every(o.presencePerSec, () => {
      const u = pick();
      if (!u.online) return;
      this.#counts.presence++;
      this.#send(u, { op: 'presence', state: Math.random() < 0.5 ? 'away' : 'available', status: `status ${Math.floor(Math.random() * 100)}` });
    });
    every(o.typingPerSec, () => {
      const u = pick();
      const peer = this.#users[u.index ^ 1];
      if (!u.online || !peer) return;
      const chat = u.rooms.length && Math.random() < 0.3 ? u.rooms[0]! : directChatId(u.name, peer.name);
      this.#counts.typing++;
      this.#send(u, { op: 'typing', chat, state: 'start' });
      setTimeout(() => this.#send(u, { op: 'typing', chat, state: 'stop' }), 500 + Math.random() * 1500);
    });
    every(o.roomChurnPerSec, () => {
      const u = pick();
      const chat = this.#roomIds[Math.floor(Math.random() * this.#roomIds.length)];
      if (!chat || !u.online || u.rooms.includes(chat) || u.visiting.has(chat)) return;
      this.#counts.joins++;
      u.visiting.add(chat);
      this.#request(u, { op: 'room.join', chat }).then(() => new Promise((r) => setTimeout(r, 2000 + Math.random() * 4000))).then(() => {
        this.#counts.leaves++;
        return this.#request(u, { op: 'room.leave', chat });
      }).catch(() => { /* counted by code in errors */ }).finally(() => u.visiting.delete(chat));
    });
  }

  /** Closes a user's socket once its sends are acked (so nothing is left unacked), then resumes from its cursors. */
  async #reconnect(u: User): Promise<void> {
    if (!u.online || u.leaving) return;
    u.leaving = true;
    const deadline = performance.now() + 5000;
    while (u.inflight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const ws = u.ws!;
    await new Promise<void>((resolve) => { ws.once('close', () => resolve()); ws.close(); setTimeout(() => { ws.terminate(); resolve(); }, 2000).unref(); });
    this.#counts.reconnects++;
    // Sends still unanswered after the wait will never be: they stay on the ledger as unacked.
    u.inflight = 0;
    try {
      await this.#connect(u);
    } catch (err) {
      const key = `reconnect:${err instanceof Error ? err.message.slice(0, 60) : 'failed'}`;
      this.#counts.errors[key] = (this.#counts.errors[key] ?? 0) + 1;
      // Try again later; the user stays offline meanwhile and its messages wait in the store.
      setTimeout(() => { void this.#connect(u).catch(() => undefined); }, 1000);
    } finally {
      u.leaving = false;
    }
  }

  /** Counts since the last call (and folds them into the totals). */
  take(): ChurnCounts {
    const c = this.#counts;
    const t = this.#totals;
    for (const k of ['sent', 'acked', 'delivered', 'duplicates', 'reconnects', 'presence', 'typing', 'joins', 'leaves'] as const) t[k] += c[k];
    for (const [k, v] of Object.entries(c.errors)) t.errors[k] = (t.errors[k] ?? 0) + v;
    const ms = (us: number) => Math.round(us) / 1000;
    const out = { ...c, ackP50Ms: ms(this.#lat.getValueAtPercentile(50)), ackP99Ms: ms(this.#lat.getValueAtPercentile(99)), ackMaxMs: ms(this.#lat.maxValue), dispatchLagP99Ms: ms(this.#lag.getValueAtPercentile(99)) };
    this.#counts = ChurnLoad.#zero();
    this.#lat = histogram();
    this.#lag = histogram();
    return out;
  }

  get totals(): Omit<ChurnCounts, 'ackP50Ms' | 'ackP99Ms' | 'ackMaxMs' | 'dispatchLagP99Ms'> {
    return this.#totals;
  }

  /**
   * Stops the load, waits up to graceMs for every user to be online and every acked message to
   * reach its recipients, then returns the ledger: acked messages still undelivered are lost.
   */
  async stop(graceMs: number): Promise<{ lost: number; unacked: number; acked: number; offline: number }> {
    this.#running = false;
    for (const t of this.#timers) { clearTimeout(t); clearInterval(t); }
    const deadline = performance.now() + graceMs;
    const open = () => this.#users.some((u) => u.inflight > 0 || !u.online || u.leaving) || [...this.#ledger.values()].some((r) => r.acked);
    while (open() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    let lost = 0;
    let unacked = 0;
    for (const r of this.#ledger.values()) if (r.acked) lost++; else unacked++;
    this.#lost = lost;
    this.take();
    return { lost, unacked, acked: this.#ackedTotal, offline: this.#users.filter((u) => !u.online).length };
  }

  async close(): Promise<void> {
    await Promise.all(this.#users.map((u) => new Promise<void>((resolve) => {
      const ws = u.ws;
      if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
      ws.once('close', () => resolve());
      ws.close();
      setTimeout(() => { ws.terminate(); resolve(); }, 2000).unref();
    })));
  }

  get lost(): number {
    return this.#lost;
  }
}
