/**
 * Disk faults of the SQLite store: which failures mean the disk cannot take writes, the error a
 * client gets while it cannot, and the probe that finds out when it can again.
 */
import fs from 'node:fs/promises';
import { ParleyError } from '../errors.ts';
import type { StoreFault } from './types.ts';

/** How a failed transaction or WAL flush is counted (metric parley_store_errors_total). */
export type StoreErrorKind = 'full' | 'io' | 'flush' | 'other';

/** When a client should retry a write refused with store_unavailable. */
export const STORE_RETRY_MS = 1_000;

/**
 * 'full' for no space (SQLite maps ENOSPC to SQLITE_FULL), 'io' for an I/O error or a disk that
 * went read-only (ext4 remounts so after errors), 'other' for the rest (busy, corrupt, a bug).
 */
export function errorKind(err: unknown): StoreErrorKind {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'other';
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'full';
  if (/^SQLITE_(IOERR|READONLY|CANTOPEN)/.test(code) || code === 'EIO' || code === 'EROFS') return 'io';
  return 'other';
}

const WHY: Record<StoreFault['kind'], string> = {
  full: 'the disk is full',
  io: 'the disk reports I/O errors',
  flush: 'a WAL flush failed and the node needs a restart',
  unreachable: 'the database cannot be reached',
};

/** The error every write gets while the store is faulted: nothing was stored, the same cmid may be retried. */
export function unavailableError(fault: StoreFault): ParleyError {
  return new ParleyError('store_unavailable', `the store cannot write (${WHY[fault.kind]}); nothing was stored: retry with the same cmid after ${STORE_RETRY_MS} ms`, { retryAfterMs: STORE_RETRY_MS, reason: fault.kind });
}

/**
 * Free space the probe must find before writes resume: about one WAL's worth of commits between
 * two checkpoints (1000 pages of 4 KiB), so the first batches after a fault do not fail again.
 */
const PROBE_BYTES = 4 * 1024 * 1024;

/**
 * Writes, fdatasyncs and removes a file beside the database every `intervalMs` until that works,
 * then calls `onWritable`. The work runs in the thread pool: a disk that hangs on I/O errors
 * delays the probe, never the event loop (better-sqlite3 writes would block it).
 */
export class DiskProbe {
  readonly #file: string;
  readonly #intervalMs: number;
  readonly #onWritable: () => void;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #active = false;

  constructor(file: string, intervalMs: number, onWritable: () => void) {
    this.#file = file;
    this.#intervalMs = intervalMs;
    this.#onWritable = onWritable;
  }

  /** Starts probing (idempotent). */
  start(): void {
    if (this.#active) return;
    this.#active = true;
    this.#schedule();
  }

  /** Stops probing; a probe in progress finishes without reporting. */
  stop(): void {
    this.#active = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#active && !this.#running) this.#timer = setTimeout(() => void this.#probe(), this.#intervalMs).unref();
  }

  async #probe(): Promise<void> {
    this.#running = true;
    let ok = false;
    try {
      const fh = await fs.open(this.#file, 'w', 0o600);
      try {
        await fh.writeFile(Buffer.alloc(PROBE_BYTES));
        await fh.datasync();
        ok = true;
      } finally {
        await fh.close().catch(() => undefined);
      }
    } catch {
      ok = false;
    } finally {
      await fs.rm(this.#file, { force: true }).catch(() => undefined);
      this.#running = false;
    }
    if (!this.#active) return;
    if (ok) {
      this.stop();
      this.#onWritable();
    } else this.#schedule();
  }
}
