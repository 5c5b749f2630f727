/**
 * Barriers of one worker: how many of its users reached each one (a user that ended counts as
 * arrived), reported to the parent at most once per turn; the parent decides when all did.
 */
import { now } from './clock.ts';

interface Barrier { waiting: number; release: Promise<void>; resolve: () => void }

export class Barriers {
  readonly #barriers = new Map<string, Barrier>();
  readonly #report: (name: string, reached: number) => void;
  #gone = 0;
  #reportPending = false;

  /** `report(name, reached)` tells the parent how many users of this worker reached `name`. */
  constructor(report: (name: string, reached: number) => void) {
    this.#report = report;
  }

  /** A user waits at `name` until the parent releases it. */
  reach(name: string): Promise<void> {
    let b = this.#barriers.get(name);
    if (!b) {
      let resolve!: () => void;
      const release = new Promise<void>((r) => (resolve = r));
      this.#barriers.set(name, (b = { waiting: 0, release, resolve }));
    }
    b.waiting++;
    this.#schedule();
    return b.release;
  }

  /** A user ended: it no longer holds any barrier back. */
  leave(): void {
    this.#gone++;
    this.#schedule();
  }

  /** The parent released `name`: its users go on at `at` on the shared clock. */
  release(name: string, at: number): void {
    const b = this.#barriers.get(name);
    const go = () => b?.resolve();
    setTimeout(go, Math.max(0, at - now()));
  }

  #schedule(): void {
    if (this.#reportPending) return;
    this.#reportPending = true;
    setImmediate(() => {
      this.#reportPending = false;
      for (const [name, b] of this.#barriers) this.#report(name, b.waiting + this.#gone);
    });
  }
}
