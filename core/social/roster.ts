/**
 * Friends: a bidirectional roster built from three messages (request, accept or decline, both
 * notified), with cancel and remove. Every change bumps the version of each side that changed, so
 * a reconnecting client asks for the changes since its version instead of the whole roster.
 * Notes on friends are sealed by the keyring before they reach the store.
 */
import type { Blocks } from './blocks.ts';
import type { Outbox, RosterEventItem } from '../bus/types.ts';
import { ParleyError } from '../errors.ts';
import type { Keyring } from './keyring.ts';
import { encode, type FriendAction, type FriendState, type RosterItem } from '../protocol.ts';
import type { RosterRow, RosterState, SealedNote, SocialStore } from '../store/social.ts';

/** Store states as clients see them: 'sent' = I asked, 'received' = they asked. */
const WIRE: Record<RosterState, FriendState> = { friend: 'friend', out: 'sent', in: 'received', none: 'none' };

/** Caps on one user's roster: friends, and requests sent and still pending (against request spam). */
export const ROSTER_CAPS = Object.freeze({ maxFriends: 5000, maxPendingSent: 500 });

/**
 * The roster state machine, from the acting user's side: (my state, their state) → next states.
 * Throws the error a client gets for an action that does not apply.
 */
export function transition(action: FriendAction, mine: RosterState, peer: string): [RosterState, RosterState] {
  switch (action) {
    case 'request':
      if (mine === 'friend') throw new ParleyError('already_friends', `you and ${peer} are already friends`, { user: peer });
      if (mine === 'out') return ['out', 'in'];
      // They asked first: a request back is an accept, as in XMPP's mutual subscription.
      if (mine === 'in') return ['friend', 'friend'];
      return ['out', 'in'];
    case 'accept':
      if (mine === 'friend') throw new ParleyError('already_friends', `you and ${peer} are already friends`, { user: peer });
      if (mine !== 'in') throw new ParleyError('no_request', `${peer} has not sent you a friend request`, { user: peer });
      return ['friend', 'friend'];
    case 'decline':
      if (mine !== 'in') throw new ParleyError('no_request', `${peer} has not sent you a friend request`, { user: peer });
      return ['none', 'none'];
    case 'cancel':
      if (mine !== 'out') throw new ParleyError('no_request', `you have no pending friend request to ${peer}`, { user: peer });
      return ['none', 'none'];
    case 'remove':
      if (mine !== 'friend') throw new ParleyError('no_request', `you and ${peer} are not friends`, { user: peer });
      return ['none', 'none'];
  }
}

const sealedOut = (n: SealedNote) => ({ kid: n.kid, iv: n.iv.toString('base64'), ct: n.ct.toString('base64') });
const sealedIn = (n: { kid: string; iv: string; ct: string }): SealedNote => ({ kid: n.kid, iv: Buffer.from(n.iv, 'base64'), ct: Buffer.from(n.ct, 'base64') });

export class Roster {
  readonly #store: SocialStore;
  readonly #out: Outbox;
  readonly #keyring: Keyring;
  readonly #blocks: Blocks;
  /** Local user → their friends. */
  readonly #friends = new Map<string, Set<string>>();
  /** Friend → local users who have them as a friend: the observers of their presence on this node. */
  readonly #watchers = new Map<string, Set<string>>();

  constructor(store: SocialStore, out: Outbox, keyring: Keyring, blocks: Blocks) {
    this.#store = store;
    this.#out = out;
    this.#keyring = keyring;
    this.#blocks = blocks;
  }

  // ── cache of local users' friends ──────────────────────────────────────────────────────────────

  async load(user: string): Promise<void> {
    const friends = await this.#store.friends(user);
    this.unload(user);
    this.#friends.set(user, new Set(friends));
    for (const f of friends) this.#watch(f, user, true);
  }

  unload(user: string): void {
    for (const f of this.#friends.get(user) ?? []) this.#watch(f, user, false);
    this.#friends.delete(user);
  }

  #watch(friend: string, user: string, on: boolean): void {
    let set = this.#watchers.get(friend);
    if (on) {
      if (!set) this.#watchers.set(friend, (set = new Set()));
      set.add(user);
    } else if (set?.delete(user) && set.size === 0) this.#watchers.delete(friend);
  }

  /** Friends of a local user (empty when not loaded here). */
  friendsOf(user: string): ReadonlySet<string> {
    return this.#friends.get(user) ?? new Set();
  }

  /** Local users who have `user` as a friend. */
  watchersOf(user: string): ReadonlySet<string> {
    return this.#watchers.get(user) ?? new Set();
  }

  /** Applies a roster event from any node; returns whether the pair's friendship changed for a local user. */
  apply(user: string, item: RosterEventItem): boolean {
    const set = this.#friends.get(user);
    if (!set) return false;
    const was = set.has(item.user);
    const is = item.state === 'friend';
    if (was === is) return false;
    if (is) set.add(item.user); else set.delete(item.user);
    this.#watch(item.user, user, is);
    return true;
  }

  // ── operations ────────────────────────────────────────────────────────────────────────────────

  async act(user: string, action: FriendAction, peer: string): Promise<RosterItem> {
    if (user === peer) throw new ParleyError('self_target', 'a friendship needs two different users');
    if (action === 'request' || action === 'accept') await this.#blocks.assertOpen(user, peer, 'send or accept friend requests');
    const changed = await this.#store.rosterChange(user, peer, (mine) => transition(action, mine, peer), ROSTER_CAPS);
    if (!changed) return { user: peer, state: WIRE[await this.#store.rosterState(user, peer)] };
    this.#publish(user, changed.a);
    this.#publish(peer, changed.b);
    return this.toItem(user, changed.a);
  }

  async fetch(user: string, ver: number | undefined): Promise<{ ver: number; full: boolean; items: RosterItem[] }> {
    const page = await this.#store.roster(user, ver);
    return { ver: page.ver, full: page.full, items: page.items.map((r) => this.toItem(user, r)) };
  }

  async setNote(user: string, peer: string, note: string | null): Promise<RosterItem> {
    if (user === peer) throw new ParleyError('self_target', 'notes are kept on other users');
    const row = await this.#store.setNote(user, peer, note === null ? null : this.#keyring.seal(user, peer, note));
    this.#publish(user, row);
    return this.toItem(user, row);
  }

  async state(user: string, peer: string): Promise<FriendState> {
    return WIRE[await this.#store.rosterState(user, peer)];
  }

  /** Opens the note only for its owner: this is the one place a plaintext note exists. */
  toItem(owner: string, row: RosterRow): RosterItem {
    const item: RosterItem = { user: row.peer, state: WIRE[row.state] };
    if (row.note) item.note = this.#keyring.open(owner, row.peer, row.note);
    return item;
  }

  /** The push frame for the owner's sessions, with the note opened on this node. */
  pushFrame(owner: string, ver: number, item: RosterEventItem): string {
    const row: RosterRow = { peer: item.user, state: item.state, ver };
    if (item.note) row.note = sealedIn(item.note);
    return encode({ op: 'roster.push', ver, item: this.toItem(owner, row) });
  }

  #publish(owner: string, row: RosterRow): void {
    const item: RosterEventItem = { user: row.peer, state: row.state };
    if (row.note) item.note = sealedOut(row.note);
    void this.#out.toUsers([owner], { kind: 'roster', user: owner, ver: row.ver, item });
  }
}
