/**
 * fdatasync of a SQLite WAL file in the thread pool. SQLite's synchronous=FULL syncs the WAL inside
 * each commit, blocking the event loop for the whole disk flush; with synchronous=NORMAL plus this,
 * commits only write the WAL and the flush runs beside the next batch. A write's caller is told it
 * is durable once a flush that started after its commit completes: the same guarantee as FULL.
 */
import fs from 'node:fs';

export class WalSync {
  readonly #fd: number;
  #waiting: ((err?: Error) => void)[] = [];
  #flushing = false;
  #idle: (() => void)[] = [];

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Opens the WAL file and flushes what it holds (a previous run may have left it unflushed); undefined if it cannot. */
  static open(walFile: string): WalSync | undefined {
    let fd: number | undefined;
    try {
      // 'a' creates it if SQLite has not yet; SQLite reads an empty WAL as no WAL.
      fd = fs.openSync(walFile, 'a');
      fs.fdatasyncSync(fd);
      return new WalSync(fd);
    } catch {
      if (fd !== undefined) fs.closeSync(fd);
      return undefined;
    }
  }

  /** The WAL file's current size in bytes. */
  bytes(): number {
    return fs.fstatSync(this.#fd).size;
  }

  /** Calls `done` once everything committed so far is on disk (or with the flush's error). */
  afterFlush(done: (err?: Error) => void): void {
    this.#waiting.push(done);
    if (!this.#flushing) this.#flush();
  }

  #flush(): void {
    // Only commits made before this flush starts are covered; later ones wait for the next flush.
    const covered = this.#waiting;
    this.#waiting = [];
    this.#flushing = true;
    fs.fdatasync(this.#fd, (err) => {
      this.#flushing = false;
      for (const done of covered) done(err ?? undefined);
      if (this.#waiting.length) this.#flush();
      else for (const resolve of this.#idle.splice(0)) resolve();
    });
  }

  /** Waits for flushes in progress, then closes the file. */
  async close(): Promise<void> {
    if (this.#flushing || this.#waiting.length) await new Promise<void>((resolve) => this.#idle.push(resolve));
    fs.closeSync(this.#fd);
  }
}
