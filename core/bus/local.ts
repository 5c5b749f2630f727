import type { Bus, BusEvent } from './types.ts';

/** In-process bus: delivery is a synchronous call, so fan-out order is commit order. */
export class LocalBus implements Bus {
  readonly #handlers = new Set<(event: BusEvent) => void>();

  publish(event: BusEvent): void {
    for (const h of this.#handlers) h(event);
  }

  subscribe(handler: (event: BusEvent) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.#handlers.clear();
  }
}
