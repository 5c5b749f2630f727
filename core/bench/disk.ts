/**
 * How long the data directory's disk takes to make a small append durable. Durable messaging
 * cannot ack faster than this, so bench:core reports it beside parley's latency.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface DiskProbe {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Appends 4 KiB and fdatasyncs, `samples` times, in `dir`; removes its file after. */
export function probeFdatasync(dir: string, samples = 200): DiskProbe {
  const file = path.join(dir, 'fsync-probe');
  const fd = fs.openSync(file, 'a');
  const page = Buffer.alloc(4096, 1);
  const ms: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      fs.writeSync(fd, page);
      const t0 = performance.now();
      fs.fdatasyncSync(fd);
      ms.push(performance.now() - t0);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => Math.round(ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)]! * 100) / 100;
  return { samples, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}
