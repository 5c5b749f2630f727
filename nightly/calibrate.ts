/**
 * Thresholds from A/A sessions (`--base X --head X`): the spread of the log ratio of medians
 * between two copies of the same build is the noise floor of each metric on this machine. A metric's
 * threshold becomes max(its spec threshold, 3 x that spread), so the gate never asks for changes
 * smaller than the machine can tell apart.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Design } from './batteries.ts';
import type { NightRecord } from './history.ts';
import { madSd } from './stats/describe.ts';

export const CALIBRATION_SCHEMA_VERSION = 1;

export interface Calibration {
  schemaVersion: typeof CALIBRATION_SCHEMA_VERSION;
  at: string;
  /** The design of the A/A nights it came from (absent in files from before pairs: serial). */
  design?: Design;
  sessions: number;
  /** metric key → threshold (relative change) and the A/A spread it came from. */
  metrics: Record<string, { threshold: number; spread: number; samples: number }>;
}

/**
 * Calibration from the most recent `last` A/A nights (default 30) of `nights`, which the caller
 * picks of one design. Needs at least 3 per metric.
 */
export function calibrate(nights: readonly NightRecord[], design: Design, last = 30): Calibration {
  const aa = nights.filter((n) => n.aa).slice(-last);
  const logs = new Map<string, number[]>();
  for (const night of aa) for (const r of night.rows) {
    if (!(r.ratio > 0) || !Number.isFinite(r.ratio)) continue;
    const list = logs.get(r.metric) ?? [];
    list.push(Math.log(r.ratio));
    logs.set(r.metric, list);
  }
  const metrics: Calibration['metrics'] = {};
  for (const [key, xs] of logs) {
    if (xs.length < 3) continue;
    // Spread around 0 (A/A has no true change): a robust scale of |log ratio|, floored by MAD.
    const spread = Math.max(madSd(xs), 1.4826 * medianAbs(xs));
    metrics[key] = { threshold: Math.expm1(3 * spread), spread, samples: xs.length };
  }
  return { schemaVersion: CALIBRATION_SCHEMA_VERSION, at: new Date().toISOString(), design, sessions: aa.length, metrics };
}

function medianAbs(xs: readonly number[]): number {
  const s = xs.map(Math.abs).sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * Where the calibration of a design is kept: a pair's spread is not a serial run's, so each design
 * has its own file (`calibration.json`, as before pairs, for serial; `calibration-paired.json`).
 */
export function calibrationFile(dir: string, design: Design): string {
  return path.join(dir, design === 'serial' ? 'calibration.json' : `calibration-${design}.json`);
}

export function saveCalibration(dir: string, cal: Calibration): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(calibrationFile(dir, cal.design ?? 'serial'), `${JSON.stringify(cal, null, 2)}\n`);
}

/** Stored thresholds of `design` by metric key, or empty when none were calibrated. */
export function loadThresholds(dir: string, design: Design): Record<string, number> {
  const file = calibrationFile(dir, design);
  if (!fs.existsSync(file)) return {};
  const cal = JSON.parse(fs.readFileSync(file, 'utf8')) as Calibration;
  if (cal.schemaVersion !== CALIBRATION_SCHEMA_VERSION) throw new Error(`${file}: schemaVersion must be ${CALIBRATION_SCHEMA_VERSION}`);
  if ((cal.design ?? 'serial') !== design) throw new Error(`${file}: holds the ${cal.design ?? 'serial'} design's calibration, expected ${design}`);
  return Object.fromEntries(Object.entries(cal.metrics).map(([k, v]) => [k, v.threshold]));
}
