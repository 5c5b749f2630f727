/**
 * The PostgreSQL connection layer of the store: one Pool, timed queries, transactions retried on
 * deadlock or serialization failure, and connection failures turned into store_unavailable. The
 * Pool replaces broken connections by itself, so the node recovers when the database returns.
 */
import pg from 'pg';
import { ParleyError } from '../errors.ts';

/** Hooks for the metrics layer; every callback is optional. */
export interface PgObserver {
  /** A committed group-commit transaction: operations in it and milliseconds. */
  onCommit?: (ops: number, ms: number) => void;
  /** Duration of every statement, in milliseconds. */
  onQuery?: (ms: number) => void;
  /** A failed statement or transaction: database unreachable, retried (deadlock, race), or anything else. */
  onError?: (kind: 'unavailable' | 'retried' | 'other', err: unknown) => void;
  /** The database became unreachable (since when, why), and reachable again (undefined). */
  onFault?: (down: { since: number; message: string } | undefined) => void;
}

export interface PgDbOptions extends PgObserver {
  /** postgres:// or postgresql:// URL. */
  url: string;
  /** Most connections in the pool. */
  poolMax?: number;
  /**
   * How long a request waits for a pooled connection (queued behind others, or connecting) before
   * it fails with store_unavailable. A database that is down refuses at once; this bounds a hung one.
   */
  connectTimeoutMs?: number;
  /** Bound on one statement, so a hung database does not hold sends forever. */
  statementTimeoutMs?: number;
}

const INT8_OID = 20;
/** Seqs and millisecond timestamps fit in 2^53: read BIGINT as a number, not a string. */
const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) };

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** SQLSTATEs of a server going away, not taking connections, or past the statement timeout (class 08 is handled apart). */
const DOWN_STATES = new Set(['57P01', '57P02', '57P03', '53300', '57014']);
/** pg reports a dropped socket or a pool timeout with a plain Error and no code. */
const DOWN_MESSAGE = /connection terminated|timeout exceeded when trying to connect|connection error and is not queryable|not queryable|connection timeout/i;
const RETRY_STATES = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 8;

/** True for errors meaning the database cannot be reached now (down, restarting, refusing). */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NET_CODES.has(code) || DOWN_STATES.has(code) || code.startsWith('08'))) return true;
  return code === undefined && DOWN_MESSAGE.test(err.message);
}

/** Deadlocks, serialization failures and a cmid committed by another node meanwhile: run the transaction again. */
function isRetryable(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string };
  return RETRY_STATES.has(e.code ?? '') || (e.code === '23505' && e.constraint === 'messages_by_cmid');
}

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export type Query = <R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<R[]>;

/** How often a database found unreachable is tried again while nothing else reaches it. */
const PROBE_MS = 1_000;

export class PgDb {
  readonly pool: pg.Pool;
  readonly #obs: PgObserver;
  readonly url: string;
  /** Since when and why the database cannot be reached; undefined while it answers. */
  #down: { since: number; message: string } | undefined;
  #probe: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(opts: PgDbOptions) {
    this.#obs = opts;
    this.url = redactUrl(opts.url);
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolMax ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 30_000,
      idleTimeoutMillis: 30_000,
      statement_timeout: opts.statementTimeoutMs ?? 30_000,
      application_name: 'parley',
      types,
    });
    // An idle connection cut by a restart emits 'error' on the pool; unhandled, it would crash the node.
    this.pool.on('error', (err) => this.#obs.onError?.('unavailable', err));
  }

  /** Settles after every operation started before it, like SQLite's in-order answers (see ordered). */
  #tail: Promise<unknown> = Promise.resolve();

  /**
   * Lets `p` settle only after everything passed here before it. Operations still run at once on
   * the pool, but callers hear back in call order, so a client's pipelined sends, each going
   * through the same store calls, are appended in the order they were sent.
   */
  ordered<T>(p: Promise<T>): Promise<T> {
    const prev = this.#tail;
    const out = p.then((v) => prev.then(() => v), (e: unknown) => prev.then(() => { throw e; }));
    this.#tail = out.catch(() => undefined);
    return out;
  }

  /** One statement on any pooled connection (autocommit), answered in call order. */
  readonly query: Query = (text, values) => this.ordered((async () => {
    try {
      return await this.#timed(this.pool, text, values);
    } catch (err) {
      throw this.#fail(err);
    }
  })());

  /** One statement that is its own transaction, run again on a deadlock or race; not ordered (the append queue orders its callers). */
  async statement<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#timed<R>(this.pool, text, values);
      } catch (err) {
        if (isRetryable(err) && attempt < MAX_ATTEMPTS) {
          this.#obs.onError?.('retried', err);
          continue;
        }
        throw this.#fail(err);
      }
    }
  }

  /** Runs `fn` in a transaction on one connection, answered in call order; retried from the start on a deadlock or race. */
  tx<T>(fn: (q: Query) => Promise<T>): Promise<T> {
    return this.ordered(this.#tx(fn));
  }

  async #tx<T>(fn: (q: Query) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let c: pg.PoolClient;
      try {
        c = await this.pool.connect();
      } catch (err) {
        throw this.#fail(err);
      }
      let broken = false;
      try {
        const q: Query = (text, values) => this.#timed(c, text, values);
        await q('BEGIN');
        const out = await fn(q);
        await q('COMMIT');
        return out;
      } catch (err) {
        broken = isUnavailable(err);
        if (!broken) await c.query('ROLLBACK').catch(() => { broken = true; });
        if (!broken && isRetryable(err) && attempt < MAX_ATTEMPTS) {
          this.#obs.onError?.('retried', err);
          continue;
        }
        throw this.#fail(err);
      } finally {
        // A connection that failed mid-transaction is discarded; the pool opens a fresh one when needed.
        c.release(broken || undefined);
      }
    }
  }

  async #timed<R extends pg.QueryResultRow>(on: pg.Pool | pg.PoolClient, text: string, values?: unknown[]): Promise<R[]> {
    const t0 = performance.now();
    try {
      const rows = (await on.query<R>(text, values)).rows;
      if (this.#down) this.#up();
      return rows;
    } finally {
      this.#obs.onQuery?.(performance.now() - t0);
    }
  }

  /**
   * Since when the database cannot be reached, or undefined while it answers: what /readyz and
   * parley_store_unavailable report, so a load balancer stops sending users to a node that cannot
   * store their messages. Set by the first failure; cleared by the next statement that succeeds,
   * or by a probe every PROBE_MS while nothing else is tried.
   */
  fault(): { since: number; message: string } | undefined {
    return this.#down;
  }

  #markDown(err: unknown): void {
    if (this.#down || this.#ended) return;
    this.#down = { since: Date.now(), message: (err as Error).message };
    this.#obs.onFault?.(this.#down);
    this.#probe = setInterval(() => {
      this.pool.query('SELECT 1').then(() => this.#up(), () => { /* still down */ });
    }, PROBE_MS).unref();
  }

  #up(): void {
    if (!this.#down) return;
    this.#down = undefined;
    clearInterval(this.#probe);
    this.#probe = undefined;
    this.#obs.onFault?.(undefined);
  }

  #fail(err: unknown): unknown {
    if (err instanceof ParleyError) return err;
    if (isUnavailable(err)) {
      this.#markDown(err);
      this.#obs.onError?.('unavailable', err);
      return new ParleyError('store_unavailable', `the database is unavailable (${(err as Error).message}); retry with the same cmid`);
    }
    this.#obs.onError?.('other', err);
    return err;
  }

  /** Pool usage for the metrics layer. */
  stats(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  end(): Promise<void> {
    this.#ended = true;
    clearInterval(this.#probe);
    return this.pool.end();
  }
}
