/**
 * The bus between nodes, through Redis (one server) or a Redis Cluster (sharded pub/sub). Each
 * user's channel and presence key share a hash tag ({u:<user>}) so they live on one slot; a node
 * subscribes only to its local users' channels and the control channel.
 *
 * Pub/sub is at most once. Commands fail fast while Redis is away (no offline queue): a publish
 * rejects, the node keeps serving local users from the store, `status()` says why it is not
 * ready, and when Redis answers again every wanted channel is subscribed again and `onResync`
 * handlers run (caches dropped, cursors checked against the store).
 */
import { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Meter } from '../metrics.ts';
import type { Bus, BusEvent, BusStatus, DirectoryEntry, PresenceDirectory } from './types.ts';
import { scoped } from './types.ts';

export interface RedisBusOptions {
  /** redis://host:port, or comma-separated cluster seeds (host:port or redis:// URLs). */
  url: string;
  node: string;
  meter: Meter;
  log: Logger;
  /** Key and channel prefix, so several deployments can share one Redis. */
  prefix?: string;
  /** How often Redis is probed while the node runs. */
  probeMs?: number;
  /** Bound on one command: a Redis that hangs fails like one that is down. */
  commandTimeoutMs?: number;
}

/** Presence keys outlive any announcement; a key of a user nobody refreshes goes away by itself. */
const PRESENCE_KEY_TTL_MS = 24 * 3600_000;

/** A connection to one Redis server or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;
type Client = RedisClient;

function seeds(url: string): { host: string; port: number }[] {
  return url.split(',').map((s) => {
    const u = new URL(s.includes('://') ? s : `redis://${s}`);
    return { host: u.hostname, port: Number(u.port || 6379) };
  });
}

export class RedisBus implements Bus {
  readonly #opts: Required<Omit<RedisBusOptions, 'meter' | 'log'>> & Pick<RedisBusOptions, 'meter' | 'log'>;
  readonly #handlers = new Set<(event: BusEvent, channel: string) => void>();
  readonly #resync = new Set<() => void>();
  /** Channels this node wants, by bus name; resubscribed after every outage. */
  readonly #wanted = new Set<string>();
  #ready: Promise<void>;
  #checking = false;
  #cmd: Client | undefined;
  #sub: Client | undefined;
  #sharded = false;
  #down: string | undefined = 'connecting to Redis';
  #downSince = Date.now();
  /** Set once Redis answered after an outage was seen: the next healthy probe resyncs. */
  #wasDown = false;
  #probe: NodeJS.Timeout | undefined;
  #closed = false;
  /** Redis pub/sub is at most once. */
  readonly lossy = true;

  constructor(opts: RedisBusOptions) {
    this.#opts = { prefix: 'parley', probeMs: 500, commandTimeoutMs: 1_000, ...opts };
    this.#ready = this.#start();
  }

  /** Connects; a Redis that is away at start is retried until it answers (the node serves its local users meanwhile). */
  #start(): Promise<void> {
    return this.#connect().catch((err: unknown) => {
      this.#markDown(`cannot reach Redis at ${this.#opts.url}: ${(err as Error).message}`);
      this.#cmd?.disconnect();
      if (this.#sub !== this.#cmd) this.#sub?.disconnect();
      this.#cmd = this.#sub = undefined;
      if (this.#closed) return;
      const retry = setTimeout(() => { this.#ready = this.#start(); }, this.#opts.probeMs);
      retry.unref();
    });
  }

  #client(): Client {
    if (!this.#cmd) throw new Error(this.#down ?? 'Redis is not connected');
    return this.#cmd;
  }

  async #connect(): Promise<void> {
    const list = seeds(this.#opts.url);
    const common = { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: this.#opts.commandTimeoutMs, lazyConnect: true } as const;
    const retryStrategy = (times: number) => Math.min(50 * times, 500);
    let cluster = list.length > 1;
    if (!cluster) {
      // One address may still be a cluster node: ask it.
      const probe = new Redis({ ...list[0]!, ...common, retryStrategy: () => null });
      try {
        await probe.connect();
        cluster = /cluster_enabled:1/.test(await probe.info('cluster'));
      } finally {
        probe.disconnect();
      }
    }
    if (cluster) {
      this.#sharded = true;
      const c = new Cluster(list, {
        shardedSubscribers: true, enableOfflineQueue: false, enableAutoPipelining: true, lazyConnect: true,
        clusterRetryStrategy: retryStrategy, slotsRefreshTimeout: 1_000,
        redisOptions: { maxRetriesPerRequest: 0, commandTimeout: this.#opts.commandTimeoutMs },
      });
      this.#cmd = c;
      this.#sub = c;
      c.on('smessage', (channel: string, message: string) => this.#receive(channel, message));
      c.on('error', () => undefined);
      c.on('node error', () => undefined);
      await c.connect();
    } else {
      this.#cmd = new Redis({ ...list[0]!, ...common, enableAutoPipelining: true, retryStrategy });
      this.#sub = new Redis({ ...list[0]!, ...common, retryStrategy, autoResubscribe: true });
      this.#sub.on('message', (channel: string, message: string) => this.#receive(channel, message));
      for (const c of [this.#cmd, this.#sub]) c.on('error', () => undefined);
      await Promise.all([this.#cmd.connect(), this.#sub.connect()]);
    }
    this.#probe = setInterval(() => void this.#check(), this.#opts.probeMs);
    this.#probe.unref();
    await this.#check();
  }

  /** One probe: a round trip to Redis (every master on a cluster); a failure marks the bus down, the first success after one resyncs. */
  async #check(): Promise<void> {
    if (this.#closed || this.#checking || !this.#cmd || !this.#sub) return;
    this.#checking = true;
    try {
      await this.#checkOnce(this.#cmd, this.#sub);
    } finally {
      this.#checking = false;
    }
  }

  async #checkOnce(cmd: Client, sub: Client): Promise<void> {
    const t0 = performance.now();
    try {
      if (cmd instanceof Cluster) {
        if (cmd.status !== 'ready') throw new Error(`cluster connection is ${cmd.status}`);
        const info = await cmd.cluster('INFO');
        if (!/cluster_state:ok/.test(String(info))) throw new Error('cluster_state is not ok');
        await Promise.all(cmd.nodes('master').map((n) => n.ping()));
      } else {
        if (sub.status !== 'ready') throw new Error(`subscriber connection is ${sub.status}`);
        await cmd.ping();
      }
    } catch (err) {
      this.#markDown(`Redis unreachable: ${(err as Error).message}`);
      return;
    }
    this.#opts.meter.observe('parley_bus_probe_seconds', (performance.now() - t0) / 1000);
    if (this.#down === undefined) return;
    const first = !this.#wasDown;
    try {
      await this.#resubscribe();
    } catch (err) {
      this.#markDown(`resubscribing failed: ${(err as Error).message}`);
      return;
    }
    this.#down = undefined;
    this.#opts.log.info('Redis bus is up');
    if (first) return;
    this.#opts.meter.inc('parley_bus_resyncs_total');
    for (const h of this.#resync) {
      try { h(); } catch (err) { this.#opts.log.error({ err }, 'a resync handler failed'); }
    }
  }

  #markDown(reason: string): void {
    if (this.#down === undefined) {
      this.#opts.meter.inc('parley_bus_outages_total');
      this.#downSince = Date.now();
      this.#opts.log.warn({ reason }, 'Redis bus is down; serving local users, repairing from the store when it returns');
    }
    this.#down = reason;
    this.#wasDown = true;
  }

  async #resubscribe(): Promise<void> {
    const channels = [...this.#wanted].map((c) => this.#channel(c));
    for (let i = 0; i < channels.length; i += 256) {
      await Promise.all(channels.slice(i, i + 256).map((ch) => this.#subCommand('subscribe', ch)));
    }
  }

  #channel(name: string): string {
    return `${this.#opts.prefix}:{${name}}`;
  }

  #receive(channel: string, message: string): void {
    const name = channel.slice(this.#opts.prefix.length + 2, -1);
    if (!this.#wanted.has(name)) return;
    let event: BusEvent;
    try {
      event = JSON.parse(message) as BusEvent;
    } catch {
      this.#opts.meter.inc('parley_bus_received_total', { result: 'bad' });
      return;
    }
    this.#opts.meter.inc('parley_bus_received_total', { result: 'ok' });
    this.#opts.meter.inc('parley_bus_received_bytes_total', undefined, Buffer.byteLength(message));
    const e = scoped(event, name);
    for (const h of this.#handlers) h(e, name);
  }

  async publish(channel: string, event: BusEvent): Promise<void> {
    await this.#ready;
    if (this.#closed) throw new Error('the bus is closed');
    const t0 = performance.now();
    try {
      const payload = JSON.stringify(event);
      const cmd = this.#client();
      if (cmd instanceof Cluster) await cmd.spublish(this.#channel(channel), payload);
      else await cmd.publish(this.#channel(channel), payload);
      this.#opts.meter.inc('parley_bus_publishes_total', { result: 'ok' });
      this.#opts.meter.inc('parley_bus_published_bytes_total', undefined, Buffer.byteLength(payload));
      this.#opts.meter.observe('parley_bus_publish_seconds', (performance.now() - t0) / 1000);
    } catch (err) {
      this.#opts.meter.inc('parley_bus_publishes_total', { result: 'error' });
      this.#markDown(`Redis publish failed: ${(err as Error).message}`);
      throw err;
    }
  }

  async #subCommand(op: 'subscribe' | 'unsubscribe', channel: string): Promise<void> {
    try {
      const sub = this.#sub;
      if (!sub) throw new Error(this.#down ?? 'Redis is not connected');
      if (this.#sharded) await (op === 'subscribe' ? sub.ssubscribe(channel) : sub.sunsubscribe(channel));
      else await (op === 'subscribe' ? sub.subscribe(channel) : sub.unsubscribe(channel));
      this.#opts.meter.inc('parley_bus_subscribes_total', { result: 'ok' });
    } catch (err) {
      this.#opts.meter.inc('parley_bus_subscribes_total', { result: 'error' });
      throw err;
    }
  }

  async subscribe(channel: string): Promise<void> {
    this.#wanted.add(channel);
    this.#opts.meter.set('parley_bus_subscriptions', this.#wanted.size);
    await this.#ready;
    if (this.#closed) return;
    try {
      await this.#subCommand('subscribe', this.#channel(channel));
    } catch (err) {
      // Wanted still: the resubscription after the outage takes it.
      this.#markDown(`Redis subscribe failed: ${(err as Error).message}`);
      throw err;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#wanted.delete(channel);
    this.#opts.meter.set('parley_bus_subscriptions', this.#wanted.size);
    await this.#ready;
    // A failure leaves an extra subscription at worst: its events are dropped on receipt.
    if (!this.#closed) await this.#subCommand('unsubscribe', this.#channel(channel)).catch(() => undefined);
  }

  onEvent(handler: (event: BusEvent, channel: string) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  onResync(handler: () => void): () => void {
    this.#resync.add(handler);
    return () => this.#resync.delete(handler);
  }

  status(): BusStatus {
    return this.#down === undefined ? { ready: true } : { ready: false, reason: this.#down, since: this.#downSince };
  }

  /**
   * The command connection, for this node's other users of Redis (the hot cache): undefined while
   * the bus is down, so they go to the store at once instead of waiting on a dead connection.
   */
  commands(): RedisClient | undefined {
    return this.#down === undefined && !this.#closed ? this.#cmd : undefined;
  }

  /** A key of this deployment, `<prefix>:{<tag>}:<name>`: the tag decides its Redis Cluster slot. */
  key(tag: string, name: string): string {
    return `${this.#opts.prefix}:{${tag}}:${name}`;
  }

  #presenceKey(user: string): string {
    return `${this.#opts.prefix}:{u:${user}}:presence`;
  }

  #nodeKey(node: string): string {
    return `${this.#opts.prefix}:node:${node}`;
  }

  readonly directory: PresenceDirectory = {
    put: async (user, node, entry) => {
      await this.#ready;
      const key = this.#presenceKey(user);
      if (entry) await Promise.all([this.#client().hset(key, node, JSON.stringify(entry)), this.#client().pexpire(key, PRESENCE_KEY_TTL_MS)]);
      else await this.#client().hdel(key, node);
    },
    get: async (users) => {
      await this.#ready;
      const out = new Map<string, Map<string, DirectoryEntry>>();
      const rows = await Promise.all(users.map((u) => this.#client().hgetall(this.#presenceKey(u))));
      const nodes = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      const alive = new Set<string>();
      await Promise.all(nodes.map(async (n) => { if (await this.#client().exists(this.#nodeKey(n))) alive.add(n); }));
      users.forEach((user, i) => {
        const live = new Map<string, DirectoryEntry>();
        for (const [node, json] of Object.entries(rows[i]!)) if (alive.has(node)) live.set(node, JSON.parse(json) as DirectoryEntry);
        if (live.size) out.set(user, live);
      });
      return out;
    },
    alive: async (node, ttlMs) => {
      await this.#ready;
      await this.#client().set(this.#nodeKey(node), String(Date.now()), 'PX', ttlMs);
    },
  };

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#probe);
    await this.#ready;
    this.#handlers.clear();
    this.#cmd?.disconnect();
    if (this.#sub !== this.#cmd) this.#sub?.disconnect();
  }
}
