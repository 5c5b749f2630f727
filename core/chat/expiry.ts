/**
 * Ephemeral chats lapse a lifetime after their last message. Expiry is computed from stored times
 * (chats.last_ts, created_at, lifetime_ms), so a restart forgets nothing: each check asks the store
 * which chats have lapsed, deletes them in batches of `batch` with a yield to the event loop
 * between batches (a mass expiry does not stall the node), then asks the store to purge.
 */
import type { Store } from '../store/types.ts';
import type { ChatService } from './chat.ts';

export interface ExpiryOptions {
  /** How often to look for lapsed chats. */
  intervalMs: number;
  /** Most chats deleted before yielding to the event loop. */
  batch: number;
  now?: () => number;
}

export class ChatExpiry {
  readonly #chat: ChatService;
  readonly #store: Store;
  readonly #opts: ExpiryOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  /** Chats deleted since start; the metrics layer may read it. */
  expired = 0;
  /** Called with a failed check's error; the next interval tries again. */
  onError: (err: unknown) => void = () => undefined;

  constructor(chat: ChatService, opts: ExpiryOptions) {
    this.#chat = chat;
    this.#store = chat.store;
    this.#opts = opts;
  }

  start(): void {
    if (this.#timer || this.#opts.intervalMs <= 0) return;
    this.#timer = setInterval(() => void this.runOnce().catch((err: unknown) => this.onError(err)), this.#opts.intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a check in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** Deletes every chat lapsed now; resolves with how many. One check at a time. */
  runOnce(): Promise<number> {
    this.#running ??= this.#run().finally(() => { this.#running = undefined; });
    return this.#running;
  }

  async #run(): Promise<number> {
    const now = (this.#opts.now ?? Date.now)();
    let n = 0;
    for (;;) {
      const lapsed = await this.#store.expiredChats(now, this.#opts.batch);
      for (const chat of lapsed) if (await this.#chat.expire(chat, now)) n++;
      if (lapsed.length < this.#opts.batch) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (n > 0) {
      await this.#store.purge?.();
      await this.#chat.attachments?.purge?.();
    }
    this.expired += n;
    return n;
  }
}
