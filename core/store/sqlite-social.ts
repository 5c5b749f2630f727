/**
 * SQLite implementation of the social store. Writes go through the owning SqliteStore's group
 * commit (`write`), so a roster change, a block or a read marker is one savepoint in a batch.
 */
import type Database from 'better-sqlite3';
import { ParleyError } from '../errors.ts';
import type { ChatId } from '../protocol.ts';
import type { NoteRow, Privacy, ReadMove, RosterCaps, RosterPage, RosterRow, RosterState, SealedNote, SocialStore } from './social.ts';
import { ROW_SQL, toRow, type RosterJoinRow as Row } from './social.ts';

type Write = <T>(run: () => T) => Promise<T>;

export class SqliteSocial implements SocialStore {
  readonly #write: Write;
  readonly #s;

  constructor(db: Database.Database, write: Write) {
    this.#write = write;
    this.#s = {
      state: db.prepare('SELECT state FROM roster WHERE owner = ? AND peer = ?').pluck(),
      upsert: db.prepare(`INSERT INTO roster(owner, peer, state, ver, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(owner, peer) DO UPDATE SET state = excluded.state, ver = excluded.ver, updated_at = excluded.updated_at`),
      bump: db.prepare(`INSERT INTO roster_versions(owner, ver) VALUES (?, 1)
        ON CONFLICT(owner) DO UPDATE SET ver = ver + 1 RETURNING ver`).pluck(),
      ver: db.prepare('SELECT ver FROM roster_versions WHERE owner = ?').pluck(),
      row: db.prepare(`${ROW_SQL} WHERE r.owner = ? AND r.peer = ?`),
      live: db.prepare(`${ROW_SQL} WHERE r.owner = ? AND r.state != 'none' ORDER BY r.peer`),
      liveCount: db.prepare(`SELECT count(*) FROM roster WHERE owner = ? AND state != 'none'`).pluck(),
      since: db.prepare(`${ROW_SQL} WHERE r.owner = ? AND r.ver > ? ORDER BY r.ver`),
      sinceCount: db.prepare('SELECT count(*) FROM roster WHERE owner = ? AND ver > ?').pluck(),
      friends: db.prepare(`SELECT peer FROM roster WHERE owner = ? AND state = 'friend'`).pluck(),
      countState: db.prepare('SELECT count(*) FROM roster WHERE owner = ? AND state = ?').pluck(),
      setRowVer: db.prepare('UPDATE roster SET ver = ?, updated_at = ? WHERE owner = ? AND peer = ?'),
      putNote: db.prepare(`INSERT INTO notes(owner, peer, kid, iv, ct, updated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(owner, peer) DO UPDATE SET kid = excluded.kid, iv = excluded.iv, ct = excluded.ct, updated_at = excluded.updated_at`),
      deleteNote: db.prepare('DELETE FROM notes WHERE owner = ? AND peer = ?'),
      notesNotUnder: db.prepare('SELECT owner, peer, kid, iv, ct FROM notes WHERE kid != ? LIMIT ?'),
      replaceNote: db.prepare('UPDATE notes SET kid = ?, iv = ?, ct = ? WHERE owner = ? AND peer = ? AND kid = ? AND iv = ?'),
      keyCounts: db.prepare('SELECT kid, count(*) AS n FROM notes GROUP BY kid'),
      block: db.prepare('INSERT OR IGNORE INTO blocks(owner, target, created_at) VALUES (?, ?, ?)'),
      unblock: db.prepare('DELETE FROM blocks WHERE owner = ? AND target = ?'),
      blockCount: db.prepare('SELECT count(*) FROM blocks WHERE owner = ?').pluck(),
      blocksPage: db.prepare('SELECT target FROM blocks WHERE owner = ? AND target > ? ORDER BY target LIMIT ?').pluck(),
      blocking: db.prepare('SELECT target FROM blocks WHERE owner = ?').pluck(),
      blockers: db.prepare('SELECT owner FROM blocks WHERE target = ?').pluck(),
      isBlocked: db.prepare('SELECT 1 FROM blocks WHERE owner = ? AND target = ?').pluck(),
      privacy: db.prepare('SELECT typing, receipts FROM user_settings WHERE user = ?'),
      putPrivacy: db.prepare(`INSERT INTO user_settings(user, typing, receipts) VALUES (?, ?, ?)
        ON CONFLICT(user) DO UPDATE SET typing = excluded.typing, receipts = excluded.receipts`),
      marker: db.prepare('SELECT m.read_seq, m.receipt_seq, c.last_seq FROM members m JOIN chats c ON c.id = m.chat WHERE m.chat = ? AND m.user = ?'),
      setMarker: db.prepare('UPDATE members SET read_seq = ?, receipt_seq = ? WHERE chat = ? AND user = ?'),
      readCounts: db.prepare(`SELECT g.seq, (SELECT count(*) FROM members x WHERE x.chat = g.chat AND x.user != g.sender AND x.receipt_seq >= g.seq) AS n
        FROM messages g WHERE g.chat = ? AND g.seq BETWEEN ? AND ? ORDER BY g.seq`),
    };
  }

  rosterChange(a: string, b: string, decide: (a: RosterState, b: RosterState) => [RosterState, RosterState], caps?: RosterCaps): Promise<{ a: RosterRow; b: RosterRow } | undefined> {
    return this.#write(() => {
      const sa = (this.#s.state.get(a, b) as RosterState | undefined) ?? 'none';
      const sb = (this.#s.state.get(b, a) as RosterState | undefined) ?? 'none';
      const [na, nb] = decide(sa, sb);
      if (na === sa && nb === sb) return undefined;
      if (caps) for (const [owner, from, to] of [[a, sa, na], [b, sb, nb]] as const) this.#checkCap(owner, from, to, caps, owner === a);
      const now = Date.now();
      for (const [owner, peer, from, to] of [[a, b, sa, na], [b, a, sb, nb]] as const) {
        if (from === to) continue;
        this.#s.upsert.run(owner, peer, to, this.#s.bump.get(owner) as number, now);
        if (to === 'none') this.#s.deleteNote.run(owner, peer);
      }
      return { a: toRow(this.#s.row.get(a, b) as Row), b: toRow(this.#s.row.get(b, a) as Row) };
    });
  }

  #checkCap(owner: string, from: RosterState, to: RosterState, caps: RosterCaps, self: boolean): void {
    if (from === to || (to !== 'friend' && to !== 'out')) return;
    const max = to === 'friend' ? caps.maxFriends : caps.maxPendingSent;
    if ((this.#s.countState.get(owner, to) as number) < max) return;
    const what = to === 'friend' ? `${max} friends` : `${max} pending friend requests`;
    throw new ParleyError('roster_full', self ? `your roster holds at most ${what}` : `${owner}'s roster holds at most ${what}`, { user: owner, max });
  }

  async roster(owner: string, since?: number): Promise<RosterPage> {
    const ver = (this.#s.ver.get(owner) as number | undefined) ?? 0;
    // An unknown version (ahead of ours, e.g. from another database) or a diff larger than the roster gets the whole roster.
    if (since !== undefined && since <= ver && (this.#s.sinceCount.get(owner, since) as number) <= (this.#s.liveCount.get(owner) as number)) {
      return { ver, full: false, items: (this.#s.since.all(owner, since) as Row[]).map(toRow) };
    }
    return { ver, full: true, items: (this.#s.live.all(owner) as Row[]).map(toRow) };
  }

  async rosterState(owner: string, peer: string): Promise<RosterState> {
    return (this.#s.state.get(owner, peer) as RosterState | undefined) ?? 'none';
  }

  async friends(owner: string): Promise<string[]> {
    return this.#s.friends.all(owner) as string[];
  }

  setNote(owner: string, peer: string, note: SealedNote | null): Promise<RosterRow> {
    return this.#write(() => {
      const state = this.#s.state.get(owner, peer) as RosterState | undefined;
      if (state === undefined || state === 'none') throw new ParleyError('not_friend', `${peer} is not on your roster; notes are kept on friends and pending requests`, { user: peer });
      const now = Date.now();
      if (note) this.#s.putNote.run(owner, peer, note.kid, note.iv, note.ct, now);
      else this.#s.deleteNote.run(owner, peer);
      this.#s.setRowVer.run(this.#s.bump.get(owner) as number, now, owner, peer);
      return toRow(this.#s.row.get(owner, peer) as Row);
    });
  }

  async notesNotUnder(kid: string, limit: number): Promise<NoteRow[]> {
    return this.#s.notesNotUnder.all(kid, limit) as NoteRow[];
  }

  replaceNote(old: NoteRow, sealed: SealedNote): Promise<boolean> {
    return this.#write(() => this.#s.replaceNote.run(sealed.kid, sealed.iv, sealed.ct, old.owner, old.peer, old.kid, old.iv).changes > 0);
  }

  async noteKeyCounts(): Promise<Record<string, number>> {
    return Object.fromEntries((this.#s.keyCounts.all() as { kid: string; n: number }[]).map((r) => [r.kid, r.n]));
  }

  block(owner: string, target: string, max: number): Promise<boolean> {
    return this.#write(() => {
      if (this.#s.isBlocked.get(owner, target)) return false;
      if ((this.#s.blockCount.get(owner) as number) >= max) throw new ParleyError('block_list_full', `a block list holds at most ${max} users`, { max });
      return this.#s.block.run(owner, target, Date.now()).changes > 0;
    });
  }

  unblock(owner: string, target: string): Promise<boolean> {
    return this.#write(() => this.#s.unblock.run(owner, target).changes > 0);
  }

  async blocks(owner: string, after: string | undefined, limit: number): Promise<string[]> {
    return this.#s.blocksPage.all(owner, after ?? '', limit) as string[];
  }

  async blocking(owner: string): Promise<string[]> {
    return this.#s.blocking.all(owner) as string[];
  }

  async blockers(target: string): Promise<string[]> {
    return this.#s.blockers.all(target) as string[];
  }

  async isBlocked(owner: string, target: string): Promise<boolean> {
    return this.#s.isBlocked.get(owner, target) !== undefined;
  }

  async privacy(user: string): Promise<Privacy> {
    const r = this.#s.privacy.get(user) as { typing: number; receipts: number } | undefined;
    return { typing: r ? r.typing === 1 : true, receipts: r ? r.receipts === 1 : true };
  }

  setPrivacy(user: string, patch: Partial<Privacy>): Promise<Privacy> {
    return this.#write(() => {
      const r = this.#s.privacy.get(user) as { typing: number; receipts: number } | undefined;
      const next: Privacy = { typing: patch.typing ?? (r ? r.typing === 1 : true), receipts: patch.receipts ?? (r ? r.receipts === 1 : true) };
      this.#s.putPrivacy.run(user, next.typing ? 1 : 0, next.receipts ? 1 : 0);
      return next;
    });
  }

  markRead(user: string, chat: ChatId, seq: number, share: boolean): Promise<ReadMove> {
    return this.#write(() => {
      const r = this.#s.marker.get(chat, user) as { read_seq: number; receipt_seq: number; last_seq: number } | undefined;
      if (!r) throw new ParleyError('not_member', `you are not a member of ${chat}`, { chat });
      if (seq > r.last_seq) throw new ParleyError('read_past_end', `the read marker must be at most the last seq ${r.last_seq} of ${chat}, got ${seq}`, { chat, lastSeq: r.last_seq });
      const read = Math.max(r.read_seq, seq);
      const shared = share ? Math.max(r.receipt_seq, seq) : r.receipt_seq;
      if (read !== r.read_seq || shared !== r.receipt_seq) this.#s.setMarker.run(read, shared, chat, user);
      return { prev: r.read_seq, read, prevShared: r.receipt_seq, shared, last: r.last_seq };
    });
  }

  async readCounts(chat: ChatId, from: number, to: number): Promise<Record<number, number>> {
    return Object.fromEntries((this.#s.readCounts.all(chat, from, to) as { seq: number; n: number }[]).map((r) => [r.seq, r.n]));
  }
}
