/**
 * What one conversation shows: committed messages in seq order with no duplicates, then the
 * user's own sends still waiting for their ack, in send order. Pure data, no DOM: history pages,
 * live pushes, catch-up after a reconnect and acks may arrive in any interleaving.
 */
import type { Message } from '../../client/index.ts';

/** A send that has no ack yet: shown after the committed messages, marked as waiting. */
export interface PendingSend { cmid: string; body: string; from: string; ts: number; attachments?: string[]; uploading?: boolean }

export class Conversation {
  readonly id: string;
  /** Committed messages by seq. */
  readonly #bySeq = new Map<number, Message>();
  #sorted: Message[] | undefined = [];
  readonly pending = new Map<string, PendingSend>();
  /** Whether older history may exist before the first seq held. */
  more = true;
  unread = 0;
  name: string | undefined;
  kind: 'direct' | 'room';
  lastSeq = 0;
  /** Room: seq → how many members other than the sender have read it. */
  readonly readBy = new Map<number, number>();
  /** 1:1: the other member's read marker. */
  otherRead = 0;
  /** The read marker this page last sent. */
  readSent = 0;
  /** Ephemeral: when it is deleted unless a message comes first (ms since the epoch), from the chats list. */
  expiresAt: number | undefined;

  constructor(id: string) {
    this.id = id;
    this.kind = id.startsWith('r:') ? 'room' : 'direct';
  }

  /** Adds committed messages; returns how many were new (a seq seen before is ignored). */
  add(...messages: Message[]): number {
    let added = 0;
    for (const m of messages) {
      if (m.chat !== this.id || this.#bySeq.has(m.seq)) continue;
      this.#bySeq.set(m.seq, m);
      this.pending.delete(m.cmid);
      this.lastSeq = Math.max(this.lastSeq, m.seq);
      added++;
    }
    if (added) this.#sorted = undefined;
    return added;
  }

  /** A send's ack arrived: the pending entry becomes the committed message at `seq`. */
  acked(cmid: string, seq: number, ts: number, from: string): void {
    const p = this.pending.get(cmid);
    this.pending.delete(cmid);
    this.add({ chat: this.id, seq, from, cmid, body: p?.body ?? '', ts, ...(p?.attachments ? { attachments: p.attachments } : {}) } as Message);
  }

  /** Committed messages, ascending by seq. */
  get messages(): readonly Message[] {
    return (this.#sorted ??= [...this.#bySeq.values()].sort((a, b) => a.seq - b.seq));
  }

  get firstSeq(): number | undefined {
    return this.messages[0]?.seq;
  }

  /** The 1:1 partner of `me`, from the conversation id d:<a>:<b>. */
  partner(me: string): string | undefined {
    if (this.kind !== 'direct') return undefined;
    const [, a, b] = this.id.split(':');
    return a === me ? b : a;
  }

  /** How long until `expiresAt`, in words ("23 h 59 min", "5 min", "under a minute"). */
  expiresIn(now: number): string | undefined {
    if (this.expiresAt === undefined) return undefined;
    const min = Math.floor((this.expiresAt - now) / 60_000);
    if (min < 1) return 'under a minute';
    const d = Math.floor(min / 1440);
    const hr = Math.floor((min % 1440) / 60);
    const m = min % 60;
    return d ? `${d} d ${hr} h` : hr ? `${hr} h ${m} min` : `${m} min`;
  }

  title(me: string): string {
    return this.kind === 'room' ? (this.name ?? `room ${this.id.slice(2, 8)}`) : (this.partner(me) ?? this.id);
  }
}
