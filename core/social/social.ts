/**
 * The social layer assembled: friends, blocks, privacy settings, presence, typing and receipts,
 * wired to the hub (sessions arriving and leaving), the bus (events from every node) and the
 * session's request dispatch. Subsystems are passed in; nothing here is a singleton.
 */
import type { Logger } from 'pino';
import { Blocks } from './blocks.ts';
import { Outbox, type Bus, type BusEvent } from '../bus/types.ts';
import type { ChatService } from '../chat/chat.ts';
import type { Config } from '../config.ts';
import type { Hub, HubSession } from '../chat/hub.ts';
import { Keyring, reencryptNotes } from './keyring.ts';
import { Presence, type PresenceStats } from './presence.ts';
import { PrivacySettings } from './privacy.ts';
import { encode, type Message, type SocialRequest } from '../protocol.ts';
import { Receipts } from './receipts.ts';
import { Roster } from './roster.ts';
import type { Store } from '../store/types.ts';
import { Typing, type TypingStats } from './typing.ts';

export interface SocialDeps {
  store: Store;
  bus: Bus;
  hub: Hub;
  chat: ChatService;
  config: Config;
  log: Logger;
  /** Overrides the `typing` setting per typing user (the `typing-indicators` flag plugs in here). */
  typingEnabled?: (user: string) => boolean;
  /** The `read-receipts` flag: false stops a user's reads from being shared with others. */
  readReceipts?: (user: string) => boolean;
  /** The `presence-coalescing` flag: false publishes every presence change (coalescing window 0). */
  presenceCoalescing?: () => boolean;
  /** A publish that failed after its change was stored (counted by the node); defaults to an error log. */
  publishFailed?: (err: unknown, event: BusEvent) => void;
}

/** Returned by `handle` when the request asked for no reply (fire-and-forget ops without an id). */
export const NO_REPLY: unique symbol = Symbol('no reply');

/** Ops that are answered only when they carry an id: they are frequent and need no confirmation. */
const QUIET = new Set<SocialRequest['op']>(['typing', 'presence', 'read']);

/** How often the keyring file is checked for a rotation made while the node runs. */
const KEYRING_CHECK_MS = 10_000;

export class Social {
  readonly roster: Roster;
  readonly blocks: Blocks;
  readonly privacy: PrivacySettings;
  readonly presence: Presence;
  readonly typing: Typing;
  readonly receipts: Receipts;
  readonly keyring: Keyring;
  readonly #deps: SocialDeps;
  /** Local users → number of their sessions here; their caches live while it is above 0. */
  readonly #refs = new Map<string, number>();
  readonly #unwatch: () => void;
  readonly #keyTimer: NodeJS.Timeout;
  #reencrypting: Promise<void> | undefined;
  #closed = false;

  constructor(deps: SocialDeps) {
    this.#deps = deps;
    const { store, bus, hub, chat, config } = deps;
    const out = new Outbox(bus, deps.publishFailed ?? ((err, event) => deps.log.error({ err, kind: event.kind }, 'publishing a social event failed')));
    this.keyring = new Keyring(config.notesKeyring ?? `${config.dataDir}/keyring.json`);
    this.blocks = new Blocks(store.social, out);
    this.privacy = new PrivacySettings(store.social, out);
    this.roster = new Roster(store.social, out, this.keyring, this.blocks);
    this.presence = new Presence(out, hub, this.roster, this.blocks, {
      node: config.nodeId!, graceMs: config.presenceGraceMs, batchMs: config.presenceBatchMs, nodeTtlMs: config.presenceNodeTtlMs,
      get coalesceMs() { return deps.presenceCoalescing?.() === false ? 0 : config.presenceCoalesceMs; },
    });
    this.typing = new Typing(out, chat, this.blocks, this.privacy, {
      enabled: deps.typingEnabled ?? (() => config.typing), throttleMs: config.typingThrottleMs, ttlMs: config.typingTtlMs,
    });
    this.receipts = new Receipts(store.social, out, chat, this.privacy, config.readByWindowMs, deps.readReceipts);
    this.#unwatch = hub.watch({ added: (s) => this.#added(s), removed: (s) => this.#removed(s) });
    this.#keyTimer = setInterval(() => { if (this.keyring.refresh()) this.reencrypt(); }, KEYRING_CHECK_MS);
    this.#keyTimer.unref();
    this.reencrypt();
  }

  /** Counters for the metrics layer. */
  stats(): { presence: PresenceStats; typing: TypingStats } {
    return { presence: this.presence.stats, typing: this.typing.stats };
  }

  /** Starts a background pass moving notes to the current key (once at a time; no-op when disabled). */
  reencrypt(): Promise<void> {
    if (!this.#deps.config.notesReencrypt || this.#closed) return Promise.resolve();
    this.#reencrypting ??= reencryptNotes(this.#deps.store.social, this.keyring)
      .then((moved) => { if (moved) this.#deps.log.info({ moved, kid: this.keyring.currentKid }, 'notes re-encrypted'); })
      .catch((err: unknown) => { if (!this.#closed) this.#deps.log.error({ err }, 'note re-encryption failed'); })
      .finally(() => { this.#reencrypting = undefined; });
    return this.#reencrypting;
  }

  // ── sessions ──────────────────────────────────────────────────────────────────────────────────

  #added(s: HubSession): void {
    const n = (this.#refs.get(s.user) ?? 0) + 1;
    this.#refs.set(s.user, n);
    // Friends on other nodes announced before this node listened for them: read the directory first.
    const ready = n === 1 ? this.#load(s.user).then(() => this.presence.prime(this.roster.friendsOf(s.user))) : Promise.resolve();
    // After the load (and after the session's welcome frame): count the device, then send the bulk frame.
    ready.then(() => {
      // The user's last session may have left while a slow store loaded: drop what the load cached.
      if (!this.#refs.has(s.user)) return this.#unload(s.user);
      if (this.#deps.hub.session(s.id) !== s) return;
      this.presence.opened(s);
      this.presence.bulk(s);
    }, (err: unknown) => this.#deps.log.error({ err, user: s.user }, 'loading social state failed'));
  }

  async #load(user: string): Promise<void> {
    await Promise.all([this.roster.load(user), this.blocks.load(user), this.privacy.load(user)]);
  }

  #removed(s: HubSession): void {
    this.presence.closed(s);
    const n = (this.#refs.get(s.user) ?? 1) - 1;
    if (n > 0) { this.#refs.set(s.user, n); return; }
    this.#refs.delete(s.user);
    this.typing.userGone(s.user);
    this.#unload(s.user);
  }

  #unload(user: string): void {
    this.roster.unload(user);
    this.blocks.unload(user);
    this.privacy.unload(user);
  }

  /** The session delivery filter: room messages from someone the viewer blocks are not delivered. */
  hides(viewer: string, m: Message): boolean {
    return m.from !== viewer && this.blocks.blocks(viewer, m.from);
  }

  /** ChatService hook: no 1:1 conversation is opened or posted to across a block. */
  beforeDirect = (user: string, peer: string): Promise<void> => this.blocks.assertOpen(user, peer, 'open or post to a 1:1 conversation with them');

  // ── requests ──────────────────────────────────────────────────────────────────────────────────

  /** Runs one social request for a session; NO_REPLY for a quiet op without an id. */
  async handle(s: HubSession, req: SocialRequest): Promise<unknown> {
    const result = await this.#run(s, req);
    return req.id === undefined && QUIET.has(req.op) ? NO_REPLY : result;
  }

  async #run(s: HubSession, req: SocialRequest): Promise<unknown> {
    const user = s.user;
    switch (req.op) {
      case 'friend.request': return { item: await this.roster.act(user, 'request', req.user) };
      case 'friend.accept': return { item: await this.roster.act(user, 'accept', req.user) };
      case 'friend.decline': return { item: await this.roster.act(user, 'decline', req.user) };
      case 'friend.cancel': return { item: await this.roster.act(user, 'cancel', req.user) };
      case 'friend.remove': return { item: await this.roster.act(user, 'remove', req.user) };
      case 'roster': return this.roster.fetch(user, req.ver);
      case 'note.set': return { item: await this.roster.setNote(user, req.user, req.note) };
      case 'block': return this.blocks.block(user, req.user);
      case 'unblock': return this.blocks.unblock(user, req.user);
      case 'blocks': return this.blocks.page(user, req.after, req.limit);
      case 'presence': return this.presence.set(s, req.state, req.status);
      case 'typing': return this.typing.handle(user, req.chat, req.state);
      case 'read': return this.receipts.read(user, req.chat, req.seq, s.id);
      case 'readby': return this.receipts.readBy(user, req.chat, req.from, req.to);
      case 'settings': return this.privacy.set(user, { typing: req.typing, receipts: req.receipts });
    }
  }

  // ── bus events from every node ────────────────────────────────────────────────────────────────

  /** Applies a social bus event to the caches and pushes its frames to local sessions. */
  dispatch(event: BusEvent): void {
    const hub = this.#deps.hub;
    const pushTo = (user: string, text: string, origin?: string) => {
      for (const s of hub.sessionsOf(user)) if (s.id !== origin) s.push(text);
    };
    switch (event.kind) {
      case 'roster': {
        if (hub.sessionsOf(event.user).size) pushTo(event.user, this.roster.pushFrame(event.user, event.ver, event.item));
        if (this.roster.apply(event.user, event.item)) {
          const peer = event.item.user;
          const observer = event.user;
          if (event.item.state !== 'friend') this.presence.enqueue(observer, { user: peer, state: 'offline', ts: 0 });
          // A new friend may be on a node this one never heard from: read the directory, then show them.
          else void this.presence.prime([peer]).then(() => this.presence.enqueue(observer, this.presence.current(peer, observer)));
        }
        return;
      }
      case 'block': {
        this.blocks.apply(event.user, event.target, event.blocked);
        pushTo(event.user, encode({ op: 'block.push', user: event.target, blocked: event.blocked }));
        // The blocked user's view of the blocker: offline while blocked, the real state after.
        if (this.roster.friendsOf(event.target).has(event.user)) this.presence.enqueue(event.target, this.presence.current(event.user, event.target));
        return;
      }
      case 'privacy':
        this.privacy.apply(event.user, event.settings);
        pushTo(event.user, encode({ op: 'settings.push', settings: event.settings }));
        return;
      case 'node':
        this.presence.nodeAlive(event.node);
        return;
      case 'msg':
        this.typing.messageSent(event.message.from, event.message.chat);
        return;
      case 'presence':
        this.presence.apply(event.user, event.node, { state: event.state, ...(event.status !== undefined ? { status: event.status } : {}), ts: event.ts });
        return;
      case 'typing': {
        const text = encode({ op: 'typing', chat: event.chat, user: event.user, state: event.state, ttlMs: event.ttlMs });
        for (const viewer of event.to) if (hub.sessionsOf(viewer).size && this.typing.accepts(viewer, event.user)) pushTo(viewer, text);
        return;
      }
      case 'read': {
        const text = encode({ op: 'read', chat: event.chat, user: event.user, seq: event.seq });
        // Checked when pushed, on the viewer's node: a block made after the read still hides it.
        for (const viewer of event.to) {
          if (viewer !== event.user && (this.blocks.blocks(viewer, event.user) || this.blocks.blockedBy(viewer, event.user))) continue;
          pushTo(viewer, text, event.origin);
        }
        return;
      }
      case 'readby': {
        const text = encode({ op: 'readby', chat: event.chat, counts: event.counts });
        for (const viewer of event.to) pushTo(viewer, text);
        return;
      }
      default:
    }
  }

  /** Stops timers; idempotent. Call before the store closes. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keyTimer);
    this.#unwatch();
    this.presence.close();
    this.typing.close();
    this.receipts.close();
    await this.#reencrypting;
  }
}
