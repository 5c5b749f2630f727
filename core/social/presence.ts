/**
 * Presence, in memory and never persisted. Each node aggregates its own sessions of a user (the
 * most available state wins), announces "offline" only after a grace period, and publishes at most
 * one update per user per coalescing window (last state wins). Every node keeps the aggregate of
 * every node's announcements and batches the updates for each local observer (friends only) into
 * one `presence` frame per batch window: that batching is what keeps a reconnect storm cheap.
 *
 * Across nodes an announcement goes to the channels of the user's friends (their nodes subscribe)
 * and into the shared presence directory, which a node reads for friends whose announcements it
 * never heard (its observer arrived later). Node heartbeats travel on the control channel and mark
 * the node alive in the directory: a silent node's users read as offline everywhere by themselves.
 */
import type { Blocks } from './blocks.ts';
import { CONTROL_CHANNEL, type Outbox, type PresenceDirectory } from '../bus/types.ts';
import type { Hub, HubSession } from '../chat/hub.ts';
import { encode, type PresenceItem, type PresenceState } from '../protocol.ts';
import type { Roster } from './roster.ts';

export interface PresenceOptions {
  node: string;
  graceMs: number;
  coalesceMs: number;
  batchMs: number;
  /** Announcements of a node not heard from for this long expire (it crashed or drained). */
  nodeTtlMs: number;
}

/** Counters a metrics layer reads. */
export interface PresenceStats {
  /** Updates this node published to the bus. */
  published: number;
  /** Updates not published because the aggregate ended where it started (e.g. a reconnect within the grace period). */
  suppressed: number;
  /** Presence frames pushed to observers (one per observer per batch, bulk frames excluded). */
  frames: number;
  /** User entries in those frames. */
  items: number;
  bulkFrames: number;
  /** Users whose announcement expired with a silent node. */
  expired: number;
}

const RANK: Record<PresenceState, number> = { available: 3, idle: 2, away: 1, offline: 0 };

interface Entry { state: PresenceState; status?: string; ts: number }

const same = (a: Entry | undefined, b: Entry | undefined) => (a?.state ?? 'offline') === (b?.state ?? 'offline') && a?.status === b?.status;

/** The most available entry; ties go to the most recent. */
function best(entries: Iterable<Entry>): Entry | undefined {
  let top: Entry | undefined;
  for (const e of entries) if (!top || RANK[e.state] > RANK[top.state] || (RANK[e.state] === RANK[top.state] && e.ts > top.ts)) top = e;
  return top;
}

export class Presence {
  readonly stats: PresenceStats = { published: 0, suppressed: 0, frames: 0, items: 0, bulkFrames: 0, expired: 0 };
  readonly #out: Outbox;
  readonly #directory: PresenceDirectory;
  readonly #hub: Hub;
  readonly #roster: Roster;
  readonly #blocks: Blocks;
  readonly #opts: PresenceOptions;
  /** Local: user → session id → that device's state. */
  readonly #local = new Map<string, Map<string, Entry>>();
  /** Local users whose last session closed: their last aggregate, held through the grace period. */
  readonly #lingering = new Map<string, { entry: Entry | undefined; timer: NodeJS.Timeout }>();
  readonly #published = new Map<string, Entry>();
  /** Local users → the friends their last announcement went to. */
  readonly #audience = new Map<string, Set<string>>();
  readonly #lastPublishAt = new Map<string, number>();
  readonly #pending = new Map<string, NodeJS.Timeout>();
  /** Global: user → node → that node's aggregate. */
  readonly #table = new Map<string, Map<string, Entry>>();
  /** What observers were last told about each user. */
  readonly #seen = new Map<string, Entry>();
  readonly #batches = new Map<string, Map<string, PresenceItem>>();
  #flushTimer: NodeJS.Timeout | undefined;
  /** Node → when it was last heard from (a heartbeat or an announcement). */
  readonly #nodes = new Map<string, number>();
  readonly #heartbeat: NodeJS.Timeout;
  #closed = false;

  constructor(out: Outbox, hub: Hub, roster: Roster, blocks: Blocks, opts: PresenceOptions) {
    this.#out = out;
    this.#directory = out.bus.directory;
    this.#hub = hub;
    this.#roster = roster;
    this.#blocks = blocks;
    this.#opts = opts;
    // Heartbeat and expiry share one timer: announce this node, then drop nodes gone silent.
    this.#heartbeat = setInterval(() => this.#beat(), Math.max(50, Math.floor(opts.nodeTtlMs / 3)));
    this.#heartbeat.unref();
    this.#beat();
  }

  #beat(): void {
    void this.#out.toChannel(CONTROL_CHANNEL, { kind: 'node', node: this.#opts.node, ts: Date.now() });
    this.#directory.alive(this.#opts.node, this.#opts.nodeTtlMs).catch(() => undefined);
    this.#expireNodes();
  }

  /**
   * Reads the directory for users this node may never have heard announce (a local observer just
   * arrived or just became their friend) and applies what it finds; a failed read leaves them as known.
   */
  async prime(users: Iterable<string>): Promise<void> {
    const list = [...users];
    if (!list.length) return;
    const found = await this.#directory.get(list).catch(() => undefined);
    if (!found) return;
    for (const user of list) {
      const nodes = found.get(user);
      for (const [node, entry] of nodes ?? []) if (node !== this.#opts.node) this.apply(user, node, entry);
      // Entries this node holds from nodes the directory no longer lists (gone, or offline since a missed announcement).
      for (const node of [...(this.#table.get(user)?.keys() ?? [])]) {
        if (node !== this.#opts.node && !nodes?.has(node)) this.apply(user, node, { state: 'offline', ts: Date.now() });
      }
    }
  }

  // ── local sessions ────────────────────────────────────────────────────────────────────────────

  #aggregate(user: string): Entry | undefined {
    const sessions = this.#local.get(user);
    if (sessions?.size) return best(sessions.values());
    return this.#lingering.get(user)?.entry;
  }

  /** A session opened: it starts available; a pending offline announcement is cancelled. */
  opened(s: HubSession): void {
    const linger = this.#lingering.get(s.user);
    if (linger) { clearTimeout(linger.timer); this.#lingering.delete(s.user); }
    let sessions = this.#local.get(s.user);
    if (!sessions) this.#local.set(s.user, (sessions = new Map()));
    // A state the session set before this ran (a slow social load) stands.
    if (!sessions.has(s.id)) sessions.set(s.id, { state: 'available', ts: Date.now() });
    this.#schedule(s.user);
  }

  set(s: HubSession, state: Exclude<PresenceState, 'offline'>, status: string | undefined): PresenceItem {
    let sessions = this.#local.get(s.user);
    if (!sessions) this.#local.set(s.user, (sessions = new Map()));
    const entry: Entry = status === undefined ? { state, ts: Date.now() } : { state, status, ts: Date.now() };
    sessions.set(s.id, entry);
    this.#schedule(s.user);
    return this.#item(s.user, this.#aggregate(s.user));
  }

  closed(s: HubSession): void {
    const sessions = this.#local.get(s.user);
    if (!sessions) return;
    const before = best(sessions.values());
    sessions.delete(s.id);
    if (sessions.size) return this.#schedule(s.user);
    this.#local.delete(s.user);
    const timer = setTimeout(() => {
      this.#lingering.delete(s.user);
      this.#schedule(s.user);
    }, this.#opts.graceMs);
    timer.unref();
    this.#lingering.set(s.user, { entry: before, timer });
  }

  /** Coalescing: publish now if the user's window is open, else once at its end with the state then. */
  #schedule(user: string): void {
    if (this.#pending.has(user) || this.#closed) return;
    const wait = (this.#lastPublishAt.get(user) ?? -Infinity) + this.#opts.coalesceMs - Date.now();
    if (wait <= 0) return this.#publish(user);
    const timer = setTimeout(() => { this.#pending.delete(user); this.#publish(user); }, wait);
    timer.unref();
    this.#pending.set(user, timer);
  }

  #publish(user: string): void {
    const entry = this.#aggregate(user);
    if (same(entry, this.#published.get(user))) { this.stats.suppressed++; return; }
    const now = Date.now();
    if (entry && entry.state !== 'offline') this.#published.set(user, entry); else this.#published.delete(user);
    this.#lastPublishAt.set(user, now);
    if (!entry) {
      // Forget the window of a user who is gone, once it has passed.
      setTimeout(() => { if (!this.#published.has(user) && !this.#pending.has(user)) this.#lastPublishAt.delete(user); }, this.#opts.coalesceMs).unref();
    }
    this.stats.published++;
    const e = entry ?? { state: 'offline' as const, ts: now };
    const event = { kind: 'presence', user, node: this.#opts.node, state: e.state, ...(e.status !== undefined ? { status: e.status } : {}), ts: now } as const;
    this.#directory.put(user, this.#opts.node, e.state === 'offline' ? undefined : { state: e.state, ...(e.status !== undefined ? { status: e.status } : {}), ts: now }).catch(() => undefined);
    // Friends' nodes hear it on their channels; this node applies it here (its own watchers).
    this.apply(user, this.#opts.node, { state: e.state, ...(e.status !== undefined ? { status: e.status } : {}), ts: now });
    // The roster of a user gone offline is unloaded by then: the friends last announced to hear the offline.
    const friends = this.#roster.friendsOf(user);
    const audience = friends.size || entry ? new Set(friends) : this.#audience.get(user) ?? new Set<string>();
    if (entry) this.#audience.set(user, audience); else this.#audience.delete(user);
    void this.#out.toUsers(audience, event);
  }

  // ── every node's announcements → local observers ──────────────────────────────────────────────

  nodeAlive(node: string): void {
    this.#nodes.set(node, Date.now());
  }

  #expireNodes(): void {
    const deadline = Date.now() - this.#opts.nodeTtlMs;
    const gone = new Set([...this.#nodes].filter(([node, at]) => at < deadline && node !== this.#opts.node).map(([node]) => node));
    if (!gone.size) return;
    for (const node of gone) this.#nodes.delete(node);
    for (const [user, nodes] of [...this.#table]) {
      for (const node of nodes.keys()) {
        if (!gone.has(node)) continue;
        this.stats.expired++;
        this.apply(user, node, { state: 'offline', ts: Date.now() });
      }
    }
  }

  /** Applies a presence event from any node (this one included). */
  apply(user: string, node: string, entry: Entry): void {
    if (entry.state !== 'offline') this.#nodes.set(node, Date.now());
    let nodes = this.#table.get(user);
    if (entry.state === 'offline') nodes?.delete(node);
    else {
      if (!nodes) this.#table.set(user, (nodes = new Map()));
      nodes.set(node, entry);
    }
    if (nodes && nodes.size === 0) this.#table.delete(user);
    const now = nodes?.size ? best(nodes.values()) : undefined;
    if (same(now, this.#seen.get(user))) return;
    if (now) this.#seen.set(user, now); else this.#seen.delete(user);
    const item = this.#item(user, now ?? { state: 'offline', ts: entry.ts });
    for (const observer of this.#roster.watchersOf(user)) {
      if (!this.#blocks.blockedBy(observer, user)) this.enqueue(observer, item);
    }
  }

  /** The current item for `user` as `observer` may see it (offline when user blocks observer). */
  current(user: string, observer?: string): PresenceItem {
    if (observer !== undefined && this.#blocks.blockedBy(observer, user)) return { user, state: 'offline', ts: 0 };
    return this.#item(user, this.#seen.get(user));
  }

  #item(user: string, e: Entry | undefined): PresenceItem {
    if (!e) return { user, state: 'offline', ts: 0 };
    return e.status === undefined ? { user, state: e.state, ts: e.ts } : { user, state: e.state, status: e.status, ts: e.ts };
  }

  /** Queues an update for one observer; the next flush sends all of its updates in one frame. */
  enqueue(observer: string, item: PresenceItem): void {
    if (this.#closed) return;
    let batch = this.#batches.get(observer);
    if (!batch) this.#batches.set(observer, (batch = new Map()));
    batch.set(item.user, item);
    if (!this.#flushTimer) {
      this.#flushTimer = setTimeout(() => this.#flush(), this.#opts.batchMs);
      this.#flushTimer.unref();
    }
  }

  #flush(): void {
    this.#flushTimer = undefined;
    const batches = [...this.#batches];
    this.#batches.clear();
    for (const [observer, batch] of batches) {
      const sessions = this.#hub.sessionsOf(observer);
      if (!sessions.size) continue;
      const text = encode({ op: 'presence', users: [...batch.values()] });
      for (const s of sessions) s.push(text);
      this.stats.frames++;
      this.stats.items += batch.size;
    }
  }

  /** Sends a fresh session the presence of all of its user's friends in one frame. */
  bulk(s: HubSession): void {
    const users = [...this.#roster.friendsOf(s.user)].sort().map((f) => this.current(f, s.user));
    s.push(encode({ op: 'presence', bulk: true, users }));
    this.stats.bulkFrames++;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#flushTimer);
    for (const t of this.#pending.values()) clearTimeout(t);
    for (const l of this.#lingering.values()) clearTimeout(l.timer);
  }
}
