import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSES, ERRORS } from '../errors.ts';
import { decode, LIMITS, REQUEST_OPS } from '../protocol.ts';
import { PROTOCOL_DOC, regenerate } from '../protocol-doc.ts';

const doc = fs.readFileSync(PROTOCOL_DOC, 'utf8');

/** Every `→`/`←` example line inside fenced blocks, with its line number. */
function examples(): { dir: '→' | '←'; text: string; line: number }[] {
  const out: { dir: '→' | '←'; text: string; line: number }[] = [];
  let fenced = false;
  doc.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('```')) fenced = !fenced;
    else if (fenced && (line.startsWith('→ ') || line.startsWith('← '))) out.push({ dir: line[0] as '→' | '←', text: line.slice(2), line: i + 1 });
  });
  return out;
}

const SERVER_OPS = ['welcome', 'ack', 'msg', 'skip', 'reply', 'synced', 'member', 'error', 'pong', 'roster.push', 'block.push', 'presence', 'typing', 'read', 'readby', 'settings.push'];

/**
 * Ops whose sections are still being written by the features that added them. Each must leave this
 * list with its section; the list only ever shrinks.
 */
const SECTION_PENDING = new Set<string>([]);

describe('docs/protocol.md', () => {
  it('carries the error, close, limit and setting tables exactly as the catalogs render them (npm run docs:protocol)', () => {
    expect(doc).toBe(regenerate(doc));
  });

  it('lists every error code and close code of the catalog', () => {
    for (const code of Object.keys(ERRORS)) expect(doc).toContain(`| \`${code}\` |`);
    for (const [name, c] of Object.entries(CLOSES)) expect(doc).toContain(`| ${c.code} | \`${name}\` |`);
  });

  it('documents every request op under its own heading with an example request', () => {
    const requests = examples().filter((e) => e.dir === '→').map((e) => (JSON.parse(e.text) as { op: string }).op);
    for (const op of REQUEST_OPS) {
      const heading = new RegExp(`^### \`${op.replace('.', '\\.')}\`$`, 'm');
      if (SECTION_PENDING.has(op)) {
        expect(heading.test(doc), `${op} is documented now: remove it from SECTION_PENDING`).toBe(false);
        continue;
      }
      expect(doc, `heading for ${op}`).toMatch(new RegExp(`^### \`${op.replace('.', '\\.')}\`$`, 'm'));
      expect(requests, `example of ${op}`).toContain(op);
    }
  });

  it('shows the welcome frame with the limits the server sends', () => {
    const welcome = examples().find((e) => e.dir === '←' && e.text.startsWith('{"op":"welcome"'));
    expect((JSON.parse(welcome!.text) as { limits: unknown }).limits).toEqual(LIMITS);
  });

  it('shows an example of every server frame', () => {
    const frames = new Set(examples().filter((e) => e.dir === '←').map((e) => (JSON.parse(e.text) as { op: string }).op));
    for (const op of SERVER_OPS) expect(frames, `example of ${op}`).toContain(op);
  });

  it('only shows requests the decoder accepts, or rejects with the code the example answers', () => {
    const all = examples();
    expect(all.length).toBeGreaterThan(30);
    all.forEach((e, i) => {
      if (e.dir !== '→') return;
      const decoded = decode(e.text);
      if (decoded.ok) return;
      const answer = all[i + 1];
      expect(answer?.dir, `line ${e.line}: ${decoded.error.message}`).toBe('←');
      expect(JSON.parse(answer!.text), `line ${e.line}`).toMatchObject({ op: 'error', code: decoded.error.code });
    });
  });

  it('only shows server frames with known ops, echoed ids and catalog codes', () => {
    const all = examples();
    all.forEach((e, i) => {
      if (e.dir !== '←') return;
      const frame = JSON.parse(e.text) as { op: string; id?: unknown; code?: string };
      expect(SERVER_OPS, `line ${e.line}`).toContain(frame.op);
      if (frame.op === 'error') expect(Object.keys(ERRORS), `line ${e.line}`).toContain(frame.code);
      if (frame.id === undefined) return;
      // The request answered is the nearest earlier → with the same id.
      const request = all.slice(0, i).reverse().find((r) => r.dir === '→' && (JSON.parse(r.text) as { id?: unknown }).id === frame.id);
      expect(request, `line ${e.line}: no request with id ${String(frame.id)}`).toBeDefined();
    });
  });
});
