/** The trend of each compared metric over recent nights, with its change points: for the report and the index. */
import { changePoints } from './changepoint.ts';
import type { Row } from './compare.ts';
import type { NightRecord } from './history.ts';
import type { Trend } from './report.ts';

/** Head medians of recent built nights (same battery, not A/A) with their change points. */
export function trendsOf(nights: readonly NightRecord[], rows: readonly Row[], last = 30): Trend[] {
  const series = nights.filter((n) => !n.aa && n.gate.status !== 'infrastructure').slice(-last);
  return rows.map((r) => {
    const points = series.flatMap((n) => {
      const x = n.rows.find((y) => y.scenario === r.scenario && y.metric === r.metric);
      return x && Number.isFinite(x.headMedian) && x.headMedian !== null ? [{ night: n.id, commit: n.head.commit, value: x.headMedian }] : [];
    });
    const cps = changePoints(points.map((p) => p.value), { minMagnitude: r.threshold }).map((c) => ({ ...c, commit: points[c.index]!.commit, night: points[c.index]!.night }));
    return { scenario: r.scenario, metric: r.metric, unit: r.unit, points, changePoints: cps };
  });
}
