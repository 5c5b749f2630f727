/**
 * Requests a simulated user is waiting on (sync, room.create, friend.*, ...), keyed by a numeric
 * frame id shared by the whole worker so users carry no table of their own.
 */
import { UnsupportedOpError, type SimUser } from './user.ts';

interface Waiting { resolve: (v: any) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; op: string }

export class RequestTable {
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 1;

  /** Writes `{op, id, ...fields}` and resolves with the reply's result (or the synced frame). */
  send<T>(u: SimUser, op: string, fields: Record<string, unknown>, onTimeout: () => void, timeoutMs = 10_000): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        onTimeout();
        reject(new Error(`${op} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, { resolve, reject, timer, op });
      if (!u.write(JSON.stringify({ ...fields, op, id }))) {
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
