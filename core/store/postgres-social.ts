/**
 * PostgreSQL implementation of the social store. Changes that read before they write lock what
 * they depend on first (the owners' roster_versions rows, in id order; a block list by advisory
 * lock; the member row of a read marker), so nodes changing the same users at once stay exact.
 */
import { ParleyError } from '../errors.ts';
import type { ChatId } from '../protocol.ts';
import type { PgDb, Query } from './postgres-db.ts';
import type { NoteRow, Privacy, ReadMove, RosterCaps, RosterPage, RosterRow, RosterState, SealedNote, SocialStore } from './social.ts';
import { ROW_SQL, toRow, type RosterJoinRow as Row } from './social.ts';

/** First key of the advisory locks that serialize changes to one owner's block list. */
const BLOCK_LOCK = 0x626c6f63; // "bloc"

/** Locks the roster versions of `owners` (creating them at 0) in id order: every roster write of an owner queues here. */
async function lockOwners(t: Query, owners: readonly string[]): Promise<void> {
  const sorted = [...new Set(owners)].sort();
  await t('INSERT INTO roster_versions(owner, ver) SELECT o, 0 FROM unnest($1::text[]) AS o ON CONFLICT DO NOTHING', [sorted]);
  await t('SELECT owner FROM roster_versions WHERE owner = ANY($1::text[]) ORDER BY owner FOR UPDATE', [sorted]);
}

async function bump(t: Query, owner: string): Promise<number> {
  return (await t<{ ver: number }>('UPDATE roster_versions SET ver = ver + 1 WHERE owner = $1 RETURNING ver', [owner]))[0]!.ver;
}

async function stateOf(q: Query, owner: string, peer: string): Promise<RosterState> {
  return (await q<{ state: RosterState }>('SELECT state FROM roster WHERE owner = $1 AND peer = $2', [owner, peer]))[0]?.state ?? 'none';
}

async function rowOf(q: Query, owner: string, peer: string): Promise<RosterRow> {
  return toRow((await q<Row>(`${ROW_SQL} WHERE r.owner = $1 AND r.peer = $2`, [owner, peer]))[0]!);
}

export class PostgresSocial implements SocialStore {
  readonly #db: PgDb;

  constructor(db: PgDb) {
    this.#db = db;
  }

  rosterChange(a: string, b: string, decide: (a: RosterState, b: RosterState) => [RosterState, RosterState], caps?: RosterCaps): Promise<{ a: RosterRow; b: RosterRow } | undefined> {
    return this.#db.tx(async (t) => {
      await lockOwners(t, [a, b]);
      const sa = await stateOf(t, a, b);
      const sb = await stateOf(t, b, a);
      const [na, nb] = decide(sa, sb);
      if (na === sa && nb === sb) return undefined;
      if (caps) for (const [owner, from, to] of [[a, sa, na], [b, sb, nb]] as const) await this.#checkCap(t, owner, from, to, caps, owner === a);
      const now = Date.now();
      for (const [owner, peer, from, to] of [[a, b, sa, na], [b, a, sb, nb]] as const) {
        if (from === to) continue;
        await t(`INSERT INTO roster(owner, peer, state, ver, updated_at) VALUES ($1, $2, $3, $4, $5)
          ON CONFLICT (owner, peer) DO UPDATE SET state = excluded.state, ver = excluded.ver, updated_at = excluded.updated_at`, [owner, peer, to, await bump(t, owner), now]);
        if (to === 'none') await t('DELETE FROM notes WHERE owner = $1 AND peer = $2', [owner, peer]);
      }
      return { a: await rowOf(t, a, b), b: await rowOf(t, b, a) };
    });
  }

  async #checkCap(t: Query, owner: string, from: RosterState, to: RosterState, caps: RosterCaps, self: boolean): Promise<void> {
    if (from === to || (to !== 'friend' && to !== 'out')) return;
    const max = to === 'friend' ? caps.maxFriends : caps.maxPendingSent;
    const [{ n }] = (await t<{ n: number }>('SELECT count(*) AS n FROM roster WHERE owner = $1 AND state = $2', [owner, to])) as [{ n: number }];
    if (n < max) return;
    const what = to === 'friend' ? `${max} friends` : `${max} pending friend requests`;
    throw new ParleyError('roster_full', self ? `your roster holds at most ${what}` : `${owner}'s roster holds at most ${what}`, { user: owner, max });
  }

  async roster(owner: string, since?: number): Promise<RosterPage> {
    const q = this.#db.query;
    // The version is read first: items read after it may be newer, never missing.
    const ver = (await q<{ ver: number }>('SELECT ver FROM roster_versions WHERE owner = $1', [owner]))[0]?.ver ?? 0;
    if (since !== undefined && since <= ver) {
      const [c] = await q<{ diff: number; live: number }>(`SELECT count(*) FILTER (WHERE ver > $2) AS diff, count(*) FILTER (WHERE state != 'none') AS live
        FROM roster WHERE owner = $1`, [owner, since]);
      // A diff larger than the roster gets the whole roster.
      if (c!.diff <= c!.live) return { ver, full: false, items: (await q<Row>(`${ROW_SQL} WHERE r.owner = $1 AND r.ver > $2 ORDER BY r.ver`, [owner, since])).map(toRow) };
    }
    return { ver, full: true, items: (await q<Row>(`${ROW_SQL} WHERE r.owner = $1 AND r.state != 'none' ORDER BY r.peer`, [owner])).map(toRow) };
  }

  rosterState(owner: string, peer: string): Promise<RosterState> {
    return stateOf(this.#db.query, owner, peer);
  }

  async friends(owner: string): Promise<string[]> {
    return (await this.#db.query<{ peer: string }>(`SELECT peer FROM roster WHERE owner = $1 AND state = 'friend'`, [owner])).map((r) => r.peer);
  }

  setNote(owner: string, peer: string, note: SealedNote | null): Promise<RosterRow> {
    return this.#db.tx(async (t) => {
      await lockOwners(t, [owner]);
      const state = await stateOf(t, owner, peer);
      if (state === 'none') throw new ParleyError('not_friend', `${peer} is not on your roster; notes are kept on friends and pending requests`, { user: peer });
      const now = Date.now();
      if (note) {
        await t(`INSERT INTO notes(owner, peer, kid, iv, ct, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
          ON CONFLICT (owner, peer) DO UPDATE SET kid = excluded.kid, iv = excluded.iv, ct = excluded.ct, updated_at = excluded.updated_at`, [owner, peer, note.kid, note.iv, note.ct, now]);
      } else {
        await t('DELETE FROM notes WHERE owner = $1 AND peer = $2', [owner, peer]);
      }
      await t('UPDATE roster SET ver = $1, updated_at = $2 WHERE owner = $3 AND peer = $4', [await bump(t, owner), now, owner, peer]);
      return rowOf(t, owner, peer);
    });
  }

  notesNotUnder(kid: string, limit: number): Promise<NoteRow[]> {
    return this.#db.query<NoteRow>('SELECT owner, peer, kid, iv, ct FROM notes WHERE kid != $1 LIMIT $2', [kid, limit]);
  }

  async replaceNote(old: NoteRow, sealed: SealedNote): Promise<boolean> {
    return (await this.#db.query('UPDATE notes SET kid = $1, iv = $2, ct = $3 WHERE owner = $4 AND peer = $5 AND kid = $6 AND iv = $7 RETURNING 1',
      [sealed.kid, sealed.iv, sealed.ct, old.owner, old.peer, old.kid, old.iv])).length > 0;
  }

  async noteKeyCounts(): Promise<Record<string, number>> {
    return Object.fromEntries((await this.#db.query<{ kid: string; n: number }>('SELECT kid, count(*) AS n FROM notes GROUP BY kid')).map((r) => [r.kid, r.n]));
  }

  block(owner: string, target: string, max: number): Promise<boolean> {
    return this.#db.tx(async (t) => {
      await t('SELECT pg_advisory_xact_lock($1, hashtext($2))', [BLOCK_LOCK, owner]);
      if ((await t('SELECT 1 FROM blocks WHERE owner = $1 AND target = $2', [owner, target])).length) return false;
      const [{ n }] = (await t<{ n: number }>('SELECT count(*) AS n FROM blocks WHERE owner = $1', [owner])) as [{ n: number }];
      if (n >= max) throw new ParleyError('block_list_full', `a block list holds at most ${max} users`, { max });
      return (await t('INSERT INTO blocks(owner, target, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1', [owner, target, Date.now()])).length > 0;
    });
  }

  async unblock(owner: string, target: string): Promise<boolean> {
    return (await this.#db.query('DELETE FROM blocks WHERE owner = $1 AND target = $2 RETURNING 1', [owner, target])).length > 0;
  }

  async blocks(owner: string, after: string | undefined, limit: number): Promise<string[]> {
    return (await this.#db.query<{ target: string }>('SELECT target FROM blocks WHERE owner = $1 AND target > $2 ORDER BY target LIMIT $3', [owner, after ?? '', limit])).map((r) => r.target);
  }

  async blocking(owner: string): Promise<string[]> {
    return (await this.#db.query<{ target: string }>('SELECT target FROM blocks WHERE owner = $1', [owner])).map((r) => r.target);
  }

  async blockers(target: string): Promise<string[]> {
    return (await this.#db.query<{ owner: string }>('SELECT owner FROM blocks WHERE target = $1', [target])).map((r) => r.owner);
  }

  async isBlocked(owner: string, target: string): Promise<boolean> {
    return (await this.#db.query('SELECT 1 FROM blocks WHERE owner = $1 AND target = $2', [owner, target])).length > 0;
  }

  async privacy(user: string): Promise<Privacy> {
    const [r] = await this.#db.query<Privacy>('SELECT typing, receipts FROM user_settings WHERE user_id = $1', [user]);
    return { typing: r?.typing ?? true, receipts: r?.receipts ?? true };
  }

  async setPrivacy(user: string, patch: Partial<Privacy>): Promise<Privacy> {
    const [r] = await this.#db.query<Privacy>(`INSERT INTO user_settings(user_id, typing, receipts) VALUES ($1, coalesce($2::boolean, true), coalesce($3::boolean, true))
      ON CONFLICT (user_id) DO UPDATE SET typing = coalesce($2::boolean, user_settings.typing), receipts = coalesce($3::boolean, user_settings.receipts)
      RETURNING typing, receipts`, [user, patch.typing ?? null, patch.receipts ?? null]);
    return { typing: r!.typing, receipts: r!.receipts };
  }

  markRead(user: string, chat: ChatId, seq: number, share: boolean): Promise<ReadMove> {
    return this.#db.tx(async (t) => {
      const [r] = await t<{ read_seq: number; receipt_seq: number; last_seq: number }>(`SELECT m.read_seq, m.receipt_seq, c.last_seq
        FROM members m JOIN chats c ON c.id = m.chat WHERE m.chat = $1 AND m.user_id = $2 FOR UPDATE OF m`, [chat, user]);
      if (!r) throw new ParleyError('not_member', `you are not a member of ${chat}`, { chat });
      if (seq > r.last_seq) throw new ParleyError('read_past_end', `the read marker must be at most the last seq ${r.last_seq} of ${chat}, got ${seq}`, { chat, lastSeq: r.last_seq });
      const read = Math.max(r.read_seq, seq);
      const shared = share ? Math.max(r.receipt_seq, seq) : r.receipt_seq;
      if (read !== r.read_seq || shared !== r.receipt_seq) await t('UPDATE members SET read_seq = $1, receipt_seq = $2 WHERE chat = $3 AND user_id = $4', [read, shared, chat, user]);
      return { prev: r.read_seq, read, prevShared: r.receipt_seq, shared, last: r.last_seq };
    });
  }

  async readCounts(chat: ChatId, from: number, to: number): Promise<Record<number, number>> {
    const rows = await this.#db.query<{ seq: number; n: number }>(`SELECT g.seq, (SELECT count(*) FROM members x WHERE x.chat = g.chat AND x.user_id != g.sender AND x.receipt_seq >= g.seq) AS n
      FROM messages g WHERE g.chat = $1 AND g.seq BETWEEN $2 AND $3 ORDER BY g.seq`, [chat, from, to]);
    return Object.fromEntries(rows.map((r) => [r.seq, r.n]));
  }
}
