/**
 * The nightly history: one append-only JSONL file, one line per night with every run's numbers,
 * every row's verdict and the gate, each appended atomically. Lines carry `schemaVersion`; readers skip (and count) lines of
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
  /** In a paired battery, the pair this run belongs to (its other side has the same number). */
  pair?: number;
  startedAt: string;
  durationMs: number;
  metrics: Record<string, number>;
  /** The run's `parley load` result file, under the night's runs/ folder (absent in older nights). */
  file?: string;
  /** Generator and machine health at the time of the run. */
  health: { scheduleLagP99Ms?: number; generatorCpuPercent?: number; loadavg1: number; stealPercent?: number };
  /** A cluster run's figures node by node (nodeFigures in scrape.ts), by node id; absent for one server. */
  nodes?: Record<string, Record<string, number>>;
}

/** A run thrown away (and redone): why, and what `parley load` said last. */
export interface DiscardedRun {
  side: string;
  scenario: string;
  reason: string;
  /** The load's last stderr lines (its stdout's when stderr was empty); absent when it said nothing. */
  tail?: string[];
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
  /** Runs thrown away and redone, with the reason and the load's last output lines. */
  discarded: DiscardedRun[];
  rows: Row[];
  gate: { status: GateStatus; exitCode: number; reasons: string[] };
  environment: Record<string, string | number>;
}

export function historyFile(dir: string): string {
  return path.join(dir, 'history.jsonl');
}

/**
 * Appends one night atomically: the history plus the new line is written to a temporary file,
 * flushed and renamed over the old one, so a crash or a full disk leaves the old history or the
 * new one, never half a line. A torn last line left by an older writer is ended first, so it is
 * skipped by readers instead of swallowing the new record.
 */
export function appendNight(dir: string, night: NightRecord): void {
  fs.mkdirSync(dir, { recursive: true });
  // JSON has no NaN/Infinity: store them as null and read them back as NaN.
  const line = JSON.stringify(night, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
  writeAtomically(historyFile(dir), (old) => `${old}${old && !old.endsWith('\n') ? '\n' : ''}${line}\n`);
}

/** Rewrites `file` as `next(current text)` through a flushed temporary file and a rename. */
export function writeAtomically(file: string, next: (current: string) => string): void {
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, next(current));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
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
