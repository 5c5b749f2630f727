/** Progress of a night: plain lines off a TTY, one redrawn status line on a TTY. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { requires } from '../../core/test/env.ts';
import { createProgress, fmtEta, RunClock } from '../progress.ts';

const sink = () => { const out: string[] = []; return { out, write: (s: string) => out.push(s) }; };

describe('progress', () => {
  it('counts run N of M and estimates the rest at the pace so far, growing M when a block is added', () => {
    let t = 0;
    const clock = new RunClock(() => t);
    clock.plan(8);
    t = 10_000;
    expect(clock.tick()).toEqual({ run: 1, of: 8, etaMs: 70_000 });
    clock.plan(12);
    t = 20_000;
    expect(clock.tick()).toEqual({ run: 2, of: 12, etaMs: 100_000 });
  });
  it('writes a plain line per update off a TTY, with the phase, run N of M and the ETA', () => {
    const s = sink();
    const p = createProgress(s, false);
    p.update({ phase: 'battery smoke', run: 3, of: 12, etaMs: 125_000, detail: 'block 1, head dm' });
    p.log('a log line');
    expect(s.out.join('')).toBe('progress: battery smoke · run 3 of 12 · block 1, head dm · ETA 2m05s\na log line\n');
    expect(fmtEta(9_400)).toBe('9s');
  });
  it('redraws one status line on a TTY and prints log lines above it', () => {
    const s = sink();
    const p = createProgress(s, true);
    p.update({ phase: 'build base HEAD' });
    p.log('built');
    p.done();
    expect(s.out).toEqual(['build base HEAD', '\r\x1b[2K', 'built\n', 'build base HEAD', '\r\x1b[2K']);
  });
  it('draws in place under a real pseudo-terminal (script -qc)', (ctx) => {
    let present = true;
    try { execFileSync('script', ['--version'], { stdio: 'ignore' }); } catch { present = false; }
    requires(ctx, 'script (util-linux)', present);
    const code = `import { createProgress } from './nightly/progress.ts'; const p = createProgress(process.stderr, process.stderr.isTTY === true); p.update({ phase: 'battery', run: 1, of: 2, etaMs: 1000 }); p.update({ phase: 'battery', run: 2, of: 2, etaMs: 0 }); p.done();`;
    const out = execFileSync('script', ['-qec', `node --import tsx -e "${code}"`, '/dev/null'], { cwd: `${import.meta.dirname}/../..` }).toString();
    expect(out).toContain('battery · run 1 of 2 · ETA 1s\r\x1b[2Kbattery · run 2 of 2 · ETA 0s');
    expect(out).not.toContain('progress:');
  });
});
