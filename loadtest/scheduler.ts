/**
 * The per-worker timer queue: one binary heap of intended times and one libuv timer for the
 * earliest, instead of a timer per user. Each action learns how late it ran (schedule lag), which
 * feeds generator health and the late-send count.
 */
import { now } from './clock.ts';

export type Action = (intended: number, lagMs: number) => void;

/** The steady phase's end on the shared clock: a barrier release moves it, an abort pulls it in. */
export interface Phase { end: number }

interface Entry { t: number; n: number; fn: Action }

export class Scheduler {
  readonly #heap: Entry[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #n = 0;
  #stopped = false;
  /** Called with every action's lag in ms (health and schedule_lag_ms). */
  onLag: (lagMs: number) => void = () => {};

  get size(): number {
    return this.#heap.length;
  }

  /** Runs `fn` at monotonic time `t` (ms, see clock.ts), or as soon as possible after it. */
  at(t: number, fn: Action): void {
    if (this.#stopped) return;
    this.#push({ t, n: this.#n++, fn });
    if (t < this.#timerAt) this.#arm();
  }

  /** Drops every pending action. */
  stop(): void {
    this.#stopped = true;
    this.#heap.length = 0;
    clearTimeout(this.#timer);
    this.#timerAt = Infinity;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    const top = this.#heap[0];
    if (!top) { this.#timerAt = Infinity; return; }
    this.#timerAt = top.t;
    // libuv timers have 1 ms granularity: round down and let #run re-arm if woken a bit early.
    this.#timer = setTimeout(this.#run, Math.max(0, Math.floor(top.t - now())));
  }

  readonly #run = (): void => {
    this.#timerAt = Infinity;
    // Bound one turn so a backlog never starves I/O (acks and deliveries must still be read).
    const turnEnd = now() + 20;
    for (;;) {
      const top = this.#heap[0];
      if (!top) break;
      const t = now();
      if (top.t > t + 0.05 || t > turnEnd) break;
      this.#pop();
      const lag = Math.max(0, t - top.t);
      this.onLag(lag);
      top.fn(top.t, lag);
    }
    if (this.#heap.length && !this.#stopped) {
      const top = this.#heap[0]!;
      if (top.t <= now()) { this.#timerAt = top.t; this.#timer = setTimeout(this.#run, 0); } else this.#arm();
    }
  };

  #less(a: Entry, b: Entry): boolean {
    return a.t < b.t || (a.t === b.t && a.n < b.n);
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): Entry | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
