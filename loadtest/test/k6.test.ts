/** The k6 scripts are type-checked against @types/k6 (they are run by k6 or k6-operator, not here). */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../core/test/helpers.ts';

describe('k6 scripts', () => {
  it('type-check with tsc --noEmit against @types/k6', () => {
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const out = execFileSync(process.execPath, [tsc, '--noEmit', '-p', 'loadtest/k6/tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toBe('');
  });

  it('cover the main scenarios and use the same metric names as parley load', () => {
    const dir = path.join(ROOT, 'loadtest/k6');
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()).toEqual(['dm-steady.ts', 'http-api.ts', 'login-storm.ts', 'room-fanout.ts']);
    const dm = fs.readFileSync(path.join(dir, 'dm-steady.ts'), 'utf8');
    for (const metric of ["'ack_ms'", "'deliver_ms'", "'duplicated'"]) expect(dm).toContain(metric);
  });
});
