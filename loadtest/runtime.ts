/**
 * One worker's run: its share of the plan's groups as simulated users, the timer queue, the
 * measurements, and the conversation with the parent (slices, barriers, the final report).
 */
import { now } from './clock.ts';
import { HealthMonitor } from './health.ts';
import { Ledger } from './ledger.ts';
import type { LoadOptions } from './options.ts';
import { buildPlan, segmentGroups, workerGroups, type Group } from './plan.ts';
import { deriveSeed, exponential, prng } from './random.ts';
import { Recorder } from './recorder.ts';
import { Scheduler } from './scheduler.ts';
import type { Scenario } from './scenario.ts';
import { tokenProvider, type TokenProvider } from './tokens.ts';
import type { WorkerMessage, WorkerStart } from './messages.ts';
import { RequestTable } from './requests.ts';
import { SEQ_SPACE, SimUser, UnsupportedOpError, type PendingSend } from './user.ts';

export interface ConverseOptions {
  /** Messages per second (default: options.messageRate). */
  rate?: number;
  /** Stop after this many sends (default: until the phase ends). */
  count?: number;
  /** Stop scheduling at this time (default: the phase end). */
  until?: number;
}

export class Runtime {
  readonly options: LoadOptions;
  readonly rec = new Recorder();
  readonly ledger = new Ledger();
  readonly scheduler = new Scheduler();
  readonly health = new HealthMonitor();
  readonly users = new Map<number, SimUser>();
  readonly pending = new Map<number, PendingSend>();
  /** Last intended time of a presence/typing signal per sender (signal latency). */
  readonly lastSignal = new Map<number, number>();
  /** Resolved room ids by group index. */
  readonly rooms = new Map<number, Promise<string>>();
  ending = false;
  /** End of the steady phase on the shared clock. */
  phaseEnd: number;
  readonly #start: WorkerStart;
  readonly #post: (m: WorkerMessage) => void;
  readonly #tokens: TokenProvider;
  readonly #tokenCache = new Map<string, string>();
  readonly #groups: Group[];
  readonly #arrivalsMs: Float64Array;
  /** Run start on the shared monotonic clock (clock.ts), set by go(). */
  #startAt = 0;
  readonly #requests = new RequestTable();
  readonly #barriers = new Map<string, { waiting: number; release: Promise<void>; resolve: () => void }>();
  #gone = 0;
  #sliceIndex = 0;
  #sliceTimer: NodeJS.Timeout | undefined;
  readonly #rand: () => number;

  constructor(start: WorkerStart, post: (m: WorkerMessage) => void) {
    this.options = start.options;
    this.#start = start;
    this.#post = post;
    this.#tokens = tokenProvider(start.tokens);
    this.phaseEnd = Infinity;
    const o = start.options;
    const plan = buildPlan({ users: o.users, groupSize: o.groupSize, arrivalRate: o.arrivalRate, arrival: o.arrival, seed: o.seed });
    this.#arrivalsMs = plan.arrivalsMs;
    this.#groups = workerGroups(segmentGroups(plan.groups, o.segment), start.worker, start.workers);
    for (const g of this.#groups) for (const m of g.members) this.users.set(m, new SimUser(this, m, g));
    this.#rand = prng(deriveSeed(start.options.seed, `worker-schedule-${start.options.segment.index}-${start.worker}`));
    this.scheduler.onLag = (lag) => { this.health.lag(lag); this.rec.record('schedule_lag_ms', lag); };
  }

  userId(index: number): string {
    return `${this.options.userPrefix}${index}`;
  }

  /** A user's token: fetched before the run starts, so connect_ms never includes minting. */
  async token(user: string): Promise<string> {
    const cached = this.#tokenCache.get(user);
    if (cached) return cached;
    const t = await this.#tokens(user);
    this.#tokenCache.set(user, t);
    return t;
  }

  /** Fetches every user's token (in batches) before the start; failures surface at connect. */
  async prepare(): Promise<void> {
    const ids = [...this.users.values()].map((u) => u.id);
    for (let i = 0; i < ids.length; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => this.token(id).catch(() => undefined)));
  }

  /** Runs the scenario's users from `startAt`; resolves after the drain with the report sent. */
  async run(scenario: Scenario, startAt: number): Promise<void> {
    this.#startAt = startAt;
    this.phaseEnd = startAt + this.options.durationMs;
    const groups = this.#groups;
    const plan = { arrivalsMs: this.#arrivalsMs };
    this.health.start();
    this.#armSlices();
    const done: Promise<void>[] = [];
    if (scenario.worker) done.push(scenario.worker(this).catch((err: Error) => this.#fatal(err)));
    const user = scenario.user;
    if (user) {
      for (const u of this.users.values()) {
        const intended = this.#startAt + plan.arrivalsMs[u.index]!;
        done.push(new Promise<void>((resolve) => this.scheduler.at(intended, (t) => {
          u.arrivedAt = t;
          this.rec.count('users');
          user(u, this).catch((err: Error) => {
            if (err instanceof UnsupportedOpError) this.#fatal(err);
            else this.rec.error(err.message.includes('connect failed') ? 'user_connect_failed' : 'user_failed');
          }).finally(() => { this.#gone++; this.#reportBarriers(); resolve(); });
        })));
      }
    }
    await Promise.all(done);
    await this.#drain();
    await this.#finish(groups);
  }

  async #drain(): Promise<void> {
    const deadline = now() + this.options.drainMs;
    while (now() < deadline && !this.#settled()) await sleep(25);
  }

  /** Every acked message has reached every recipient and no send waits for its ack. */
  #settled(): boolean {
    if (this.pending.size > 0) return false;
    for (const u of this.users.values()) {
      const acked = this.ledger.ackedCount(u.index);
      if (acked === 0) continue;
      for (const p of u.peers) if (this.ledger.receivedCount(p, u.index) < acked && this.users.get(p)?.connected) return false;
    }
    return true;
  }

  async #finish(groups: Group[]): Promise<void> {
    this.ending = true;
    this.scheduler.stop();
    const members = new Map<number, number[]>();
    for (const g of groups) for (const m of g.members) members.set(m, g.members.filter((x) => x !== m));
    const { expected, lost } = this.ledger.settle((s) => members.get(s) ?? []);
    this.rec.count('expected', expected);
    this.rec.count('lost', lost);
    this.rec.count('unacked', this.pending.size);
    let missed = 0;
    for (const u of this.users.values()) missed += u.backlog?.length ?? 0;
    this.rec.count('missed_sends', missed);
    clearInterval(this.#sliceTimer);
    await Promise.all([...this.users.values()].map((u) => u.close()));
    const health = this.health.snapshot();
    this.health.stop();
    this.#post({ type: 'done', worker: this.#start.worker, users: this.users.size, health, final: this.rec.cut(this.#sliceIndex), totals: this.rec.totals });
  }

  #fatal(err: Error): void {
    this.#post({ type: 'fatal', worker: this.#start.worker, message: err.message });
  }

  #armSlices(): void {
    const { sliceMs } = this.options;
    const tick = () => {
      const due = this.#startAt + (this.#sliceIndex + 1) * sliceMs;
      this.#sliceTimer = setTimeout(() => {
        this.health.sample();
        this.#post({ type: 'slice', worker: this.#start.worker, slice: this.rec.cut(this.#sliceIndex++), totals: this.rec.totals });
        tick();
      }, Math.max(0, due - now()));
    };
    tick();
  }

  // ── coordination ──────────────────────────────────────────────────────────────────────────────

  /** Waits until every user of the run reached `name` (or ended), across workers. */
  barrier(name: string): Promise<void> {
    let b = this.#barriers.get(name);
    if (!b) {
      let resolve!: () => void;
      const release = new Promise<void>((r) => (resolve = r));
      this.#barriers.set(name, (b = { waiting: 0, release, resolve }));
    }
    b.waiting++;
    this.#reportBarriers();
    return b.release;
  }

  #reportPending = false;
  #reportBarriers(): void {
    if (this.#reportPending) return;
    this.#reportPending = true;
    setImmediate(() => {
      this.#reportPending = false;
      for (const [name, b] of this.#barriers) this.#post({ type: 'barrier', worker: this.#start.worker, name, reached: b.waiting + this.#gone });
    });
  }

  /** The parent released a barrier: the next phase starts at `at` and lasts the run duration. */
  release(name: string, at: number): void {
    const b = this.#barriers.get(name);
    this.phaseEnd = at + this.options.durationMs;
    const go = () => b?.resolve();
    setTimeout(go, Math.max(0, at - now()));
  }

  /** The parent aborted (threshold abortOnFail): stop scheduling, let the drain run. */
  abort(): void {
    this.phaseEnd = Math.min(this.phaseEnd, now());
  }

  sleep(ms: number): Promise<void> {
    return sleep(ms);
  }

  /** The room of a group: the leader creates it with every member; the others wait for its id. */
  room(u: SimUser): Promise<string> {
    let p = this.rooms.get(u.group.index);
    if (!p) {
      const leader = this.users.get(u.group.members[0]!)!;
      p = leader.request<{ chat: string }>('room.create', { name: `load ${u.group.index}`, members: u.group.members.map((m) => this.userId(m)) }).then((r) => r.chat);
      this.rooms.set(u.group.index, p);
    }
    return p.then((chat) => (u.chat = chat));
  }

  /** Resolves when the user has no send in flight or waiting (all acked or failed). */
  async idle(u: SimUser, timeoutMs = 10_000): Promise<void> {
    const deadline = now() + timeoutMs;
    while ((u.inFlight > 0 || u.backlog?.length) && now() < deadline) await sleep(10);
  }

  /** The canonical 1:1 chat id of a pair (both users sorted). */
  directChat(u: SimUser): string {
    const [a, b] = [u.id, this.userId(u.peers[0]!)].sort();
    return `d:${a}:${b}`;
  }

  // ── messaging ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Sends on the user's schedule until the phase ends: open model (intended times from the
   * schedule, never waiting on responses) or closed model (next send after the ack plus think time).
   */
  async converse(u: SimUser, opts: ConverseOptions = {}): Promise<void> {
    const rate = opts.rate ?? this.options.messageRate;
    const until = opts.until ?? this.phaseEnd;
    const max = opts.count ?? Infinity;
    if (rate <= 0 && this.options.mode === 'open') return;
    if (this.options.mode === 'closed') {
      for (let n = 0; n < max && now() < Math.min(until, this.phaseEnd); n++) {
        this.rec.count('scheduled');
        await new Promise<void>((resolve) => this.#sendNow(u, now(), resolve));
        await sleep(this.options.thinkMs);
      }
      return;
    }
    const mean = 1000 / rate;
    const gap = () => (this.options.schedule === 'poisson' ? exponential(this.#rand, mean) : mean);
    await new Promise<void>((resolve) => {
      let n = 0;
      const next = (t: number) => {
        if (n >= max || t > Math.min(until, this.phaseEnd)) return resolve();
        this.scheduler.at(t, (intended) => {
          n++;
          this.rec.count('scheduled');
          this.#due(u, intended);
          next(intended + gap());
        });
      };
      next(now() + (this.options.schedule === 'poisson' ? gap() : this.#rand() * mean));
    });
  }

  #due(u: SimUser, intended: number): void {
    if (u.connected && u.inFlight < this.options.window) this.#sendNow(u, intended);
    else (u.backlog ??= []).push(intended);
  }

  #sendNow(u: SimUser, intended: number, onAck?: () => void): void {
    const actual = now();
    if (actual - intended > this.options.lateToleranceMs) this.rec.count('late_sends');
    const q = ++u.q;
    const cmid = `${u.index}-${q}`;
    // The body is the JSON stamp, written pre-escaped: numbers only, so no other escaping is needed.
    const body = `"{\\"s\\":${u.index},\\"q\\":${q},\\"t\\":${intended.toFixed(3)},\\"a\\":${actual.toFixed(3)}}"`;
    const target = u.chat?.startsWith('r:') ? `"chat":"${u.chat}"` : `"to":"${u.peerId ??= this.userId(u.peers[0]!)}"`;
    const frame = `{"op":"send","id":"${cmid}",${target},"cmid":"${cmid}","body":${body}}`;
    const entry: PendingSend = { i: intended, a: actual, f: frame, u };
    if (onAck) entry.r = onAck;
    this.pending.set(u.index * SEQ_SPACE + q, entry);
    u.inFlight++;
    if (u.write(frame)) this.rec.count('sent');
  }

  /** After a (re)connect: resend unacknowledged sends (same cmid), then the backlog up to the window. */
  resend(u: SimUser): void {
    for (let q = Math.max(1, u.q - u.inFlight - 64); q <= u.q; q++) {
      const p = this.pending.get(u.index * SEQ_SPACE + q);
      if (p) u.write(p.f);
    }
    this.#pump(u);
  }

  #pump(u: SimUser): void {
    while (u.backlog?.length && u.connected && u.inFlight < this.options.window) this.#sendNow(u, u.backlog.shift()!);
  }

  onAck(u: SimUser, f: Record<string, any>, t: number): void {
    if (typeof f.chat === 'string') u.chat ??= f.chat;
    this.onAckCmid(u, String(f.cmid), t);
  }

  onAckCmid(u: SimUser, cmid: string, t: number): void {
    const q = Number(cmid.slice(cmid.indexOf('-') + 1));
    const key = u.index * SEQ_SPACE + q;
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    u.inFlight--;
    this.rec.count('acked');
    this.rec.record('ack_ms', t - p.i);
    this.rec.record('ack_ms_actual', t - p.a);
    this.ledger.acked(u.index, q);
    p.r?.();
    this.#pump(u);
  }

  onDelivery(u: SimUser, stamp: { s: number; q: number; t: number; a: number }, t: number): void {
    // A session may read its own messages back when it fills a gap from the store: not a delivery.
    if (stamp.s === u.index) return;
    const kind = this.ledger.received(u.index, stamp.s, stamp.q);
    if (kind === 'duplicate') return this.rec.count('duplicated');
    if (kind === 'reordered') this.rec.count('reordered');
    this.rec.count('delivered');
    this.rec.record('deliver_ms', t - stamp.t);
    this.rec.record('deliver_ms_actual', t - stamp.a);
  }

  /** Pushes the runtime does not interpret: presence and typing events feed the signal metrics. */
  onEvent(_u: SimUser, f: Record<string, any>, t: number): void {
    if (f.op === 'typing') return this.#signalReceived('typing_ms', f.user, t);
    // Presence arrives batched per observer: one frame, one entry per friend that changed.
    if (f.op === 'presence' && Array.isArray(f.users) && !f.bulk) for (const e of f.users as { user?: unknown }[]) this.#signalReceived('presence_ms', e.user, t);
  }

  #signalReceived(metric: 'typing_ms' | 'presence_ms', user: unknown, t: number): void {
    if (typeof user !== 'string' || !user.startsWith(this.options.userPrefix)) return;
    this.rec.count('signals_received');
    const sent = this.lastSignal.get(Number(user.slice(this.options.userPrefix.length)));
    if (sent !== undefined) this.rec.record(metric, t - sent);
  }

  /** Sends a presence or typing signal at its intended time (fire and forget; errors are counted). */
  signal(u: SimUser, op: 'presence' | 'typing', fields: Record<string, unknown>, intended: number): void {
    this.lastSignal.set(u.index, intended);
    this.rec.count('scheduled');
    if (now() - intended > this.options.lateToleranceMs) this.rec.count('late_sends');
    if (u.write(JSON.stringify({ op, ...fields }))) this.rec.count('signals'); else this.rec.count('missed_sends');
  }

  /** Runs `fn` at each intended time of a schedule at `rate` per second until the phase ends. */
  every(rate: number, fn: (intended: number) => void, until = this.phaseEnd): Promise<void> {
    const mean = 1000 / rate;
    return new Promise<void>((resolve) => {
      const next = (t: number) => {
        if (t > Math.min(until, this.phaseEnd)) return resolve();
        this.scheduler.at(t, (intended) => { fn(intended); next(intended + (this.options.schedule === 'poisson' ? exponential(this.#rand, mean) : mean)); });
      };
      next(now() + this.#rand() * mean);
    });
  }

  // ── requests ──────────────────────────────────────────────────────────────────────────────────

  request<T>(u: SimUser, op: string, fields: Record<string, unknown>): Promise<T> {
    if (op !== 'sync') this.rec.count('requests');
    return this.#requests.send<T>(u, op, fields, () => this.rec.error('timeout'));
  }

  settle(f: Record<string, any>): void {
    this.#requests.settle(f);
  }

  onErrorFrame(u: SimUser, f: Record<string, any>): void {
    const code = String(f.code);
    this.rec.error(code);
    if (typeof f.id === 'number') return this.#requests.fail(f.id, code, String(f.message));
    if (typeof f.id === 'string') {
      const key = u.index * SEQ_SPACE + Number(f.id.split('-')[1]);
      const p = this.pending.get(key);
      if (!p) return;
      this.pending.delete(key);
      u.inFlight--;
      p.r?.();
      this.#pump(u);
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
