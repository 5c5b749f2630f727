/** Wraps one load run with the server watch: scrape before, during and after. */
import type { LoadResult } from '../loadtest/result.ts';
import type { Target } from './deploy.ts';
import { ServerWatch } from './scrape.ts';

export async function watchRun<T extends { result?: LoadResult; code: number }>(
  target: Target,
  drive: (t: Target) => Promise<T>,
): Promise<T & { server: Record<string, number> }> {
  const watch = new ServerWatch(target.opsUrl, target.pid);
  await watch.start();
  const out = await drive(target);
  const server = await watch.stop(out.result?.counters.acked ?? 0);
  return { ...out, server };
}
