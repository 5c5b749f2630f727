/**
 * Requests simulated users are waiting on (sync, room.create, friend.*, ...), keyed by a numeric
 * frame id shared by the whole worker so users carry no table of their own.
 */
import type { Meter } from './recorder.ts';

/** Thrown when the server refuses an op the scenario needs (e.g. presence on an older node). */
export class UnsupportedOpError extends Error {
  constructor(readonly op: string) {
    super(`the server answered unknown_op to "${op}": this scenario needs a node that supports it`);
  }
}

/** Where a request is written: a simulated user's socket. */
export interface FrameWriter {
  /** Writes a frame if connected; returns whether it was written. */
  write(text: string): boolean;
}

interface Waiting { resolve: (v: any) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; op: string }

export class RequestTable {
  readonly #waiting = new Map<number, Waiting>();
  readonly #meter: Meter;
  #nextId = 1;

  constructor(meter: Meter) {
    this.#meter = meter;
  }

  /**
   * Writes `{op, id, ...fields}` and resolves with the reply's result (or the synced frame). Counts
   * `requests` (sync excepted: it is part of connecting) and a `timeout` error when none comes.
   */
  send<T>(to: FrameWriter, op: string, fields: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    if (op !== 'sync') this.#meter.count('requests');
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        this.#meter.error('timeout');
        reject(new Error(`${op} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, { resolve, reject, timer, op });
      if (!to.write(JSON.stringify({ ...fields, op, id }))) {
        clearTimeout(timer);
        this.#waiting.delete(id);
        reject(new Error(`${op}: not connected`));
      }
    });
  }

  /** A reply, synced or pong frame for a waiting request. */
  settle(f: Record<string, any>): void {
    const r = typeof f.id === 'number' ? this.#waiting.get(f.id) : undefined;
    if (!r) return;
    this.#waiting.delete(f.id as number);
    clearTimeout(r.timer);
    r.resolve(f.op === 'reply' ? f.result : f);
  }

  /** An error frame for a waiting request; unknown_op becomes UnsupportedOpError (the run ends, exit 98). */
  fail(id: number, code: string, message: string): void {
    const r = this.#waiting.get(id);
    if (!r) return;
    this.#waiting.delete(id);
    clearTimeout(r.timer);
    r.reject(code === 'unknown_op' ? new UnsupportedOpError(r.op) : new Error(`${r.op}: ${code}: ${message}`));
  }
}
