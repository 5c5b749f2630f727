/**
 * Full-text search, engine-independent half: one tokenizer for what is indexed and what is asked,
 * so SQLite (FTS5) and PostgreSQL (tsvector) index the same tokens and answer the same queries.
 * Text is folded (NFKD, marks removed, lower case: "Café" = "cafe"); letters and digits form words;
 * CJK runs become overlapping bigrams plus their last character, so "東京" is found inside "東京都".
 */
import { ParleyError } from '../errors.ts';
import type { ChatId, Message, Snippet } from '../protocol.ts';

/**
 * Relevance ranks the newest this many matches of a query (both engines): a word in most messages
 * would otherwise cost a score per match. Older matches of such a word are not reached.
 */
export const RANK_WINDOW = 1000;

export const SEARCH_LIMITS = Object.freeze({
  maxQueryChars: 200,
  maxTerms: 16,
  defaultLimit: 20,
  /** Deepest result a cursor may page to: search is for finding, not for exporting. */
  maxOffset: 1000,
});

/** One term of a query: every term must match (AND). */
export interface SearchTerm {
  kind: 'word' | 'prefix' | 'phrase';
  /** The folded index tokens it stands for, in order (a phrase, or a word that folds to several). */
  tokens: string[];
  /** The folded text it matches, for highlighting. */
  text: string;
}

export interface SearchQuery {
  /** Who asks: only chats they belong to are searched; senders they block are left out. */
  user: string;
  terms: SearchTerm[];
  chat?: ChatId;
  from?: string;
  /** Inclusive bounds on the message time, ms since the epoch. */
  since?: number;
  until?: number;
  /** Newest message time considered: the first page's answer time, so later pages do not shift. */
  upto: number;
  limit: number;
  offset: number;
}

/** One found message, best first. */
export interface SearchRow {
  message: Message;
  /** Higher is better; comparable within one answer only. */
  score: number;
}

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const WORD_CHAR = /[\p{L}\p{N}]/u;
const MARK = /\p{M}/gu;

/** Folds one string for matching: compatibility decomposition, no combining marks, recomposed (Hangul), lower case. */
export function fold(text: string): string {
  return text.normalize('NFKD').replace(MARK, '').normalize('NFC').toLowerCase();
}

/** A run of word characters: CJK ones become bigrams, others one token. */
function pushRun(run: string, cjk: boolean, out: string[]): void {
  if (!cjk) { out.push(run); return; }
  const chars = [...run];
  if (chars.length === 1) { out.push(run); return; }
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i]! + chars[i + 1]!);
  // The last character alone, so a one-character query finds the end of a run too.
  out.push(chars.at(-1)!);
}

/** The index tokens of a text, in order. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  let run = '';
  let runCjk = false;
  for (const ch of fold(text)) {
    if (!WORD_CHAR.test(ch)) {
      if (run) pushRun(run, runCjk, out);
      run = '';
      continue;
    }
    const cjk = CJK.test(ch);
    if (run && cjk !== runCjk) { pushRun(run, runCjk, out); run = ''; }
    runCjk = cjk;
    run += ch;
  }
  if (run) pushRun(run, runCjk, out);
  return out;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const ASCII_SEPARATORS = /[^a-z0-9]+/;

/** The document an engine indexes for a body: its tokens separated by spaces. */
export function searchDoc(body: string): string {
  // Most bodies are plain ASCII: nothing to fold but case, no CJK; same tokens, a fraction of the work.
  if (PRINTABLE_ASCII.test(body)) return body.toLowerCase().split(ASCII_SEPARATORS).filter(Boolean).join(' ');
  return tokenize(body).join(' ');
}

/** Tokens of one query word; a CJK word of several characters is its bigrams only (a phrase of them). */
function queryTokens(word: string): string[] {
  const tokens = tokenize(word);
  // Within a CJK run the trailing unigram is redundant for a query: the bigrams already pin it down.
  const folded = fold(word);
  if (tokens.length > 1 && CJK.test(folded.at(-1) ?? '') && tokens.at(-1)!.length === 1 && [...folded].length > 1) tokens.pop();
  return tokens;
}

/**
 * Parses what a user typed: words (all must match), "quoted phrases", and prefixes (`deplo*`).
 * Punctuation inside a word splits it into a phrase ("e-mail" = "e mail"). Refuses an empty query
 * or one over the limits with bad_field.
 */
export function parseQuery(q: unknown): SearchTerm[] {
  if (typeof q !== 'string' || q.trim() === '') throw new ParleyError('bad_field', '"q" must be a non-empty search query, got nothing to search for', { field: 'q' });
  if (q.length > SEARCH_LIMITS.maxQueryChars) throw new ParleyError('bad_field', `"q" must be at most ${SEARCH_LIMITS.maxQueryChars} chars, got ${q.length}`, { field: 'q' });
  const terms: SearchTerm[] = [];
  const re = /"([^"]*)"?|(\S+)/g;
  for (let m = re.exec(q); m; m = re.exec(q)) {
    if (m[1] !== undefined) {
      const tokens = queryTokens(m[1]);
      if (tokens.length) terms.push({ kind: tokens.length > 1 ? 'phrase' : 'word', tokens, text: foldedText(m[1]) });
      continue;
    }
    const raw = m[2]!;
    const prefix = raw.endsWith('*');
    const tokens = queryTokens(prefix ? raw.slice(0, -1) : raw);
    if (!tokens.length) continue;
    const text = foldedText(prefix ? raw.slice(0, -1) : raw);
    // One CJK character is a prefix of the bigrams it starts.
    if ((prefix || CJK.test(tokens[0]!)) && tokens.length === 1 && (prefix || [...tokens[0]!].length === 1)) terms.push({ kind: 'prefix', tokens, text });
    else terms.push({ kind: tokens.length > 1 ? 'phrase' : 'word', tokens, text });
  }
  if (!terms.length) throw new ParleyError('bad_field', `"q" must contain a letter or digit to search for, got "${q.slice(0, 40)}"`, { field: 'q' });
  if (terms.length > SEARCH_LIMITS.maxTerms) throw new ParleyError('bad_field', `"q" may have at most ${SEARCH_LIMITS.maxTerms} terms, got ${terms.length}`, { field: 'q' });
  return terms;
}

/** The folded words of a term joined by single spaces (punctuation dropped), for the highlighter. */
function foldedText(s: string): string {
  return fold(s).split(/[^\p{L}\p{N}]+/u).filter(Boolean).join(' ');
}

/** FTS5 MATCH syntax for the terms (tokens are letters and digits only, quoted all the same). */
export function ftsMatch(terms: readonly SearchTerm[]): string {
  return terms.map((t) => {
    const phrase = `"${t.tokens.join(' ')}"`;
    return t.kind === 'prefix' ? `${phrase}*` : phrase;
  }).join(' AND ');
}

/** PostgreSQL tsquery syntax for the terms ('simple' config: lexemes are the tokens themselves). */
export function tsQuery(terms: readonly SearchTerm[]): string {
  return terms.map((t) => {
    if (t.kind === 'prefix') return `${t.tokens[0]}:*`;
    return t.tokens.length > 1 ? `(${t.tokens.join(' <-> ')})` : t.tokens[0]!;
  }).join(' & ');
}

// ── cursors ─────────────────────────────────────────────────────────────────────────────────────

/** A page position: how many results were already sent, and the newest message time the first page saw. */
export interface SearchCursor {
  offset: number;
  upto: number;
}

export function encodeCursor(c: SearchCursor): string {
  return Buffer.from(JSON.stringify([c.offset, c.upto])).toString('base64url');
}

export function decodeCursor(raw: unknown): SearchCursor {
  const bad = () => new ParleyError('bad_field', '"cursor" must be the "next" value of an earlier search answer', { field: 'cursor' });
  if (typeof raw !== 'string' || raw.length > 64) throw bad();
  try {
    const v: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && v[0] >= 0 && v[0] <= SEARCH_LIMITS.maxOffset && Number.isSafeInteger(v[1]) && v[1] >= 0) {
      return { offset: v[0] as number, upto: v[1] as number };
    }
  } catch { /* falls through to the error below */ }
  throw bad();
}

// ── snippets ────────────────────────────────────────────────────────────────────────────────────

const SNIPPET_CHARS = 160;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One regex over folded text that finds every term: words whole, prefixes at a word start, CJK anywhere. */
function matcher(terms: readonly SearchTerm[]): RegExp {
  const parts = terms.map((t) => {
    const body = t.text.split(' ').map(escapeRe).join('[^\\p{L}\\p{N}]+');
    if (CJK.test(t.text)) return body;
    return t.kind === 'prefix' ? `(?<![\\p{L}\\p{N}])${body}[\\p{L}\\p{N}]*` : `(?<![\\p{L}\\p{N}])${body}(?![\\p{L}\\p{N}])`;
  });
  return new RegExp(parts.join('|'), 'gu');
}

/**
 * A window of the body around its first match, with every match in it marked. Matching runs on
 * the folded text; offsets map back to the original, so "Café" is highlighted for "cafe".
 */
export function snippet(body: string, terms: readonly SearchTerm[]): Snippet {
  // Folded text and, for each of its UTF-16 units, the offset of the original code point.
  let folded = '';
  const origin: number[] = [];
  let i = 0;
  for (const ch of body) {
    const f = fold(ch);
    for (let k = 0; k < f.length; k++) origin.push(i);
    folded += f;
    i += ch.length;
  }
  origin.push(body.length);
  const spans: [number, number][] = [];
  const re = matcher(terms);
  for (let m = re.exec(folded); m; m = re.exec(folded)) {
    if (m[0].length === 0) { re.lastIndex++; continue; }
    spans.push([origin[m.index]!, origin[m.index + m[0].length]!]);
  }
  let start = 0;
  let end = body.length;
  if (body.length > SNIPPET_CHARS) {
    const first = spans[0]?.[0] ?? 0;
    start = Math.max(0, first - SNIPPET_CHARS / 4);
    // Start at a word boundary and never inside a surrogate pair.
    while (start > 0 && WORD_CHAR.test(body[start - 1]!)) start--;
    end = Math.min(body.length, start + SNIPPET_CHARS);
    while (end < body.length && /[\uDC00-\uDFFF]/.test(body[end]!)) end++;
  }
  const lead = start > 0 ? '…' : '';
  const text = lead + body.slice(start, end) + (end < body.length ? '…' : '');
  const highlights = spans.filter(([a, b]) => a >= start && b <= end).map(([a, b]): [number, number] => [a - start + lead.length, b - start + lead.length]);
  return { text, highlights };
}
