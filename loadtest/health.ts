/**
 * Generator health of one worker: event-loop delay (perf_hooks), CPU (process.cpuUsage) and
 * schedule lag, sampled per slice. A worker that fell behind makes the whole run invalid: over
 * the whole run (p99) or in its worst slice, since a short stall hides in the run's p99.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { createHistogram, percentileMs, recordMs, type Histogram } from './histogram.ts';
import type { WorkerHealth } from './result.ts';

/** One worker's health figures: the result file's WorkerHealth without its identity. */
export type HealthSnapshot = Omit<WorkerHealth, 'worker' | 'users'>;

export class HealthMonitor {
  readonly #loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  readonly #lag: Histogram = createHistogram();
  readonly #sliceLag: Histogram = createHistogram();
  #worstSliceLag = 0;
  readonly #startCpu = process.cpuUsage();
  readonly #startAt = performance.now();
  #sliceCpu = process.cpuUsage();
  #sliceAt = performance.now();
  #cpuMax = 0;
  #rssMax = 0;
  #heapMax = 0;

  start(): void {
    this.#loop.enable();
  }

  lag(ms: number): void {
    recordMs(this.#lag, ms);
    recordMs(this.#sliceLag, ms);
  }

  /** Samples CPU and memory at a slice boundary. */
  sample(): void {
    if (this.#sliceLag.totalCount) this.#worstSliceLag = Math.max(this.#worstSliceLag, percentileMs(this.#sliceLag, 99));
    this.#sliceLag.reset();
    const t = performance.now();
    const cpu = process.cpuUsage(this.#sliceCpu);
    const dt = t - this.#sliceAt;
    if (dt > 50) this.#cpuMax = Math.max(this.#cpuMax, ((cpu.user + cpu.system) / 1000 / dt) * 100);
    this.#sliceCpu = process.cpuUsage();
    this.#sliceAt = t;
    const mem = process.memoryUsage();
    this.#rssMax = Math.max(this.#rssMax, mem.rss);
    this.#heapMax = Math.max(this.#heapMax, mem.heapUsed);
  }

  snapshot(): HealthSnapshot {
    this.sample();
    const cpu = process.cpuUsage(this.#startCpu);
    const dt = performance.now() - this.#startAt;
    const r = (n: number) => Math.round(n * 1000) / 1000;
    return {
      eventLoopDelayP99Ms: r(this.#loop.count ? this.#loop.percentile(99) / 1e6 : 0),
      eventLoopDelayMaxMs: r(this.#loop.count ? this.#loop.max / 1e6 : 0),
      cpuPercent: r(dt > 0 ? ((cpu.user + cpu.system) / 1000 / dt) * 100 : 0),
      cpuMaxPercent: r(this.#cpuMax),
      scheduleLagP99Ms: percentileMs(this.#lag, 99),
      scheduleLagMaxMs: this.#lag.totalCount ? Math.round(this.#lag.maxValue) / 1000 : 0,
      scheduleLagWorstSliceP99Ms: this.#worstSliceLag,
      rssMaxMb: r(this.#rssMax / 2 ** 20),
      heapUsedMaxMb: r(this.#heapMax / 2 ** 20),
    };
  }

  stop(): void {
    this.#loop.disable();
  }
}
