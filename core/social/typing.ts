/**
 * Typing indicators: ephemeral (never stored), never echoed to the sender, throttled per user per
 * conversation (extra "start"s are dropped and counted, not errors), expiring on their own (the
 * server relays "stop" for a "start" that was neither renewed nor stopped within the TTL), and
 * switchable server-wide and per user. Receivers are filtered on their own node, where their
 * privacy settings and block lists are cached.
 */
import type { Blocks } from './blocks.ts';
import type { Outbox } from '../bus/types.ts';
import type { ChatService } from '../chat/chat.ts';
import { ParleyError } from '../errors.ts';
import type { PrivacySettings } from './privacy.ts';
import { directMembers, type ChatId } from '../protocol.ts';

export interface TypingOptions {
  /** Switch read on every typing op, per typing user (configuration and the `typing-indicators` flag). */
  enabled: (user: string) => boolean;
  throttleMs: number;
  ttlMs: number;
}

/** Counters a metrics layer reads. */
export interface TypingStats {
  relayed: number;
  droppedDisabled: number;
  droppedPrivacy: number;
  droppedThrottled: number;
  /** "stop" for a conversation the user was not typing in. */
  droppedIdle: number;
  /** Receivers skipped because they turned typing off or block (or are blocked by) the typer. */
  filtered: number;
  expired: number;
}

export type TypingResult = { sent: true } | { sent: false; reason: 'disabled' | 'privacy' | 'throttled' | 'idle' };

interface Active { user: string; chat: ChatId; expiresAt: number; to: readonly string[] }

export class Typing {
  readonly stats: TypingStats = { relayed: 0, droppedDisabled: 0, droppedPrivacy: 0, droppedThrottled: 0, droppedIdle: 0, filtered: 0, expired: 0 };
  readonly #out: Outbox;
  readonly #chat: ChatService;
  readonly #blocks: Blocks;
  readonly #privacy: PrivacySettings;
  readonly #opts: TypingOptions;
  readonly #active = new Map<string, Active>();
  /** When each user's last "start" per chat was relayed: only a message resets it, not a "stop". */
  readonly #lastStart = new Map<string, number>();
  readonly #sweep: NodeJS.Timeout;

  constructor(out: Outbox, chat: ChatService, blocks: Blocks, privacy: PrivacySettings, opts: TypingOptions) {
    this.#out = out;
    this.#chat = chat;
    this.#blocks = blocks;
    this.#privacy = privacy;
    this.#opts = opts;
    this.#sweep = setInterval(() => this.#expire(), Math.max(50, Math.floor(opts.ttlMs / 4)));
    this.#sweep.unref();
  }

  async handle(user: string, chat: ChatId, state: 'start' | 'stop'): Promise<TypingResult> {
    if (!this.#opts.enabled(user)) { this.stats.droppedDisabled++; return { sent: false, reason: 'disabled' }; }
    const pair = directMembers(chat);
    if (pair?.includes(user)) await this.#blocks.assertOpen(user, pair[0] === user ? pair[1] : pair[0], 'send typing indicators to them');
    const members = await this.#chat.membersOf(chat);
    if (!members?.has(user)) throw new ParleyError('not_member', `you are not a member of ${chat}`, { chat });
    if (!(await this.#privacy.get(user)).typing) { this.stats.droppedPrivacy++; return { sent: false, reason: 'privacy' }; }
    const key = `${user}\0${chat}`;
    const now = Date.now();
    const active = this.#active.get(key);
    if (state === 'stop') {
      if (!active) { this.stats.droppedIdle++; return { sent: false, reason: 'idle' }; }
      this.#active.delete(key);
      await this.#stop(active);
      return { sent: true };
    }
    const last = this.#lastStart.get(key);
    if (last !== undefined && now - last < this.#opts.throttleMs) { this.stats.droppedThrottled++; return { sent: false, reason: 'throttled' }; }
    const to = [...members].filter((m) => m !== user);
    this.#lastStart.set(key, now);
    this.#active.set(key, { user, chat, expiresAt: now + this.#opts.ttlMs, to });
    this.#relay(user, chat, 'start', to);
    return { sent: true };
  }

  #relay(user: string, chat: ChatId, state: 'start' | 'stop', to: readonly string[]): void {
    this.stats.relayed++;
    void this.#out.toUsers(to, { kind: 'typing', chat, user, state, ttlMs: this.#opts.ttlMs, to });
  }

  /** Relays the end of an indicator to those who saw it start and are members still (someone may have left since). */
  async #stop(a: Active): Promise<void> {
    const members = await this.#chat.membersOf(a.chat);
    const to = a.to.filter((m) => members?.has(m));
    if (to.length) this.#relay(a.user, a.chat, 'stop', to);
  }

  /** Whether a local receiver gets a typing event: not when they turned typing off or a block stands between them. */
  accepts(viewer: string, typer: string): boolean {
    const ok = this.#privacy.cached(viewer).typing && !this.#blocks.blocks(viewer, typer) && !this.#blocks.blockedBy(viewer, typer);
    if (!ok) this.stats.filtered++;
    return ok;
  }

  #expire(): void {
    const now = Date.now();
    for (const [key, a] of this.#active) {
      if (a.expiresAt > now) continue;
      this.#active.delete(key);
      this.stats.expired++;
      this.#stopQuietly(a);
    }
    for (const [key, at] of this.#lastStart) if (now - at >= this.#opts.throttleMs && !this.#active.has(key)) this.#lastStart.delete(key);
  }

  /** A stop nobody awaits (expiry, a user gone): a failed member lookup loses only an ephemeral push. */
  #stopQuietly(a: Active): void {
    this.#stop(a).catch(() => undefined);
  }

  /**
   * The user sent a message to the chat: their indicator ends without a relayed "stop" (receivers
   * clear it on the message itself), and their next "start" is not throttled.
   */
  messageSent(user: string, chat: ChatId): void {
    this.#active.delete(`${user}\0${chat}`);
    this.#lastStart.delete(`${user}\0${chat}`);
  }

  /** The user's last session on this node closed: whatever they were typing stops now. */
  userGone(user: string): void {
    for (const [key, a] of this.#active) {
      if (a.user !== user) continue;
      this.#active.delete(key);
      this.#stopQuietly(a);
    }
  }

  close(): void {
    clearInterval(this.#sweep);
  }
}
