/**
 * The PostgreSQL search index: message_search holds a tsvector per message ('simple' config: no
 * stemming, no stop words, language-neutral), written by the same statement as the append. The
 * text is folded and split by store/search.ts before it reaches the database, so both engines
 * index identical tokens and neither unaccent nor an immutable wrapper for it is needed. pg_trgm
 * was not chosen: trigrams cannot find the two-character words that most CJK words are, and a
 * trigram index over every body is several times the size of a GIN index over lexemes.
 * The GIN index answers the terms; the (chat, seq) key narrows them to the asker's chats, and the
 * planner ANDs the two bitmaps.
 */
import type { Message } from '../protocol.ts';
import type { Query } from './postgres-db.ts';
import { RANK_WINDOW, tsQuery, type SearchQuery, type SearchRow } from './search.ts';

interface Row { chat: string; seq: number; sender: string; cmid: string; body: Buffer; attachments: string | null; ts: number; score: number }

/** Matches in the asker's chats, best first (ts_rank normalized by length; newer first on ties). */
export async function searchPostgres(query: Query, q: SearchQuery): Promise<SearchRow[]> {
  // As on SQLite, relevance ranks the newest RANK_WINDOW matches: a common word matches too many to rank all.
  const rows = await query<Row>(`
    WITH c AS (
      SELECT s.chat, s.seq, s.sender, s.ts, s.doc
      FROM message_search s
      JOIN members m ON m.chat = s.chat AND m.user_id = $2
      WHERE s.doc @@ to_tsquery('simple', $1) AND s.ts >= $3 AND s.ts <= $4
        AND ($5::text IS NULL OR s.chat = $5) AND ($6::text IS NULL OR s.sender = $6)
        AND (s.sender = $2 OR NOT EXISTS (SELECT 1 FROM blocks b WHERE b.owner = $2 AND b.target = s.sender))
      ORDER BY s.ts DESC LIMIT ${RANK_WINDOW}
    )
    SELECT c.chat, c.seq, c.sender, g.cmid, g.body, g.attachments, c.ts, ts_rank(c.doc, to_tsquery('simple', $1), 1) AS score
    FROM c JOIN messages g ON g.chat = c.chat AND g.seq = c.seq
    ORDER BY score DESC, c.ts DESC, c.chat, c.seq
    LIMIT $7 OFFSET $8`,
  [tsQuery(q.terms), q.user, q.since ?? 0, Math.min(q.until ?? Number.MAX_SAFE_INTEGER, q.upto), q.chat ?? null, q.from ?? null, q.limit, q.offset]);
  return rows.map((r) => {
    const message: Message = { chat: r.chat, seq: r.seq, from: r.sender, cmid: r.cmid, body: r.body.toString('utf8'), ts: r.ts };
    if (r.attachments !== null) message.attachments = JSON.parse(r.attachments) as string[];
    return { message, score: r.score };
  });
}
