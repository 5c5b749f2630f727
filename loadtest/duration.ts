/** Durations as written in scenarios and flags: `500ms`, `30s`, `2m`, `1h`, or a bare number of ms. */
import { UsageError } from '../core/args.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a duration into ms; throws UsageError naming `what` and the accepted forms. */
export function parseDuration(v: string | number, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim()) : null;
  if (!m) throw new UsageError([`${what} must be a duration like 500ms, 30s, 2m or 1h, got ${JSON.stringify(v)}`]);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
}
