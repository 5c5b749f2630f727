/**
 * The access log of refused logins: one line per refused WebSocket upgrade (reason, remote
 * address, the user when the token's signature held), at most `perSecond` lines a second. Lines
 * over the budget are counted and reported in one summary line per second, so an attack with
 * forged tokens cannot flood the log; `parley_logins_total{reason}` stays the exact count.
 */
import type { Logger } from 'pino';
import type { Meter } from '../metrics.ts';

export interface LoginRefusal {
  readonly reason: string;
  /** The peer's address (the socket's), and the first X-Forwarded-For hop when a proxy set one. */
  readonly remote: string | undefined;
  readonly forwardedFor?: string | undefined;
  /** Only when the token's signature verified (an expired token): never a claim of a forged one. */
  readonly user?: string | undefined;
}

export interface AccessLogOptions {
  log: Pick<Logger, 'warn'>;
  meter?: Meter;
  /** Lines written per second before the rest are only counted (default 20). */
  perSecond?: number;
  now?: () => number;
}

export class LoginAccessLog {
  readonly #log: Pick<Logger, 'warn'>;
  readonly #meter: Meter | undefined;
  readonly #perSecond: number;
  readonly #now: () => number;
  #windowStart = 0;
  #written = 0;
  #suppressed = 0;
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(opts: AccessLogOptions) {
    this.#log = opts.log;
    this.#meter = opts.meter;
    this.#perSecond = opts.perSecond ?? 20;
    this.#now = opts.now ?? Date.now;
  }

  /** Logs one refused login, or counts it when this second's budget is spent. */
  refused(r: LoginRefusal): void {
    const now = this.#now();
    if (now - this.#windowStart >= 1000) this.#roll(now);
    if (this.#written < this.#perSecond) {
      this.#written++;
      const line: Record<string, unknown> = { event: 'login_refused', reason: r.reason, remote: r.remote ?? 'unknown' };
      if (r.forwardedFor) line.forwardedFor = r.forwardedFor.split(',')[0]!.trim().slice(0, 64);
      if (r.user) line.user = r.user;
      this.#log.warn(line, 'login refused');
      this.#meter?.inc('parley_access_log_lines_total', { kind: 'written' });
      return;
    }
    this.#suppressed++;
    this.#meter?.inc('parley_access_log_lines_total', { kind: 'suppressed' });
    // The summary is written when the second ends, even if no later refusal arrives to roll it.
    this.#flushTimer ??= setTimeout(() => { this.#flushTimer = undefined; this.#roll(this.#now()); }, Math.max(1, 1000 - (now - this.#windowStart)));
    this.#flushTimer.unref();
  }

  /** Ends the current second: writes its summary line if lines were suppressed. */
  #roll(now: number): void {
    if (this.#suppressed > 0) {
      this.#log.warn({ event: 'login_refused_suppressed', suppressed: this.#suppressed, perSecond: this.#perSecond }, 'login refusals suppressed');
    }
    this.#suppressed = 0;
    this.#written = 0;
    this.#windowStart = now;
  }

  /** Writes a pending summary at once (on shutdown). */
  flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#roll(this.#now());
  }
}
