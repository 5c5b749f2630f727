/**
 * The release gate: from the compared rows and the reviewed waivers to one exit code.
 * A regression fails the gate unless a live waiver names its scenario and metric; a gating metric
 * that stays inconclusive after the last round is "noisy", which a human must look at (never an
 * automatic pass). Infrastructure failures (build, deploy, load generator) have their own code.
 */
import fs from 'node:fs';
import type { Row } from './compare.ts';

/** Exit codes of `parley nightly`, documented in docs/nightly.md. */
export const GATE_EXIT = Object.freeze({
  pass: 0,
  regression: 1,
  usage: 2,
  inconclusive: 3,
  infrastructure: 4,
});

/** `baseline`: the first night of a history, the head measured against itself; nothing to gate yet. */
export type GateStatus = 'pass' | 'regression' | 'inconclusive' | 'infrastructure' | 'baseline';

export interface Waiver {
  scenario: string;
  metric: string;
  reason: string;
  /** ISO date (YYYY-MM-DD); the waiver stops applying after this day. */
  expires: string;
  /** Who reviewed the waiver (free text, e.g. a handle). */
  approvedBy?: string;
}

export interface GateResult {
  status: GateStatus;
  exitCode: number;
  reasons: string[];
  /** Regressions excused by a live waiver. */
  waived: { scenario: string; metric: string; reason: string }[];
  /** Waivers past their expiry date, listed so somebody renews or deletes them. */
  expiredWaivers: Waiver[];
}

/** Reads and validates a waivers file; every problem is reported at once. Missing file = no waivers. */
export function loadWaivers(file: string): Waiver[] {
  if (!fs.existsSync(file)) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: expected JSON: ${(err as Error).message}`);
  }
  return validateWaivers(raw, file);
}

export function validateWaivers(raw: unknown, where = 'waivers'): Waiver[] {
  const list = (raw as { waivers?: unknown })?.waivers;
  if (!Array.isArray(list)) throw new Error(`${where}: expected {"waivers": [...]}`);
  const problems: string[] = [];
  list.forEach((w: Record<string, unknown>, i) => {
    for (const k of ['scenario', 'metric', 'reason', 'expires']) {
      if (typeof w?.[k] !== 'string' || !(w[k] as string).trim()) problems.push(`waivers[${i}].${k} must be a non-empty string`);
    }
    if (typeof w?.expires === 'string' && !/^\d{4}-\d{2}-\d{2}$/.test(w.expires)) problems.push(`waivers[${i}].expires must be YYYY-MM-DD, got "${w.expires}"`);
  });
  if (problems.length) throw new Error(`${where}: invalid waivers:\n  ${problems.join('\n  ')}`);
  return list as Waiver[];
}

/**
 * Applies waivers (live on `today`, YYYY-MM-DD) and decides the gate. A `baseline` night (the first
 * of a history) passes with its own status whatever its A/A rows say: there is no base to gate on.
 */
export function decideGate(rows: readonly Row[], waivers: readonly Waiver[], today: string, infraFailure?: string, baseline?: string): GateResult {
  const live = waivers.filter((w) => w.expires >= today);
  const expiredWaivers = waivers.filter((w) => w.expires < today);
  if (infraFailure) return { status: 'infrastructure', exitCode: GATE_EXIT.infrastructure, reasons: [infraFailure], waived: [], expiredWaivers };
  if (baseline) return { status: 'baseline', exitCode: GATE_EXIT.pass, reasons: [baseline], waived: [], expiredWaivers };
  const waived: GateResult['waived'] = [];
  const regressions: string[] = [];
  const noisy: string[] = [];
  for (const r of rows) {
    const name = `${r.scenario} ${r.metric}`;
    if (r.verdict === 'regression') {
      const w = live.find((x) => (x.scenario === r.scenario || x.scenario === '*') && x.metric === r.metric);
      if (w) waived.push({ scenario: r.scenario, metric: r.metric, reason: w.reason });
      else regressions.push(`${name}: ${fmtPct(r.ratio)} (95% CI ${fmtPct(r.ci.lo)}..${fmtPct(r.ci.hi)}, q=${r.q.toPrecision(2)}, threshold ${(r.threshold * 100).toFixed(0)}%)`);
    } else if (r.gate && (r.verdict === 'inconclusive' || r.verdict === 'missing')) {
      noisy.push(`${name}: ${r.verdict} (${fmtPct(r.ratio)}, MDE ${Number.isFinite(r.mde) ? `${(r.mde * 100).toFixed(1)}%` : 'not reachable'})`);
    }
  }
  if (regressions.length) return { status: 'regression', exitCode: GATE_EXIT.regression, reasons: regressions, waived, expiredWaivers };
  if (noisy.length) return { status: 'inconclusive', exitCode: GATE_EXIT.inconclusive, reasons: noisy, waived, expiredWaivers };
  return { status: 'pass', exitCode: GATE_EXIT.pass, reasons: [], waived, expiredWaivers };
}

/** A ratio as a signed percentage change: 1.083 → "+8.3%". */
export function fmtPct(ratio: number): string {
  if (!Number.isFinite(ratio)) return 'n/a';
  const pct = (ratio - 1) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%`;
}
