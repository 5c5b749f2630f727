/** The trend of each compared metric over recent nights, with its change points: for the report and the index. */
import { changePoints } from './changepoint.ts';
import type { Row } from './compare.ts';
import type { NightRecord } from './history.ts';
import type { Trend } from './report.ts';

/** How a night's builds were deployed: one node, or a cluster (`environment.deploy`, recorded only for clusters). */
export function deploymentOf(n: NightRecord): string {
  return String(n.environment.deploy ?? 'single').split(':')[0]!;
}

/** How a night measured base and head (`environment.design`; nights from before pairs were serial). */
export function designOf(n: NightRecord): string {
  return String(n.environment.design ?? 'serial').split(':')[0]!;
}

/**
 * Head medians of recent compared nights of the same series as `of` (the same battery on the same
 * deployment and design: a cluster night's CPU is two nodes' and must not read as a regression of
 * one, and a paired server shares its CPU with the other side's), not A/A, with their change points.
 */
export function trendsOf(nights: readonly NightRecord[], rows: readonly Row[], of: NightRecord, last = 30): Trend[] {
  const series = nights.filter((n) => !n.aa && n.gate.status !== 'infrastructure' && n.battery === of.battery
    && deploymentOf(n) === deploymentOf(of) && designOf(n) === designOf(of)).slice(-last);
  return rows.map((r) => {
    const points = series.flatMap((n) => {
      const x = n.rows.find((y) => y.scenario === r.scenario && y.metric === r.metric);
      return x && Number.isFinite(x.headMedian) && x.headMedian !== null ? [{ night: n.id, commit: n.head.commit, value: x.headMedian }] : [];
    });
    const cps = changePoints(points.map((p) => p.value), { minMagnitude: r.threshold }).map((c) => ({ ...c, commit: points[c.index]!.commit, night: points[c.index]!.night }));
    return { scenario: r.scenario, metric: r.metric, unit: r.unit, points, changePoints: cps };
  });
}
