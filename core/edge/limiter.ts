/** A token bucket: `ratePerSec` tokens refill continuously up to `burst`. */
export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;

  constructor(ratePerSec: number, burst: number, now = performance.now()) {
    this.#ratePerMs = ratePerSec / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes `cost` tokens if there are that many; otherwise returns the milliseconds until there will be. */
  take(cost = 1, now = performance.now()): { ok: true } | { ok: false; retryAfterMs: number } {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#ratePerMs);
    this.#at = now;
    // A cost above the bucket size could never be paid: it takes the whole bucket instead.
    const need = Math.min(cost, this.#burst);
    if (this.#tokens >= need) {
      this.#tokens -= need;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil((need - this.#tokens) / this.#ratePerMs) };
  }
}

/** Counts events in a sliding window of `windowMs` (coarse: 10 buckets). */
export class WindowCounter {
  readonly #bucketMs: number;
  readonly #buckets = new Array<number>(10).fill(0);
  #head = 0;
  #headAt = 0;

  constructor(windowMs: number) {
    this.#bucketMs = windowMs / 10;
  }

  /** Records one event and returns the count within the window. */
  hit(now = performance.now()): number {
    const slot = Math.floor(now / this.#bucketMs);
    const steps = Math.min(10, slot - this.#headAt);
    for (let i = 0; i < steps; i++) {
      this.#head = (this.#head + 1) % 10;
      this.#buckets[this.#head] = 0;
    }
    if (steps > 0 || this.#headAt === 0) this.#headAt = slot;
    this.#buckets[this.#head]! += 1;
    return this.#buckets.reduce((a, b) => a + b, 0);
  }
}
