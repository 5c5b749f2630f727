/**
 * Per-user privacy settings (typing indicators on/off, read receipts shared or not). Cached for
 * users with a session on this node, kept current by `privacy` bus events from any node.
 */
import type { Outbox } from '../bus/types.ts';
import type { Privacy, SocialStore } from '../store/social.ts';

export class PrivacySettings {
  readonly #store: SocialStore;
  readonly #out: Outbox;
  readonly #cache = new Map<string, Privacy>();

  constructor(store: SocialStore, out: Outbox) {
    this.#store = store;
    this.#out = out;
  }

  async load(user: string): Promise<void> {
    this.#cache.set(user, await this.#store.privacy(user));
  }

  unload(user: string): void {
    this.#cache.delete(user);
  }

  /** The cached settings of a local user, or the defaults (both on) for anyone else. */
  cached(user: string): Privacy {
    return this.#cache.get(user) ?? { typing: true, receipts: true };
  }

  async get(user: string): Promise<Privacy> {
    return this.#cache.get(user) ?? this.#store.privacy(user);
  }

  async set(user: string, patch: Partial<Privacy>): Promise<Privacy> {
    if (patch.typing === undefined && patch.receipts === undefined) return this.get(user);
    const settings = await this.#store.setPrivacy(user, patch);
    void this.#out.toUsers([user], { kind: 'privacy', user, settings });
    return settings;
  }

  /** Applies a privacy event from any node. */
  apply(user: string, settings: Privacy): void {
    if (this.#cache.has(user)) this.#cache.set(user, settings);
  }
}
