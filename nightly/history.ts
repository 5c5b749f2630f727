/**
 * The nightly history: one append-only JSONL file, one line per night with every run's numbers,
 * every row's verdict and the gate. Lines carry `schemaVersion`; readers skip (and count) lines of
 * another version instead of guessing at them.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Row } from './compare.ts';
import type { GateStatus } from './gate.ts';

export const HISTORY_SCHEMA_VERSION = 1;

export interface BuildRef {
  ref: string;
  commit: string;
  /** Commit subject, for the report. */
  subject?: string;
}

/** One run of one scenario against one side, as stored. */
export interface RunRecord {
  side: 'base' | 'head';
  scenario: string;
  block: number;
  /** Position in the session, 0-based, counting only runs kept. */
  index: number;
  startedAt: string;
  durationMs: number;
  metrics: Record<string, number>;
  /** Generator and machine health at the time of the run. */
  health: { scheduleLagP99Ms?: number; generatorCpuPercent?: number; loadavg1: number; stealPercent?: number };
}

export interface NightRecord {
  schemaVersion: typeof HISTORY_SCHEMA_VERSION;
  id: string;
  at: string;
  battery: string;
  mode: 'build' | 'url';
  /** Base and head were the same commit (A/A calibration session). */
  aa: boolean;
  base: BuildRef;
  head: BuildRef;
  blocks: number;
  runs: RunRecord[];
  /** Runs thrown away and redone, with the reason. */
  discarded: { side: string; scenario: string; reason: string }[];
  rows: Row[];
  gate: { status: GateStatus; exitCode: number; reasons: string[] };
  environment: Record<string, string | number>;
}

export function historyFile(dir: string): string {
  return path.join(dir, 'history.jsonl');
}

/** Appends one night; a single write of one line so concurrent readers never see half a record. */
export function appendNight(dir: string, night: NightRecord): void {
  fs.mkdirSync(dir, { recursive: true });
  // JSON has no NaN/Infinity: store them as null and read them back as NaN.
  const line = JSON.stringify(night, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
  fs.appendFileSync(historyFile(dir), `${line}\n`, { flag: 'a' });
}

/** Every night of the current schema, oldest first, and how many lines were skipped. */
export function readHistory(dir: string): { nights: NightRecord[]; skipped: number } {
  const file = historyFile(dir);
  if (!fs.existsSync(file)) return { nights: [], skipped: 0 };
  const nights: NightRecord[] = [];
  let skipped = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const rec = JSON.parse(line) as NightRecord;
      if (rec.schemaVersion === HISTORY_SCHEMA_VERSION) nights.push(rec);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return { nights, skipped };
}

/** The head build of the latest night that compared real builds: the default `--base`. */
export function previousBuild(nights: readonly NightRecord[]): BuildRef | undefined {
  for (let i = nights.length - 1; i >= 0; i--) if (nights[i]!.mode === 'build' && nights[i]!.gate.status !== 'infrastructure') return nights[i]!.head;
  return undefined;
}
