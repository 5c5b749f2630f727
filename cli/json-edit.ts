/**
 * Edits one value of a JSON file in place, keeping every other byte (indentation, key order,
 * one-line objects): a hand-edited, reviewed file changed by a command shows a one-line diff.
 */

type Path = readonly (string | number)[];

/** Where a value sits in the text: [start, end) of the value, and of its key for object members. */
interface Span { start: number; end: number; keyStart?: number }

/** Offsets of every value in `text` (valid JSON), keyed by its path joined with NUL. */
function spans(text: string): Map<string, Span> {
  const out = new Map<string, Span>();
  let i = 0;
  const ws = () => { while (/\s/.test(text[i] ?? '')) i++; };
  const str = () => {
    i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
  };
  const value = (at: string[], keyStart?: number): void => {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{' || c === '[') {
      i++;
      ws();
      for (let n = 0; text[i] !== (c === '{' ? '}' : ']'); n++) {
        if (text[i] === ',') { i++; ws(); }
        if (c === '{') {
          const k = i;
          str();
          const key = JSON.parse(text.slice(k, i)) as string;
          ws();
          i++; // ':'
          value([...at, key], k);
        } else value([...at, String(n)]);
        ws();
      }
      i++;
    } else if (c === '"') str();
    else while (i < text.length && !/[\s,\]}]/.test(text[i]!)) i++;
    out.set(at.join('\0'), { start, end: i, ...(keyStart === undefined ? {} : { keyStart }) });
  };
  value([]);
  return out;
}

/**
 * `text` with the string value at `at` set to `next`. The value is replaced where it stands; a
 * missing member is added at the front of its object (the object itself must exist).
 */
export function setJsonString(text: string, at: Path, next: string): string {
  const map = spans(text);
  const key = (p: Path) => p.map(String).join('\0');
  const encoded = JSON.stringify(next);
  const found = map.get(key(at));
  if (found) return text.slice(0, found.start) + encoded + text.slice(found.end);
  const parent = map.get(key(at.slice(0, -1)));
  if (!parent || text[parent.start] !== '{') throw new Error(`no object at ${at.slice(0, -1).join('.')}`);
  const member = `${JSON.stringify(String(at[at.length - 1]))}: ${encoded}`;
  const inner = text.slice(parent.start + 1, parent.end - 1);
  if (inner.trim() === '') return `${text.slice(0, parent.start)}{ ${member} }${text.slice(parent.end)}`;
  const first = Math.min(...[...map.values()].filter((s) => s.keyStart !== undefined && s.keyStart > parent.start && s.keyStart < parent.end).map((s) => s.keyStart!));
  return `${text.slice(0, first)}${member}, ${text.slice(first)}`;
}
