/** Wraps one load run with the server watch: scrape before, during and after. */
import type { LoadResult } from '../loadtest/result.ts';
import type { Target } from './deploy.ts';
import { workOf, type WorkUnit } from './metrics.ts';
import { ServerWatch } from './scrape.ts';

/** Runs `drive` under a server watch; CPU and GC are divided by the run's work in `unit`. */
export async function watchRun<T extends { result?: LoadResult; code: number }>(
  target: Target,
  drive: (t: Target) => Promise<T>,
  unit: WorkUnit = 'acked',
): Promise<T & { server: Record<string, number> }> {
  const watch = new ServerWatch(target.opsUrl, target.pid);
  await watch.start();
  const out = await drive(target);
  const server = await watch.stop(out.result ? workOf(out.result, unit) : 0);
  return { ...out, server };
}
