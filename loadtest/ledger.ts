/**
 * Accounting of every message: what each sender had acknowledged and what each recipient received,
 * per sender stream (sender → its conversation), to count loss, duplicates and reordering exactly.
 */

/** A set of positive sequence numbers stored as a contiguous prefix plus the stragglers. */
export class SeqSet {
  floor = 0;
  max = 0;
  extra: Set<number> | undefined;

  has(q: number): boolean {
    return q <= this.floor || (this.extra?.has(q) ?? false);
  }

  add(q: number): void {
    if (q > this.max) this.max = q;
    if (q === this.floor + 1) {
      this.floor = q;
      while (this.extra?.delete(this.floor + 1)) this.floor++;
      if (this.extra?.size === 0) this.extra = undefined;
    } else (this.extra ??= new Set()).add(q);
  }

  get size(): number {
    return this.floor + (this.extra?.size ?? 0);
  }

  *values(): Generator<number> {
    for (let q = 1; q <= this.floor; q++) yield q;
    if (this.extra) yield* this.extra;
  }
}

export type Receipt = 'new' | 'duplicate' | 'reordered';

const key = (receiver: number, sender: number): number => receiver * 16_777_216 + sender;

export class Ledger {
  readonly #acked = new Map<number, SeqSet>();
  readonly #received = new Map<number, SeqSet>();

  acked(sender: number, q: number): void {
    let s = this.#acked.get(sender);
    if (!s) this.#acked.set(sender, (s = new SeqSet()));
    s.add(q);
  }

  ackedCount(sender: number): number {
    return this.#acked.get(sender)?.size ?? 0;
  }

  /** Records message q of `sender` arriving at `receiver` and classifies it. */
  received(receiver: number, sender: number, q: number): Receipt {
    const k = key(receiver, sender);
    let s = this.#received.get(k);
    if (!s) this.#received.set(k, (s = new SeqSet()));
    if (s.has(q)) return 'duplicate';
    const late = q < s.max;
    s.add(q);
    return late ? 'reordered' : 'new';
  }

  receivedCount(receiver: number, sender: number): number {
    return this.#received.get(key(receiver, sender))?.size ?? 0;
  }

  /**
   * After the run, once no frame can arrive any more: expected deliveries (acked × recipients),
   * those that never arrived, and distinct deliveries of sends whose ack never came (`unexpected`:
   * counted in delivered, not in expected). `recipients(sender)` names who should have received them.
   */
  settle(recipients: (sender: number) => readonly number[]): { expected: number; lost: number; unexpected: number } {
    let expected = 0;
    let lost = 0;
    for (const [sender, acked] of this.#acked) {
      for (const r of recipients(sender)) {
        const got = this.#received.get(key(r, sender));
        expected += acked.size;
        if (!got) { lost += acked.size; continue; }
        for (const q of acked.values()) if (!got.has(q)) lost++;
      }
    }
    let unexpected = 0;
    for (const [k, got] of this.#received) {
      const acked = this.#acked.get(k % 16_777_216);
      for (const q of got.values()) if (!acked?.has(q)) unexpected++;
    }
    return { expected, lost, unexpected };
  }
}
