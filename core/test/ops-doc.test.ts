import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../metrics.ts';
import { ALERTS } from '../ops/alerts/rules.ts';
import { FLAG_NAMES } from '../ops/flags/names.ts';
import { OPERATIONS_DOC, render } from '../ops/doc.ts';

describe('docs/operations.md', () => {
  it('has its metric, alert, flag and setting tables up to date with the code (npm run docs:operations)', () => {
    const doc = fs.readFileSync(OPERATIONS_DOC, 'utf8');
    expect(render(doc)).toBe(doc);
  });

  it('names every metric, alert and flag', () => {
    const doc = fs.readFileSync(OPERATIONS_DOC, 'utf8');
    for (const m of Object.keys(METRICS)) expect(doc).toContain(`\`${m}\``);
    for (const a of ALERTS) expect(doc).toContain(`\n#### ${a.name}\n`);
    for (const f of FLAG_NAMES) expect(doc).toContain(`\`${f}\``);
  });
});
