/**
 * Hand-drawn SVG charts for the console: a sparkline of a series and a bar per category. Each is
 * an image with a text alternative, so nothing is only visible as a picture.
 */
const NS = 'http://www.w3.org/2000/svg';

function svg(width: number, height: number, label: string): SVGSVGElement {
  const el = document.createElementNS(NS, 'svg');
  el.setAttribute('viewBox', `0 0 ${width} ${height}`);
  el.setAttribute('width', String(width));
  el.setAttribute('height', String(height));
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', label);
  return el;
}

function node<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** A line over the last values (undefined points are gaps), scaled to its own maximum. */
export function sparkline(values: readonly (number | undefined)[], label: string, width = 180, height = 40): SVGSVGElement {
  const el = svg(width, height, label);
  el.append(node('rect', { x: 0, y: 0, width, height, class: 'chart-bg' }));
  const known = values.filter((v): v is number => v !== undefined);
  const max = Math.max(1e-9, ...known);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  let d = '';
  values.forEach((v, i) => {
    if (v === undefined) return;
    const x = (i * step).toFixed(1);
    const y = (height - 2 - (v / max) * (height - 4)).toFixed(1);
    d += `${d && values[i - 1] !== undefined ? 'L' : 'M'}${x},${y}`;
  });
  if (d) el.append(node('path', { d, class: 'chart-line', fill: 'none' }));
  return el;
}

/** Horizontal bars, one per entry, longest first. */
export function bars(entries: readonly [string, number][], label: string, width = 320): SVGSVGElement {
  const row = 22;
  const sorted = [...entries].sort((a, b) => b[1] - a[1]).slice(0, 12);
  const height = Math.max(row, sorted.length * row);
  const el = svg(width, height, label);
  const max = Math.max(1, ...sorted.map((e) => e[1]));
  sorted.forEach(([name, n], i) => {
    const w = Math.max(2, (n / max) * (width - 170));
    el.append(node('rect', { x: 160, y: i * row + 4, width: w, height: row - 8, class: 'chart-bar' }));
    const text = node('text', { x: 0, y: i * row + 15, class: 'chart-text' });
    text.textContent = `${name} ${n}`;
    el.append(text);
  });
  return el;
}
