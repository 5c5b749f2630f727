import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.ts';
import { cleanName } from './attachments.ts';
import { extraTypesProblem, sniff } from './sniff.ts';

const bytes = (...b: (number | string)[]) => Buffer.concat(b.map((x) => (typeof x === 'string' ? Buffer.from(x, 'latin1') : Buffer.from([x]))));

describe('sniff: the kind of an upload from its first bytes', () => {
  it.each([
    ['jpeg', 'image/jpeg', bytes(0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'JFIF')],
    ['png', 'image/png', bytes(0x89, 'PNG', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'IHDR')],
    ['gif', 'image/gif', bytes('GIF89a', 1, 0, 1, 0)],
    ['gif', 'image/gif', bytes('GIF87a', 1, 0, 1, 0)],
    ['webp', 'image/webp', bytes('RIFF', 0x24, 0, 0, 0, 'WEBPVP8 ')],
  ])('recognises %s as %s', (kind, type, head) => {
    expect(sniff(head)).toEqual({ kind, type, image: true, ext: kind === 'jpeg' ? 'jpg' : kind });
  });

  it('refuses what only claims to be an image: a script, HTML, a PNG signature cut short, a RIFF that is no WebP, nothing', () => {
    for (const head of [bytes('#!/bin/sh\necho'), bytes('<svg xmlns="http://www.w3.org/2000/svg">'), bytes('<html><script>'), bytes(0x89, 'PNG', 0x0d, 0x0a), bytes('RIFF', 0, 0, 0, 0, 'WAVE'), Buffer.alloc(0), bytes(0xff, 0xd8)]) {
      expect(sniff(head), head.toString('latin1')).toBeUndefined();
    }
  });

  it('accepts other kinds only when allowed, each by its own signature; octet-stream takes anything else, after the named kinds', () => {
    const pdf = bytes('%PDF-1.7\n');
    const zip = bytes('PK', 3, 4, 20, 0);
    expect(sniff(pdf)).toBeUndefined();
    expect(sniff(pdf, ['pdf'])?.type).toBe('application/pdf');
    expect(sniff(zip, ['pdf'])).toBeUndefined();
    expect(sniff(zip, ['octet-stream', 'zip'])?.type).toBe('application/zip');
    expect(sniff(bytes('#!/bin/sh'), ['octet-stream'])?.type).toBe('application/octet-stream');
    expect(sniff(bytes(0, 0, 0, 0x20, 'ftypisom'), ['mp4'])?.type).toBe('video/mp4');
    expect(sniff(bytes('OggS', 0), ['ogg'])?.type).toBe('audio/ogg');
    // An image stays an image (decoded, stripped) whatever else is allowed.
    expect(sniff(bytes(0xff, 0xd8, 0xff, 0xdb), ['octet-stream'])?.image).toBe(true);
  });

  it('validates attachmentExtraTypes with every unknown name at once, at start', () => {
    expect(extraTypesProblem('pdf, ZIP ,mp3')).toBeUndefined();
    expect(extraTypesProblem('pdf,exe,svg')).toBe('attachmentExtraTypes must be a comma-separated list of pdf, zip, mp4, webm, ogg, mp3, octet-stream; got unknown "exe", "svg"');
    expect(() => loadConfig(new Map([['attachment-extra-types', 'exe']]), {})).toThrow(ConfigError);
    expect(() => loadConfig(new Map([['attachment-extra-types', 'exe']]), {})).toThrow(/got unknown "exe"/);
    expect(() => loadConfig(new Map([['attachment-max-bytes', '10']]), {})).toThrow(/--attachment-max-bytes must be in \[1024, 1073741824\], got 10/);
    expect(loadConfig(new Map(), { PARLEY_ATTACHMENT_EXTRA_TYPES: 'pdf' }).attachmentExtraTypes).toBe('pdf');
  });
});

describe('cleanName: the file name shown in Content-Disposition', () => {
  it.each([
    ['photo.jpg', 'photo.jpg'],
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\me\\cat.png', 'cat.png'],
    ['a"b\\c"\u0000d\u001fe.png', 'cde.png'],
    ['', 'attachment.png'],
    ['..', 'attachment.png'],
    [null, 'attachment.png'],
    ['x'.repeat(300), 'x'.repeat(200)],
  ])('%j becomes %j', (raw, want) => {
    expect(cleanName(raw, 'png')).toBe(want);
  });
});
