/**
 * WAL checkpoints on a worker thread. SQLite's automatic checkpoint runs inside the commit that
 * crosses its threshold, copying pages and fsyncing the database on the event loop; a PASSIVE
 * checkpoint from a second connection does the same work beside the writer, which never waits.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** The worker: its own connection to the file; checkpoints on request, closes on 'close'. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return; }
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed });
  } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }); }
});
`;

const MIN_GAP_MS = 250;

/** What the worker answers for each checkpoint: frame counts, or the error. */
interface CheckpointReply { log?: number; checkpointed?: number; error?: string }

export class Checkpointer {
  readonly #worker: Worker;
  readonly #thresholdBytes: number;
  #running = false;
  #closed = false;
  /** When the last checkpoint ended (performance.now()). */
  #endedAt = 0;
  #later: NodeJS.Timeout | undefined;
  /** A poke came while a checkpoint ran: run another after the gap for what it did not cover. */
  #wanted = false;
  /** The last checkpoint error, if any (the next request retries). */
  lastError: string | undefined;
  /**
   * Called on the main thread after each checkpoint of the worker with the WAL's frames and how
   * many of them are now in the database file. Frames appended while it ran are left over.
   */
  onCheckpointed: ((logFrames: number, checkpointedFrames: number) => void) | undefined;
  /** Called once if the worker thread ends on its own. */
  onDead: (() => void) | undefined;
  #dead = false;

  private constructor(worker: Worker, thresholdBytes: number) {
    this.#worker = worker;
    this.#thresholdBytes = thresholdBytes;
    worker.on('message', (m: CheckpointReply) => {
      this.#running = false;
      this.#endedAt = performance.now();
      if (this.#wanted && !this.#closed) {
        this.#wanted = false;
        this.#later = setTimeout(this.#run, MIN_GAP_MS).unref();
      }
      this.lastError = m.error;
      if (m.error === undefined && !this.#closed) this.onCheckpointed?.(m.log ?? 0, m.checkpointed ?? 0);
    });
    worker.on('error', (err) => {
      this.#running = false;
      this.lastError = err.message;
    });
    // A worker that died checkpoints no more: hand checkpoints back to SQLite (onDead) so the
    // WAL cannot grow until the disk is full.
    worker.once('exit', () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#dead = true;
      clearTimeout(this.#later);
      this.onDead?.();
    });
    worker.unref();
  }

  /** Starts the worker for a database file; checkpoints once the WAL holds `thresholdBytes`. */
  static start(file: string, thresholdBytes: number): Checkpointer {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    return new Checkpointer(new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver } }), thresholdBytes);
  }

  /**
   * Requests a checkpoint when the WAL has grown past the threshold, none is running and the last
   * ended MIN_GAP_MS ago. The file keeps its size when SQLite restarts it, so size alone would
   * checkpoint back to back, each time with two fsyncs for a few new pages.
   */
  poke(walBytes: number): void {
    if (this.#closed || this.#later || walBytes < this.#thresholdBytes) return;
    if (this.#running) {
      this.#wanted = true;
      return;
    }
    const wait = this.#endedAt + MIN_GAP_MS - performance.now();
    // Too soon: checkpoint when the gap ends, so frames written last are not left behind when writes stop.
    if (wait > 0) this.#later = setTimeout(this.#run, wait).unref();
    else this.#run();
  }

  readonly #run = (): void => {
    this.#later = undefined;
    if (this.#running || this.#closed) return;
    this.#running = true;
    this.#worker.postMessage('checkpoint');
  };

  /** Closes the worker's connection and waits for the thread to end. */
  async close(): Promise<void> {
    if (this.#dead) return;
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#later);
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.postMessage('close');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000).unref())]);
    await this.#worker.terminate();
  }
}
