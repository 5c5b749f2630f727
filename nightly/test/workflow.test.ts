/** The scheduled workflow: no expression pasted into a shell script, the battery a choice of the real ones, output pruned. */
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../../core/test/helpers.ts';
import { BATTERIES } from '../batteries.ts';

const text = fs.readFileSync(path.join(ROOT, '.github/workflows/nightly.yml'), 'utf8');
const lines = text.split('\n');

/** The bodies of every `run:` step (an inline command or a block scalar). */
function runScripts(): string[] {
  const scripts: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(- )?run: ?(.*)$/.exec(lines[i]!);
    if (!m) continue;
    const indent = m[1]!.length + (m[2] ? 2 : 0);
    if (!/^[|>]/.test(m[3]!)) { scripts.push(m[3]!); continue; }
    const body: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || lines[i + 1]!.search(/\S/) > indent)) body.push(lines[++i]!);
    scripts.push(body.join('\n'));
  }
  return scripts;
}

it('passes inputs and outputs to shell steps through the environment, never as ${{ }} inside run:', () => {
  const scripts = runScripts();
  expect(scripts.length).toBeGreaterThanOrEqual(3);
  expect(scripts.filter((s) => s.includes('${{'))).toEqual([]);
  expect(text).toMatch(/BASE: \$\{\{ inputs\.base \}\}/);
});

it('offers the battery as a choice of the batteries that exist, and prunes the cached output', () => {
  const options = /battery:\n(?:\s+\w+:.*\n)*?\s+options: \[(.*)\]/.exec(text)?.[1]?.split(',').map((s) => s.trim());
  expect(text).toMatch(/battery:\n\s+description: .*\n\s+required: true\n\s+type: choice/);
  expect(options?.sort()).toEqual(Object.keys(BATTERIES).sort());
  expect(text).toMatch(/--keep-nights "\$KEEP_NIGHTS"/);
  expect(text).toMatch(/KEEP_NIGHTS: '\d+'/);
});
