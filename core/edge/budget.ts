/**
 * The node's work budget: requests in flight and bytes queued across every session, and the heap
 * against a watermark. Past any bound new work is refused (`overloaded` on a socket, 503 with
 * Retry-After over HTTP) and /readyz reports not ready, so a load balancer moves traffic away
 * while the node finishes what it accepted instead of collapsing under it.
 */
import v8 from 'node:v8';
import { ParleyError } from '../errors.ts';
import type { Refusal } from '../protocol.ts';

export type OverloadReason = 'inflight' | 'queued_bytes' | 'heap';

export interface BudgetLimits {
  /** Requests in flight across all sessions (0: unbounded). */
  readonly maxInflight: number;
  /** Outbound bytes queued across all sessions (0: unbounded). */
  readonly maxQueuedBytes: number;
  /** Heap used, in MiB, beyond which new work is refused (0: unbounded). */
  readonly heapWatermarkMb: number;
}

/** What an overloaded node asks a client to wait before retrying. */
export const OVERLOAD_RETRY_MS = 1000;
/** How long a session stops reading its socket after a refusal for overload. */
export const OVERLOAD_PAUSE_MS = 100;

/** The refusal a client gets while the node is over budget. */
export function overloadedError(reason: OverloadReason): ParleyError {
  const r = OVERLOADED[reason];
  return new ParleyError(r.code, r.message, r.details);
}

/**
 * The same refusals prebuilt: an overloaded node refuses many frames, and building an Error (its
 * stack) for each one cost more than the send it refused, starving the sends it accepted.
 */
export const OVERLOADED: Readonly<Record<OverloadReason, Refusal>> = Object.freeze({
  inflight: overloadRefusal('inflight'),
  queued_bytes: overloadRefusal('queued_bytes'),
  heap: overloadRefusal('heap'),
});

function overloadRefusal(reason: OverloadReason): Refusal {
  const message = `the node is over its ${reason.replace('_', ' ')} budget; retry after ${OVERLOAD_RETRY_MS} ms, or on another node`;
  return Object.freeze({ code: 'overloaded', message, details: Object.freeze({ retryAfterMs: OVERLOAD_RETRY_MS, reason }) });
}

/** Every this many ms the heap is sampled: memoryUsage() costs microseconds, too much per request. */
const HEAP_SAMPLE_MS = 250;

export class NodeBudget {
  readonly #limits: BudgetLimits;
  #inflight = 0;
  #queuedBytes = 0;
  #heapOver = false;
  readonly #timer: NodeJS.Timeout | undefined;
  /** Refusals by reason, for the metrics layer to mirror. */
  readonly refused: Record<OverloadReason, number> = { inflight: 0, queued_bytes: 0, heap: 0 };

  constructor(limits: BudgetLimits) {
    this.#limits = limits;
    if (limits.heapWatermarkMb > 0) {
      const watermark = limits.heapWatermarkMb * 1024 * 1024;
      const sample = () => { this.#heapOver = v8.getHeapStatistics().used_heap_size > watermark; };
      sample();
      this.#timer = setInterval(sample, HEAP_SAMPLE_MS);
      this.#timer.unref();
    }
  }

  get inflight(): number {
    return this.#inflight;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Why the node refuses new work now, or undefined when it accepts it. */
  get overloaded(): OverloadReason | undefined {
    const l = this.#limits;
    if (l.maxInflight > 0 && this.#inflight >= l.maxInflight) return 'inflight';
    if (l.maxQueuedBytes > 0 && this.#queuedBytes >= l.maxQueuedBytes) return 'queued_bytes';
    if (this.#heapOver) return 'heap';
    return undefined;
  }

  /** Takes a slot for one request; returns the reason (and counts it) when the node is over budget. */
  admit(): OverloadReason | undefined {
    const reason = this.overloaded;
    if (reason) { this.refused[reason]++; return reason; }
    this.#inflight++;
    return undefined;
  }

  /** Counts a refusal decided elsewhere (an upgrade or a REST request). */
  refuse(reason: OverloadReason): void {
    this.refused[reason]++;
  }

  /** Gives back the slot of a finished request. */
  release(): void {
    this.#inflight--;
  }

  /** A session's outbound queue grew (or shrank, with a negative delta). */
  queued(deltaBytes: number): void {
    this.#queuedBytes += deltaBytes;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
