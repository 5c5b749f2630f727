/**
 * A worker's deliveries: every stamped message a user receives is classified by the ledger (new,
 * duplicate, reordered) and timed from its intended and actual send; catch-up waits resolve here.
 */
import type { Ledger } from './ledger.ts';
import type { Meter } from './recorder.ts';
import type { SimUser, Stamp } from './user.ts';

/** A user waiting for `target` distinct messages from each sender (offline catch-up). */
interface Waiter { targets: Map<number, number>; resolve: () => void }

export class Inbox {
  readonly #meter: Meter;
  readonly #ledger: Ledger;
  readonly #waiters = new Map<number, Waiter>();

  constructor(meter: Meter, ledger: Ledger) {
    this.#meter = meter;
    this.#ledger = ledger;
  }

  delivery(u: SimUser, stamp: Stamp, t: number): void {
    // A session may read its own messages back when it fills a gap from the store: not a delivery.
    if (stamp.s === u.index) return;
    const kind = this.#ledger.received(u.index, stamp.s, stamp.q);
    if (kind === 'duplicate') return this.#meter.count('duplicated');
    if (kind === 'reordered') this.#meter.count('reordered');
    this.#meter.count('delivered');
    this.#meter.record('deliver_ms', t - stamp.t);
    this.#meter.record('deliver_ms_actual', t - stamp.a);
    const w = this.#waiters.get(u.index);
    if (w && this.#reached(u.index, w.targets)) { this.#waiters.delete(u.index); w.resolve(); }
  }

  /** Resolves once `u` has received every message its peers had acknowledged at the call. */
  caughtUp(u: SimUser): Promise<void> {
    const targets = new Map(u.peers.map((p) => [p, this.#ledger.ackedCount(p)]));
    if (this.#reached(u.index, targets)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.set(u.index, { targets, resolve }));
  }

  #reached(receiver: number, targets: Map<number, number>): boolean {
    for (const [from, n] of targets) if (this.#ledger.receivedCount(receiver, from) < n) return false;
    return true;
  }
}
