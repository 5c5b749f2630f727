/**
 * Block lists: incremental (one user per block/unblock, never the whole list), paged on fetch, and
 * pushed to every session of the owner. Both directions are cached for users with a session on this
 * node (whom they block, who blocks them), so delivery filters are synchronous lookups.
 */
import type { Outbox } from '../bus/types.ts';
import { ParleyError } from '../errors.ts';
import { LIMITS } from '../protocol.ts';
import type { SocialStore } from '../store/social.ts';

export class Blocks {
  readonly #store: SocialStore;
  readonly #out: Outbox;
  /** Local user → users they block. */
  readonly #blocking = new Map<string, Set<string>>();
  /** Local user → users who block them. */
  readonly #blockers = new Map<string, Set<string>>();

  constructor(store: SocialStore, out: Outbox) {
    this.#store = store;
    this.#out = out;
  }

  async load(user: string): Promise<void> {
    const [blocking, blockers] = await Promise.all([this.#store.blocking(user), this.#store.blockers(user)]);
    this.#blocking.set(user, new Set(blocking));
    this.#blockers.set(user, new Set(blockers));
  }

  unload(user: string): void {
    this.#blocking.delete(user);
    this.#blockers.delete(user);
  }

  /** Whether local user `viewer` blocks `other` (false when viewer is not loaded here). */
  blocks(viewer: string, other: string): boolean {
    return this.#blocking.get(viewer)?.has(other) ?? false;
  }

  /** Whether `other` blocks local user `viewer`. */
  blockedBy(viewer: string, other: string): boolean {
    return this.#blockers.get(viewer)?.has(other) ?? false;
  }

  /**
   * Whether either of two users blocks the other; answers from the cache when both are local (a
   * block made through another node may not have reached this cache yet: the store answers then).
   */
  async between(a: string, b: string): Promise<{ aBlocksB: boolean; bBlocksA: boolean }> {
    if (this.#blocking.has(a) && this.#blocking.has(b)) return { aBlocksB: this.blocks(a, b), bBlocksA: this.blockedBy(a, b) };
    const [aBlocksB, bBlocksA] = await Promise.all([this.#store.isBlocked(a, b), this.#store.isBlocked(b, a)]);
    return { aBlocksB, bBlocksA };
  }

  /** Throws `blocked` when either user blocks the other; `what` names the attempted action. */
  async assertOpen(user: string, peer: string, what: string): Promise<void> {
    const { aBlocksB, bBlocksA } = await this.between(user, peer);
    if (aBlocksB) throw new ParleyError('blocked', `you blocked ${peer}; unblock them to ${what}`, { user: peer, byYou: true });
    if (bBlocksA) throw new ParleyError('blocked', `${peer} blocked you; you cannot ${what}`, { user: peer, byYou: false });
  }

  async block(owner: string, target: string): Promise<{ user: string; blocked: true; changed: boolean }> {
    if (owner === target) throw new ParleyError('self_target', 'you cannot block yourself');
    const changed = await this.#store.block(owner, target, LIMITS.maxBlocks);
    // Both ends: the owner's sessions get the push, the target's node updates its filters.
    if (changed) void this.#out.toUsers([owner, target], { kind: 'block', user: owner, target, blocked: true });
    return { user: target, blocked: true, changed };
  }

  async unblock(owner: string, target: string): Promise<{ user: string; blocked: false; changed: boolean }> {
    if (owner === target) throw new ParleyError('self_target', 'you cannot unblock yourself');
    const changed = await this.#store.unblock(owner, target);
    if (changed) void this.#out.toUsers([owner, target], { kind: 'block', user: owner, target, blocked: false });
    return { user: target, blocked: false, changed };
  }

  /** One page in user-id order; `next` is the `after` of the following page. */
  async page(owner: string, after: string | undefined, limit: number = LIMITS.defaultBlocksPage): Promise<{ users: string[]; next?: string }> {
    const users = await this.#store.blocks(owner, after, limit + 1);
    if (users.length <= limit) return { users };
    const page = users.slice(0, limit);
    return { users: page, next: page[page.length - 1]! };
  }

  /** Applies a block event from any node to the cached sets. */
  apply(owner: string, target: string, blocked: boolean): void {
    const a = this.#blocking.get(owner);
    const b = this.#blockers.get(target);
    if (blocked) { a?.add(target); b?.add(owner); } else { a?.delete(target); b?.delete(owner); }
  }
}
