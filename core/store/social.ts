/**
 * The social part of the store contract: rosters with per-owner versions, encrypted notes, block
 * lists, privacy settings and read markers. SQLite implements it in sqlite-social.ts.
 */
import type { ChatId } from '../protocol.ts';

/** One side's view of a pair: friends, a request I sent ('out'), one I received ('in'), or nothing. */
export type RosterState = 'friend' | 'out' | 'in' | 'none';

/** A note as stored: AES-256-GCM ciphertext with its tag appended, the IV and the key id. */
export interface SealedNote {
  kid: string;
  iv: Buffer;
  ct: Buffer;
}

export interface RosterRow {
  peer: string;
  state: RosterState;
  /** The owner's roster version at which this row last changed. */
  ver: number;
  note?: SealedNote;
}

export interface RosterPage {
  /** The owner's current roster version. */
  ver: number;
  /** true: items is the whole roster; false: items are the changes since the asked version ('none' = removed). */
  full: boolean;
  items: RosterRow[];
}

/** Roster caps checked in the same transaction as a change: roster_full when a side would pass one. */
export interface RosterCaps {
  maxFriends: number;
  /** Requests a user has sent that are still pending. */
  maxPendingSent: number;
}

export interface NoteRow extends SealedNote {
  owner: string;
  peer: string;
}

export interface Privacy {
  /** Send and receive typing indicators. */
  typing: boolean;
  /** Share read markers with other members. */
  receipts: boolean;
}

export interface ReadMove {
  /** The private read marker before and after. */
  prev: number;
  read: number;
  /** The shared marker (what "read by" counts) before and after. */
  prevShared: number;
  shared: number;
  last: number;
}

export interface SocialStore {
  /**
   * Reads both sides of a pair, asks `decide` for the next states (it may throw a ParleyError) and
   * writes them in one transaction, bumping the version of each side that changed. Undefined when
   * nothing changed. A pair that ends at 'none' loses its notes.
   */
  rosterChange(a: string, b: string, decide: (a: RosterState, b: RosterState) => [RosterState, RosterState], caps?: RosterCaps): Promise<{ a: RosterRow; b: RosterRow } | undefined>;
  /** The whole roster (since undefined, unknown or too old) or the changes after `since`. */
  roster(owner: string, since?: number): Promise<RosterPage>;
  rosterState(owner: string, peer: string): Promise<RosterState>;
  friends(owner: string): Promise<string[]>;
  /** Sets (or with null deletes) a note; throws not_friend when the peer is not on the roster. */
  setNote(owner: string, peer: string, note: SealedNote | null): Promise<RosterRow>;
  /** Notes sealed under any key other than `kid`. */
  notesNotUnder(kid: string, limit: number): Promise<NoteRow[]>;
  /** Replaces a note only if it is still the given ciphertext (a concurrent write wins). */
  replaceNote(old: NoteRow, sealed: SealedNote): Promise<boolean>;
  noteKeyCounts(): Promise<Record<string, number>>;
  /** Adds a block; false when it existed. Throws block_list_full at `max`. */
  block(owner: string, target: string, max: number): Promise<boolean>;
  unblock(owner: string, target: string): Promise<boolean>;
  /** One page of the owner's block list in user-id order, after `after`. */
  blocks(owner: string, after: string | undefined, limit: number): Promise<string[]>;
  /** Everyone the owner blocks. */
  blocking(owner: string): Promise<string[]>;
  /** Everyone who blocks `target`. */
  blockers(target: string): Promise<string[]>;
  isBlocked(owner: string, target: string): Promise<boolean>;
  privacy(user: string): Promise<Privacy>;
  setPrivacy(user: string, patch: Partial<Privacy>): Promise<Privacy>;
  /**
   * Moves the user's read marker forward (never back); moves the shared marker too when `share`.
   * Throws not_member, or read_past_end when seq exceeds the last seq.
   */
  markRead(user: string, chat: ChatId, seq: number, share: boolean): Promise<ReadMove>;
  /** For each message in [from, to]: how many members other than its sender share a marker at or past it. */
  readCounts(chat: ChatId, from: number, to: number): Promise<Record<number, number>>;
}

/** A roster row joined with its sealed note, as both engines read it (ROW_SQL). */
export interface RosterJoinRow { peer: string; state: RosterState; ver: number; kid: string | null; iv: Buffer | null; ct: Buffer | null }

export const toRow = (r: RosterJoinRow): RosterRow => {
  const out: RosterRow = { peer: r.peer, state: r.state, ver: r.ver };
  if (r.kid !== null && r.iv !== null && r.ct !== null) out.note = { kid: r.kid, iv: r.iv, ct: r.ct };
  return out;
};

/** The roster rows of one owner with their notes; each engine adds its WHERE and ORDER BY. */
export const ROW_SQL = `SELECT r.peer, r.state, r.ver, n.kid, n.iv, n.ct FROM roster r
  LEFT JOIN notes n ON n.owner = r.owner AND n.peer = r.peer`;
