/**
 * A typed event emitter in a few lines: the subset of node:events the client API offers (on, once,
 * off, emit, listenerCount), so the package runs in a browser without a node: module.
 */

type Listener<A extends unknown[]> = (...args: A) => void;
type Entry = { fn: Listener<any[]>; original: Listener<any[]> };

export class Emitter<E extends { [K in keyof E]: unknown[] }> {
  readonly #listeners = new Map<keyof E, Entry[]>();

  /** Adds a listener for `event`. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    return this.#add(event, listener, listener);
  }

  /** Adds a listener that is removed before its first call. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const fn = (...args: E[K]) => { this.off(event, listener); listener(...args); };
    return this.#add(event, fn, listener);
  }

  /** Removes the most recently added registration of `listener` (by `on` or `once`). */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): this {
    const list = this.#listeners.get(event);
    const i = list ? list.findLastIndex((e) => e.original === listener) : -1;
    if (list && i >= 0) list.splice(i, 1);
    if (list?.length === 0) this.#listeners.delete(event);
    return this;
  }

  /** Calls the listeners in the order they were added; false when there were none. */
  emit<K extends keyof E>(event: K, ...args: E[K]): boolean {
    const list = this.#listeners.get(event);
    if (!list) return false;
    for (const e of [...list]) e.fn(...args);
    return true;
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  removeAllListeners<K extends keyof E>(event?: K): this {
    if (event === undefined) this.#listeners.clear(); else this.#listeners.delete(event);
    return this;
  }

  #add(event: keyof E, fn: Listener<any[]>, original: Listener<any[]>): this {
    const list = this.#listeners.get(event);
    if (list) list.push({ fn, original }); else this.#listeners.set(event, [{ fn, original }]);
    return this;
  }
}
