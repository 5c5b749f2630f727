/** `parley profile`: a fresh node under node --cpu-prof, driven by a scenario, leaves a .cpuprofile. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../core/test/helpers.ts';
import { profile } from '../profile.ts';

describe('parley profile', () => {
  it('writes a .cpuprofile of the node while dm-steady runs against it', async () => {
    const outDir = tempDir('parley-prof-');
    const lines: string[] = [];
    const r = await profile(['dm-steady', '--tool', 'cpu-prof', '--out-dir', outDir, '--users', '10', '--duration', '1s', '--rate', '2', '--workers', '1', '--max-lag', '5000ms', '--max-cpu-percent', '100', '--quiet'], (l) => lines.push(l));
    expect(r.tool).toBe('cpu-prof');
    expect(r.report).toMatch(/\.cpuprofile$/);
    expect(path.dirname(r.report!)).toBe(outDir);
    const prof = JSON.parse(fs.readFileSync(r.report!, 'utf8')) as { nodes: unknown[]; samples: unknown[] };
    expect(prof.nodes.length).toBeGreaterThan(10);
    expect(prof.samples.length).toBeGreaterThan(10);
    expect(lines.join('\n')).toMatch(/profile: report written to .*\.cpuprofile/);
  });

  it('says clinic is missing instead of crashing when clinic is asked for and absent', async () => {
    await expect(profile(['dm-steady', '--tool', 'clinic-flame'], () => {})).rejects.toThrow(/clinic-flame needs clinic, which is not installed .*use --tool cpu-prof/);
  });
});
