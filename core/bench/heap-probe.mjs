/**
 * Preloaded into a node under bench:soak only (`node --expose-gc --import heap-probe.mjs ...`,
 * with an IPC channel): answers the bench's questions about the process from inside it.
 * - `heap`: forces a full GC, then reports process.memoryUsage() and how long the GC took: the
 *   heap that survives a collection, which is what a leak grows.
 * - `loop`: event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution) since the last
 *   `loop` question, then starts a new window.
 * Plain JavaScript so it loads before any TypeScript loader, from source or compiled.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

if (process.send && typeof globalThis.gc === 'function') {
  const gc = globalThis.gc;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const mib = (b) => Math.round((b / 2 ** 20) * 10) / 10;
  const ms = (ns) => Math.round(ns / 1e4) / 100;
  process.on('message', (q) => {
    if (!q || typeof q !== 'object') return;
    if (q.cmd === 'heap') {
      const t0 = performance.now();
      gc();
      const gcMs = Math.round((performance.now() - t0) * 100) / 100;
      const m = process.memoryUsage();
      process.send({ id: q.id, heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external), arrayBuffersMiB: mib(m.arrayBuffers), rssMiB: mib(m.rss), gcMs });
    } else if (q.cmd === 'loop') {
      process.send({ id: q.id, p50Ms: ms(loop.percentile(50)), p99Ms: ms(loop.percentile(99)), maxMs: ms(loop.max), meanMs: ms(loop.mean) });
      loop.reset();
    }
  });
  // The channel must not keep the node alive: it drains and exits on SIGTERM as it would without us.
  process.channel?.unref();
}
