/**
 * Progress of a night: the phase, run N of M and an ETA. On a TTY one status line is redrawn in
 * place (log lines print above it); otherwise each update is a plain line a log file can keep.
 */

export interface ProgressState {
  phase: string;
  /** Runs finished (kept or discarded) and runs planned so far; the plan grows with added blocks. */
  run?: number;
  of?: number;
  /** What `run` counts (default "run"; a paired battery counts pairs). */
  unit?: string;
  /** Milliseconds the planned runs still need at the pace so far. */
  etaMs?: number;
  detail?: string;
}

/** "4m05s", "12s". */
export function fmtEta(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** The words of one update, the same on a TTY and in plain lines. */
export function progressText(p: ProgressState): string {
  const parts = [p.phase];
  if (p.run !== undefined && p.of) parts.push(`${p.unit ?? 'run'} ${p.run} of ${p.of}`);
  if (p.detail) parts.push(p.detail);
  if (p.etaMs !== undefined && Number.isFinite(p.etaMs)) parts.push(`ETA ${fmtEta(p.etaMs)}`);
  return parts.join(' · ');
}

export interface Progress {
  /** A log line (printed above the status line on a TTY). */
  log(line: string): void;
  update(p: ProgressState): void;
  /** Clears the status line (TTY). */
  done(): void;
}

/** A reporter writing to `out` (stderr in the CLI); `tty` decides the form. */
export function createProgress(out: { write(s: string): unknown }, tty: boolean): Progress {
  let status = '';
  const clear = () => { if (status) out.write('\r\x1b[2K'); };
  return {
    log(line) {
      clear();
      out.write(`${line}\n`);
      if (status) out.write(status);
    },
    update(p) {
      const text = progressText(p);
      if (!tty) return void out.write(`progress: ${text}\n`);
      clear();
      status = text.slice(0, 200);
      out.write(status);
    },
    done() {
      clear();
      status = '';
    },
  };
}

/** Keeps the count of runs and the pace for the ETA. */
export class RunClock {
  #started: number | undefined;
  #done = 0;
  #planned = 0;
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  plan(total: number): void {
    this.#planned = Math.max(this.#planned, total);
    this.#started ??= this.#now();
  }

  /** A run finished: returns run N of M and the ETA at the mean pace so far. */
  tick(): { run: number; of: number; etaMs: number } {
    this.#done++;
    const per = (this.#now() - (this.#started ?? this.#now())) / this.#done;
    const of = Math.max(this.#planned, this.#done);
    return { run: this.#done, of, etaMs: per * (of - this.#done) };
  }
}
