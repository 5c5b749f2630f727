import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSES, ERRORS } from '../errors.ts';
import { decode, LIMITS, REQUEST_OPS, SERVER_OPS } from '../protocol.ts';
import { frameProblems, PROTOCOL_DOC, regenerate } from '../protocol-doc.ts';

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

/**
 * Ops whose sections are still being written by the features that added them. Each must leave this
 * list with its section; the list only ever shrinks.
 */
const SECTION_PENDING = new Set<string>([]);

describe('docs/protocol.md', () => {
  it('carries the frame, error, close, limit and setting tables exactly as the catalogs render them (npm run docs:protocol)', () => {
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

  it('shows every server frame of the union, and documents every push of it under its own heading', () => {
    expect(frameProblems(doc)).toEqual([]);
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

describe('frameProblems', () => {
  const base = doc;

  it('reports a server op of the union that has no example frame', () => {
    const without = base.replace(/^← \{"op":"block\.push".*$/gm, '');
    expect(frameProblems(without)).toEqual(['"block.push" has no example frame']);
  });

  it('reports an example whose op the union lacks, and a push example carrying an id', () => {
    const doctored = `${base}\n\`\`\`text\n← {"op":"friend.push","user":"bob"}\n← {"op":"typing","id":1,"chat":"d:a:b","user":"a","state":"start","ttlMs":6000}\n\`\`\`\n`;
    const lines = doctored.split('\n').length;
    expect(frameProblems(doctored)).toEqual([
      `line ${lines - 3}: "friend.push" is not a server frame op of core/protocol.ts`,
      `line ${lines - 2}: the push "typing" carries an id`,
    ]);
  });

  it('reports a push heading for an op the union lacks', () => {
    expect(frameProblems(`${base}\n### \`ghost.push\`\n\n### \`ping\` (push)\n`)).toEqual([
      '"ghost.push" is documented as a push but is no push of core/protocol.ts',
      '"ping" is documented as a push but is no push of core/protocol.ts',
    ]);
  });

  it('reports a push of the union without its heading, asking for "(push)" when a request shares its op', () => {
    const doctored = base.replace('### `roster.push`\n', '').replace('### `read` (push)\n', '');
    expect(frameProblems(doctored)).toEqual(['the push "read" has no heading "### `read` (push)"', 'the push "roster.push" has no heading "### `roster.push`"']);
  });
});
