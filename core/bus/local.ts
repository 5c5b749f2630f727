import type { Bus, BusEvent, BusStatus, DirectoryEntry, PresenceDirectory } from './types.ts';
import { scoped } from './types.ts';

/**
 * What several in-process nodes share (tests, or one process hosting many nodes): channel routing
 * and the presence directory. A single node never needs one explicitly.
 */
export class LocalBroker {
  readonly #subscribers = new Map<string, Set<LocalBus>>();
  readonly #presence = new Map<string, Map<string, DirectoryEntry>>();
  readonly #alive = new Map<string, number>();

  route(channel: string, event: BusEvent): void {
    for (const bus of [...(this.#subscribers.get(channel) ?? [])]) bus.receive(event, channel);
  }

  join(channel: string, bus: LocalBus): void {
    let set = this.#subscribers.get(channel);
    if (!set) this.#subscribers.set(channel, (set = new Set()));
    set.add(bus);
  }

  leave(channel: string, bus: LocalBus): void {
    const set = this.#subscribers.get(channel);
    if (set?.delete(bus) && set.size === 0) this.#subscribers.delete(channel);
  }

  readonly directory: PresenceDirectory = {
    put: async (user, node, entry) => {
      let nodes = this.#presence.get(user);
      if (entry) {
        if (!nodes) this.#presence.set(user, (nodes = new Map()));
        nodes.set(node, entry);
      } else if (nodes?.delete(node) && nodes.size === 0) this.#presence.delete(user);
    },
    get: async (users) => {
      const now = Date.now();
      const out = new Map<string, Map<string, DirectoryEntry>>();
      for (const user of users) {
        const live = new Map([...(this.#presence.get(user) ?? [])].filter(([node]) => (this.#alive.get(node) ?? 0) > now));
        if (live.size) out.set(user, live);
      }
      return out;
    },
    alive: async (node, ttlMs) => { this.#alive.set(node, Date.now() + ttlMs); },
  };
}

/**
 * In-process bus: delivery is a synchronous call inside `publish`, so fan-out order is commit
 * order. Each node holds its own LocalBus; nodes of one process share a LocalBroker.
 */
export class LocalBus implements Bus {
  readonly #broker: LocalBroker;
  /** Delivery is a call: nothing is lost on the way, so sessions need no periodic cursor check. */
  readonly lossy: boolean = false;
  readonly #channels = new Set<string>();
  readonly #handlers = new Set<(event: BusEvent, channel: string) => void>();
  #closed = false;

  constructor(broker: LocalBroker = new LocalBroker()) {
    this.#broker = broker;
  }

  get directory(): PresenceDirectory {
    return this.#broker.directory;
  }

  async publish(channel: string, event: BusEvent): Promise<void> {
    if (this.#closed) throw new Error('the bus is closed');
    this.#broker.route(channel, event);
  }

  /** Called by the broker for a channel this bus subscribed to. */
  receive(event: BusEvent, channel: string): void {
    const e = scoped(event, channel);
    for (const h of this.#handlers) h(e, channel);
  }

  async subscribe(channel: string): Promise<void> {
    if (this.#closed) return;
    this.#channels.add(channel);
    this.#broker.join(channel, this);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#channels.delete(channel);
    this.#broker.leave(channel, this);
  }

  /** The channels this node receives (tests check that a node subscribes only to what it needs). */
  get channels(): ReadonlySet<string> {
    return this.#channels;
  }

  onEvent(handler: (event: BusEvent, channel: string) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /** The local bus never misses an event. */
  onResync(): () => void {
    return () => undefined;
  }

  status(): BusStatus {
    return { ready: true };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const ch of this.#channels) this.#broker.leave(ch, this);
    this.#channels.clear();
    this.#handlers.clear();
  }
}
