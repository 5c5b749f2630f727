import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, ftsMatch, parseQuery, searchDoc, snippet, tokenize, tsQuery } from './search.ts';

describe('search text', () => {
  it('folds accents and case and splits on anything but letters and digits', () => {
    expect(tokenize('Ünïcödé FAÇADE, déjà-vu 42nd_st')).toEqual(['unicode', 'facade', 'deja', 'vu', '42nd', 'st']);
  });

  it('indexes a CJK run as its bigrams and its last character, beside latin words', () => {
    expect(tokenize('東京都 ok 日本')).toEqual(['東京', '京都', '都', 'ok', '日本', '本']);
    expect(tokenize('한국어')).toEqual(['한국', '국어', '어']);
  });

  it('parses words, phrases, prefixes, and CJK words as phrases of bigrams', () => {
    expect(parseQuery('Deploy "café noir" stag* 東京都 東')).toEqual([
      { kind: 'word', tokens: ['deploy'], text: 'deploy' },
      { kind: 'phrase', tokens: ['cafe', 'noir'], text: 'cafe noir' },
      { kind: 'prefix', tokens: ['stag'], text: 'stag' },
      { kind: 'phrase', tokens: ['東京', '京都'], text: '東京都' },
      { kind: 'prefix', tokens: ['東'], text: '東' },
    ]);
  });

  it('writes the same terms as FTS5 MATCH and as a tsquery', () => {
    const terms = parseQuery('a "b c" d*');
    expect(ftsMatch(terms)).toBe('"a" AND "b c" AND "d"*');
    expect(tsQuery(terms)).toBe('a & (b <-> c) & d:*');
  });

  it('refuses a query without a letter or digit, and one over 200 chars, naming q', () => {
    expect(() => parseQuery('"" * --')).toThrow(expect.objectContaining({ code: 'bad_field', details: { field: 'q' } }));
    expect(() => parseQuery('a'.repeat(201))).toThrow(expect.objectContaining({ code: 'bad_field' }));
  });

  it('highlights every match on the original text and cuts a window around the first in a long body', () => {
    expect(snippet('Meet at the CAFÉ, café or cafeteria', parseQuery('cafe'))).toEqual({ text: 'Meet at the CAFÉ, café or cafeteria', highlights: [[12, 16], [18, 22]] });
    expect(snippet('we went to 東京都 today', parseQuery('京都'))).toEqual({ text: 'we went to 東京都 today', highlights: [[12, 14]] });
    const long = `${'filler '.repeat(60)}the needle is here ${'tail '.repeat(60)}`;
    const s = snippet(long, parseQuery('needle'));
    expect(s.text.startsWith('…')).toBe(true);
    expect(s.text.endsWith('…')).toBe(true);
    expect(s.text.slice(s.highlights[0]![0], s.highlights[0]![1])).toBe('needle');
  });

  it('round-trips a cursor and refuses a forged one', () => {
    expect(decodeCursor(encodeCursor({ offset: 40, upto: 1_700_000_000_000 }))).toEqual({ offset: 40, upto: 1_700_000_000_000 });
    expect(() => decodeCursor(encodeCursor({ offset: 5000, upto: 1 }))).toThrow(expect.objectContaining({ code: 'bad_field' }));
    expect(() => decodeCursor('bm90IGpzb24')).toThrow(expect.objectContaining({ code: 'bad_field' }));
  });
});

describe('search documents', () => {
  it('gives plain ASCII bodies the same tokens by the fast path as by the full tokenizer', () => {
    for (const body of ['Hello, World! 42nd_st e-mail', '  --leading and trailing--  ', 'MiXeD CaSe a.b.c 3.14']) {
      expect(searchDoc(body)).toBe(tokenize(body).join(' '));
    }
  });
});
