/**
 * A worker's sends: the schedule of each conversing user (open or closed model), the window of
 * sends in flight, the backlog of sends that wait for it or for a connection, and their acks.
 */
import type { ConverseOptions } from './api.ts';
import { now, sleep } from './clock.ts';
import type { Ledger } from './ledger.ts';
import type { LoadOptions } from './options.ts';
import { exponential } from './random.ts';
import type { Meter } from './recorder.ts';
import type { Phase, Scheduler } from './scheduler.ts';
import type { SimUser } from './user.ts';

/** Pending sends are keyed by user index × 2^21 + per-user seq. */
const SEQ_SPACE = 2_097_152;

/** A send waiting for its ack: intended and actual time, the frame (for a resend), its callback. */
interface PendingSend { i: number; a: number; f: string; r?: () => void }

export class Outbox {
  readonly #pending = new Map<number, PendingSend>();
  readonly #o: LoadOptions;
  readonly #meter: Meter;
  readonly #ledger: Ledger;
  readonly #scheduler: Scheduler;
  readonly #phase: Phase;
  readonly #rand: () => number;

  constructor(o: LoadOptions, meter: Meter, ledger: Ledger, scheduler: Scheduler, phase: Phase, rand: () => number) {
    this.#o = o;
    this.#meter = meter;
    this.#ledger = ledger;
    this.#scheduler = scheduler;
    this.#phase = phase;
    this.#rand = rand;
  }

  /** Sends without an ack so far. */
  get unacked(): number {
    return this.#pending.size;
  }

  /** See Run.converse. */
  async converse(u: SimUser, opts: ConverseOptions = {}): Promise<void> {
    const o = this.#o;
    const rate = opts.rate ?? o.messageRate;
    const until = opts.until ?? this.#phase.end;
    const max = opts.count ?? Infinity;
    if (rate <= 0 && o.mode === 'open') return;
    if (o.mode === 'closed') {
      for (let n = 0; n < max && now() < Math.min(until, this.#phase.end); n++) {
        this.#meter.count('scheduled');
        await new Promise<void>((resolve) => this.#sendNow(u, now(), resolve));
        await sleep(o.thinkMs);
      }
      return;
    }
    const mean = 1000 / rate;
    const gap = () => (o.schedule === 'poisson' ? exponential(this.#rand, mean) : mean);
    await new Promise<void>((resolve) => {
      let n = 0;
      const next = (t: number) => {
        if (n >= max || t > Math.min(until, this.#phase.end)) return resolve();
        this.#scheduler.at(t, (intended) => {
          n++;
          this.#meter.count('scheduled');
          this.#due(u, intended);
          next(intended + gap());
        });
      };
      next(now() + (o.schedule === 'poisson' ? gap() : this.#rand() * mean));
    });
  }

  /** Resolves when the user has no send in flight or waiting (all acked or failed). */
  async idle(u: SimUser, timeoutMs = 10_000): Promise<void> {
    const deadline = now() + timeoutMs;
    while ((u.inFlight > 0 || u.backlog?.length) && now() < deadline) await sleep(10);
  }

  #due(u: SimUser, intended: number): void {
    if (u.connected && u.inFlight < this.#o.window) this.#sendNow(u, intended);
    else (u.backlog ??= []).push(intended);
  }

  #sendNow(u: SimUser, intended: number, onAck?: () => void): void {
    const actual = now();
    if (actual - intended > this.#o.lateToleranceMs) this.#meter.count('late_sends');
    const q = ++u.q;
    const cmid = `${u.index}-${q}`;
    // The body is the JSON stamp, written pre-escaped: numbers only, so no other escaping is needed.
    const body = `"{\\"s\\":${u.index},\\"q\\":${q},\\"t\\":${intended.toFixed(3)},\\"a\\":${actual.toFixed(3)}}"`;
    const target = u.chat?.startsWith('r:') ? `"chat":"${u.chat}"` : `"to":"${u.peer}"`;
    const frame = `{"op":"send","id":"${cmid}",${target},"cmid":"${cmid}","body":${body}}`;
    const entry: PendingSend = { i: intended, a: actual, f: frame };
    if (onAck) entry.r = onAck;
    this.#pending.set(u.index * SEQ_SPACE + q, entry);
    u.inFlight++;
    if (u.write(frame)) this.#meter.count('sent');
  }

  /** After a (re)connect: resend unacknowledged sends (same cmid), then the backlog up to the window. */
  resend(u: SimUser): void {
    for (let q = Math.max(1, u.q - u.inFlight - 64); q <= u.q; q++) {
      const p = this.#pending.get(u.index * SEQ_SPACE + q);
      if (p) u.write(p.f);
    }
    this.#pump(u);
  }

  #pump(u: SimUser): void {
    while (u.backlog?.length && u.connected && u.inFlight < this.#o.window) this.#sendNow(u, u.backlog.shift()!);
  }

  /** The server acknowledged `cmid`: ack latency, the ledger, and room in the window. */
  ack(u: SimUser, cmid: string, t: number): void {
    const q = Number(cmid.slice(cmid.indexOf('-') + 1));
    const p = this.#settle(u, q);
    if (!p) return;
    this.#meter.count('acked');
    this.#meter.record('ack_ms', t - p.i);
    this.#meter.record('ack_ms_actual', t - p.a);
    this.#ledger.acked(u.index, q);
    p.r?.();
    this.#pump(u);
  }

  /** The server refused the send with frame id `id` (`<user>-<seq>`): it leaves the window. */
  refused(u: SimUser, id: string): void {
    const p = this.#settle(u, Number(id.split('-')[1]));
    if (!p) return;
    this.#meter.count('refused');
    p.r?.();
    this.#pump(u);
  }

  #settle(u: SimUser, q: number): PendingSend | undefined {
    const key = u.index * SEQ_SPACE + q;
    const p = this.#pending.get(key);
    if (!p) return undefined;
    this.#pending.delete(key);
    u.inFlight--;
    return p;
  }
}
