/** Wraps one load run with the server watch: scrape before, during and after. */
import type { LoadResult } from '../loadtest/result.ts';
import type { Target } from './deploy.ts';
import { workOf, type WorkUnit } from './metrics.ts';
import { combineSpans, nodeFigures, serverFigures, ServerWatch } from './scrape.ts';

/**
 * Runs `drive` under a server watch; CPU and GC are divided by the run's work in `unit`. A cluster
 * target is watched node by node and compared as one server (combineSpans); each node's own
 * figures come back in `nodes`, by node id.
 */
export async function watchRun<T extends { result?: LoadResult; code: number }>(
  target: Target,
  drive: (t: Target) => Promise<T>,
  unit: WorkUnit = 'acked',
): Promise<T & { server: Record<string, number>; nodes?: Record<string, Record<string, number>> }> {
  if (!target.nodes) {
    const watch = new ServerWatch(target.opsUrl, target.pid);
    await watch.start();
    const out = await drive(target);
    const server = await watch.stop(out.result ? workOf(out.result, unit) : 0);
    return { ...out, server };
  }
  const watches = target.nodes.map((n) => new ServerWatch(n.opsUrl, n.pid));
  await Promise.all(watches.map((w) => w.start()));
  const out = await drive(target);
  const spans = await Promise.all(watches.map((w) => w.finish()));
  const server = serverFigures(combineSpans(spans), out.result ? workOf(out.result, unit) : 0);
  const nodes = Object.fromEntries(target.nodes.map((n, i) => [n.id, nodeFigures(spans[i]!)]));
  return { ...out, server, nodes };
}
