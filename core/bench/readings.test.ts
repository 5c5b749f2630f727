import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { GcTrace } from './readings.ts';

const child = () => ({ stdout: new EventEmitter() }) as unknown as ChildProcess;

describe('GcTrace', () => {
  it('counts what the heap allocated between collections: each "before" less the previous "after"', () => {
    const gc = new GcTrace(child());
    gc.feed('[25130:0x3cc1d490]      160 ms: Scavenge 3.9 (4.0) -> 3.6 (5.0) MB, 3.57 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ');
    gc.feed('[25130:0x3cc1d490]      189 ms: Scavenge 4.3 (5.4) -> 4.0 (6.0) MB, 27.51 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ');
    gc.feed('[25170:0x427e2d00]      289 ms: Mark-Compact (reduce) 9.0 (12.0) -> 2.6 (5.0) MB, 19.89 / 0.00 ms  (average mu = 1.000, current mu = 1.000) testing; GC in old space requested');
    gc.feed('{"level":30,"msg":"parley listening"}');
    expect(gc.collections).toBe(3);
    // 4.3 - 3.6 and 9.0 - 4.0; the first collection only sets the baseline.
    expect(gc.allocatedMB).toBeCloseTo(5.7, 9);
    expect(gc.pauseMs).toBeCloseTo(50.97, 9);
  });

  it('reads lines split across chunks of the child\'s stdout', () => {
    const c = child();
    const gc = new GcTrace(c);
    c.stdout!.emit('data', Buffer.from('[1:0x1]  10 ms: Scavenge 2.0 (3.0) -> 1.0 (3.0) MB, 1.00 / 0.00 ms  x\n[1:0x1]  20 ms: Scav'));
    c.stdout!.emit('data', Buffer.from('enge 3.5 (4.0) -> 1.5 (4.0) MB, 2.00 / 0.00 ms  x\n'));
    expect(gc.collections).toBe(2);
    expect(gc.allocatedMB).toBeCloseTo(2.5, 9);
  });
});
