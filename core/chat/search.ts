/**
 * Search as the chat service answers it: parse the query, page with an opaque cursor that pins
 * the newest message time of the first page (later pages do not shift as messages arrive), and
 * cut a highlighted snippet from each body. Who may see what is decided by the store query.
 */
import { LIMITS, type SearchReq, type SearchResult } from '../protocol.ts';
import { decodeCursor, encodeCursor, parseQuery, SEARCH_LIMITS, snippet } from '../store/search.ts';
import type { Store } from '../store/types.ts';

export type SearchInput = Omit<SearchReq, 'op' | 'id'>;

/** One page of results for `user`; bad_field for a query with nothing to search or a foreign cursor. */
export async function searchMessages(store: Store, user: string, input: SearchInput, now = Date.now()): Promise<SearchResult> {
  const terms = parseQuery(input.q);
  const { offset, upto } = input.cursor === undefined ? { offset: 0, upto: now } : decodeCursor(input.cursor);
  const limit = input.limit ?? LIMITS.defaultSearchLimit;
  const rows = await store.search({ user, terms, chat: input.chat, from: input.from, since: input.since, until: input.until, upto, limit: limit + 1, offset });
  const hits = rows.slice(0, limit).map((r) => ({ message: r.message, snippet: snippet(r.message.body, terms), score: r.score }));
  const result: SearchResult = { hits };
  if (rows.length > limit && offset + limit <= SEARCH_LIMITS.maxOffset) result.next = encodeCursor({ offset: offset + limit, upto });
  return result;
}
