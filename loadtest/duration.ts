/** Durations as written in scenarios and flags: `500ms`, `30s`, `2m`, `1h`, or a bare number of ms. */
import { ConfigError } from '../core/config.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a duration into ms; throws ConfigError naming `what` and the accepted forms. */
export function parseDuration(v: string | number, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim()) : null;
  if (!m) throw new ConfigError([`${what} must be a duration like 500ms, 30s, 2m or 1h, got ${JSON.stringify(v)}`]);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
}

export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
