/**
 * Readings bench:core takes of a server under test from outside it: CPU nanoseconds over all its
 * threads (/proc/<pid>/task/<tid>/schedstat), bytes its heap allocated (from `--trace-gc` lines on
 * its stdout) and, through the preloaded heap probe (heap-probe.mjs), its heap and RSS after a GC.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/**
 * CPU time a process's threads have run so far, in ns (schedstat's first field, per thread:
 * includes the libuv pool's fdatasyncs and worker threads; exited threads are not counted).
 */
export function cpuNs(pid: number): number {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try { ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]); } catch { /* the thread just exited */ }
  }
  return ns;
}

/** `[pid:0x…]  1234 ms: Scavenge 12.3 (14.0) -> 4.5 (15.0) MB, 0.81 / 0.00 ms …` (V8's --trace-gc). */
const GC_LINE = /ms: ([A-Za-z -]+?)(?: \([a-z ]+\))? ([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ ([\d.]+) ms/;

/**
 * Counts what a `node --trace-gc` server's heap allocated: each collection's "before" size less the
 * previous collection's "after" size is what was allocated between them (resolution: one GC, so
 * read it over windows that span many collections). Also sums the collectors' pause time.
 */
export class GcTrace {
  /** MB allocated up to the last collection seen. */
  allocatedMB = 0;
  pauseMs = 0;
  collections = 0;
  #lastAfterMB: number | undefined;
  #buf = '';

  constructor(child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => {
      const lines = (this.#buf + d.toString('latin1')).split('\n');
      this.#buf = lines.pop()!;
      for (const line of lines) this.#line(line);
    });
  }

  #line(line: string): void {
    const m = GC_LINE.exec(line);
    if (!m) return;
    const before = Number(m[2]);
    const after = Number(m[4]);
    if (this.#lastAfterMB !== undefined) this.allocatedMB += Math.max(0, before - this.#lastAfterMB);
    this.#lastAfterMB = after;
    this.pauseMs += Number(m[6]);
    this.collections++;
  }

  /** Parses one line (for tests). */
  feed(line: string): void {
    this.#line(line);
  }
}

/** Heap and RSS right after a full GC, from heap-probe.mjs in the child (IPC, --expose-gc). */
export interface HeapReading { heapUsedMiB: number; rssMiB: number; externalMiB: number; gcMs: number }

let asked = 0;
export function readHeap(child: ChildProcess, timeoutMs = 30_000): Promise<HeapReading> {
  const id = ++asked;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.off('message', onMessage); reject(new Error('heap probe did not answer')); }, timeoutMs);
    const onMessage = (m: unknown) => {
      if (!m || typeof m !== 'object' || (m as { id?: number }).id !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m as HeapReading);
    };
    child.on('message', onMessage);
    child.send({ cmd: 'heap', id });
  });
}
