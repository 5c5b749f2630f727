import { describe, expect, it } from 'vitest';
import { disposition, parseRange } from './attachments-rest.ts';

describe('parseRange: one byte range of a 1000-byte attachment', () => {
  it.each([
    ['bytes=0-99', { start: 0, end: 99 }],
    ['bytes=900-', { start: 900, end: 999 }],
    ['bytes=-100', { start: 900, end: 999 }],
    ['bytes=-5000', { start: 0, end: 999 }],
    ['bytes=990-5000', { start: 990, end: 999 }],
    ['bytes=999-999', { start: 999, end: 999 }],
    [' bytes=1-2 ', { start: 1, end: 2 }],
  ])('%s is %j', (header, want) => {
    expect(parseRange(header, 1000)).toEqual(want);
  });

  it.each(['bytes=1000-', 'bytes=1000-1001', 'bytes=50-20', 'bytes=-0', 'bytes=-', 'bytes=abc', 'bytes=1-x'])('%s is unsatisfiable', (header) => {
    expect(parseRange(header, 1000)).toBe('unsatisfiable');
  });

  it('ignores no header, several ranges and other units: the whole content, 200', () => {
    expect(parseRange(undefined, 1000)).toBeUndefined();
    expect(parseRange('bytes=0-1,5-6', 1000)).toBeUndefined();
    expect(parseRange('items=0-1', 1000)).toBeUndefined();
  });

  it('finds nothing to serve in an empty content', () => {
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
    expect(parseRange('bytes=-1', 0)).toBe('unsatisfiable');
  });
});

describe('disposition: RFC 6266 with an ASCII fallback', () => {
  it('keeps an ASCII name and percent-encodes the UTF-8 one', () => {
    expect(disposition('inline', 'cat.jpg')).toBe("inline; filename=\"cat.jpg\"; filename*=UTF-8''cat.jpg");
    expect(disposition('attachment', 'Käse "100%".pdf')).toBe("attachment; filename=\"K_se _100__.pdf\"; filename*=UTF-8''K%C3%A4se%20%22100%25%22.pdf");
    expect(disposition('attachment', "it's (1).zip")).toBe("attachment; filename=\"it's (1).zip\"; filename*=UTF-8''it%27s%20%281%29.zip");
  });
});
