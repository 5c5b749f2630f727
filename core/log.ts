/**
 * The node's logger: pino JSON lines (for collectors), or one readable line per record for a
 * person at a terminal (`--log-format pretty`). The pretty form is a small printer of pino's own
 * lines rather than a dependency: time, level, message, then the fields as key=value.
 */
import pino, { type Logger } from 'pino';
import { LOG_LEVELS } from './metrics.ts';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields every record carries that a person at a terminal does not need on each line. */
const QUIET = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'node', 'err']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** One pino JSON line as `HH:MM:SS.mmm LEVEL message key=value ...`, with an error's stack below. */
export function prettyLine(line: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = typeof rec.level === 'number' ? rec.level : 30;
  const name = (LEVELS[level] ?? String(level)).padEnd(5);
  const time = new Date(typeof rec.time === 'number' ? rec.time : Date.now()).toISOString().slice(11, 23);
  const fields = Object.entries(rec).filter(([k]) => !QUIET.has(k)).map(([k, v]) => `${k}=${value(v)}`);
  const err = rec.err as { message?: string; stack?: string } | undefined;
  if (err && !err.stack) fields.push(`err=${value(err.message ?? err)}`);
  const head = [time, color ? `\x1b[${COLORS[level] ?? '0'}m${name}\x1b[0m` : name, String(rec.msg ?? ''), ...fields].filter(Boolean).join(' ');
  const stack = err?.stack ? `\n    ${err.stack.split('\n').join('\n    ')}` : '';
  return `${head}${stack}\n`;
}

/** A pino destination that prints each record with prettyLine onto `out`. */
export function prettyDestination(out: NodeJS.WriteStream = process.stdout): { write(line: string): void } {
  const color = Boolean(out.isTTY) && !process.env.NO_COLOR;
  return { write: (line) => void out.write(prettyLine(line, color)) };
}

/** Lines written by a logger made here (its children included), by level. */
export type LogLineCounts = Record<(typeof LOG_LEVELS)[number], number>;
const LEVEL_NAMES: Record<number, (typeof LOG_LEVELS)[number]> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const counted = new WeakMap<Logger, LogLineCounts>();

/** The line counts of a logger from createLogger; undefined for one made elsewhere. */
export function logLines(log: Logger): Readonly<LogLineCounts> | undefined {
  return counted.get(log);
}

/** The logger of a node with this level, node id and format; it counts its lines by level (logLines). */
export function createLogger(opts: { level: string; nodeId: string | undefined; format?: 'json' | 'pretty' | undefined }): Logger {
  const counts = Object.fromEntries(LOG_LEVELS.map((l) => [l, 0])) as LogLineCounts;
  // pino calls the hook only for levels that are written; children share their parent's hooks.
  const hooks = {
    logMethod(this: Logger, args: Parameters<Logger['info']>, method: (...a: Parameters<Logger['info']>) => void, level: number) {
      const name = LEVEL_NAMES[level];
      if (name) counts[name]++;
      method.apply(this, args);
    },
  };
  const options = { level: opts.level, base: { node: opts.nodeId }, hooks };
  const log = opts.format === 'pretty' ? pino(options, prettyDestination()) : pino(options);
  counted.set(log, counts);
  return log;
}
