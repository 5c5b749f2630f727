/**
 * Simulated sessions of a whole battery on synthetic run data (lognormal, bimodal, with outliers),
 * through the same compare + adaptive-rounds code the pipeline uses: A/A sessions must almost never
 * report a regression, and a shift of one printed MDE must be caught in most sessions.
 */
import { compareBattery, type Sample } from '../compare.ts';
import type { MetricSpec } from '../metrics.ts';
import { adaptiveSession, type SessionPlan } from '../session.ts';
import { mulberry32, normal, type Random } from '../stats/prng.ts';

type Shape = 'lognormal' | 'bimodal' | 'outliers';
interface SimMetric { spec: MetricSpec; shape: Shape; sigma: number }

const spec = (key: string, threshold: number, gate: boolean, better: MetricSpec['better'] = 'lower'): MetricSpec =>
  ({ key, label: key, unit: 'ms', better, threshold, gate });

// A battery of 2 scenarios x 10 metrics, noise levels like those measured on a 2-core VM.
export const METRICS: SimMetric[] = [
  { spec: spec('p50', 0.10, true), shape: 'lognormal', sigma: 0.04 },
  { spec: spec('p99', 0.20, false), shape: 'outliers', sigma: 0.08 },
  { spec: spec('ack50', 0.10, true), shape: 'lognormal', sigma: 0.05 },
  { spec: spec('ack99', 0.20, false), shape: 'bimodal', sigma: 0.06 },
  { spec: spec('connect', 0.15, false), shape: 'outliers', sigma: 0.07 },
  { spec: spec('rate', 0.05, false, 'higher'), shape: 'lognormal', sigma: 0.01 },
  { spec: spec('cpu', 0.10, true), shape: 'lognormal', sigma: 0.03 },
  { spec: spec('rss', 0.10, false), shape: 'bimodal', sigma: 0.02 },
  { spec: spec('lag', 0.30, false), shape: 'outliers', sigma: 0.12 },
  { spec: spec('gc', 0.30, false), shape: 'bimodal', sigma: 0.10 },
];
const SCENARIOS = ['chat', 'rooms'];
const PLAN: SessionPlan = { initialBlocks: 4, maxBlocks: 6 };

function draw(rand: Random, m: SimMetric, shift: number): number {
  let v = 100 * Math.exp(m.sigma * normal(rand));
  if (m.shape === 'bimodal' && rand() < 0.3) v *= 1 + 3 * m.sigma;
  if (m.shape === 'outliers' && rand() < 0.05) v *= 2 + rand();
  const worse = m.spec.better === 'lower' ? 1 + shift : 1 / (1 + shift);
  return v * worse;
}

/** One whole session; `shifted` names the metric whose head runs are worse by `shift`. */
export async function session(seed: number, shifted?: { key: string; shift: number }) {
  const rand = mulberry32(seed);
  const data = new Map<string, { base: number[]; head: number[] }>();
  for (const sc of SCENARIOS) for (const m of METRICS) data.set(`${sc}|${m.spec.key}`, { base: [], head: [] });
  const runBlock = () => {
    for (const side of ['base', 'head', 'head', 'base'] as const) {
      for (const sc of SCENARIOS) for (const m of METRICS) {
        const shift = side === 'head' && sc === 'chat' && shifted?.key === m.spec.key ? shifted.shift : 0;
        data.get(`${sc}|${m.spec.key}`)![side].push(draw(rand, m, shift));
      }
    }
  };
  const evaluate = () => compareBattery(SCENARIOS.flatMap((sc) => METRICS.map((m): Sample => ({ scenario: sc, spec: m.spec, ...data.get(`${sc}|${m.spec.key}`)! }))), { resamples: 200, seed: String(seed) });
  return adaptiveSession(PLAN, runBlock, evaluate);
}


/** Sessions in [from, to) that reported any regression when base and head come from one distribution. */
export async function aaAlarms(from: number, to: number): Promise<number> {
  let alarms = 0;
  for (let s = from; s < to; s++) if ((await session(s)).rows.some((r) => r.verdict === 'regression')) alarms++;
  return alarms;
}
