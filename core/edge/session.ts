/**
 * One WebSocket connection of one user: decodes frames, applies limits, runs requests, and keeps
 * the per-chat delivery cursor that guarantees each session sees every message in order, once.
 *
 * Outbound frames pass a byte-bounded queue: frames go to the socket while its buffer is below a
 * high-water mark and wait in the queue otherwise; when the queue exceeds maxQueueBytes the
 * session is closed with 4008 slow. Nothing is lost by that: every message is in the store and
 * the client resumes from its cursors.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebSocket, RawData } from 'ws';
import type { ChatService } from '../chat/chat.ts';
import type { Config } from '../config.ts';
import { CLOSES, ParleyError, type CloseName } from '../errors.ts';
import type { Hub, HubSession } from '../chat/hub.ts';
import { OVERLOADED, OVERLOAD_PAUSE_MS, type NodeBudget } from './budget.ts';
import { TokenBucket, WindowCounter } from './limiter.ts';
import { SessionProbe, type ProbeOps } from './probe.ts';
import { NO_REPLY, type Social } from '../social/social.ts';
import { decode, encode, errorFrame, LIMITS, PROTOCOL_VERSION, type ChatId, type Message, type Refusal, type Request, type ServerFrame } from '../protocol.ts';

const HIGH_WATER_BYTES = 64 * 1024;

/** A message this session must not show (its sender is blocked): the client advances its cursor over it. */
const skipFrame = (m: Message): string => encode({ op: 'skip', chat: m.chat, seq: m.seq });
const FILL_PAGE = 500;
/** setTimeout's ceiling; longer token lifetimes are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SessionDeps {
  chat: ChatService;
  hub: Hub;
  config: Config;
  log: Logger;
  /** Metrics and per-session debug logging. */
  ops: ProbeOps;
  /** Friends, blocks, presence, typing, receipts. */
  social: Social;
  /** The node's work budget across sessions. */
  budget: NodeBudget;
}

/** Ops that only read: they run one at a time per session, each after the socket drained, and cost read tokens. */
const READ_COST: Partial<Record<Request['op'], (req: Request) => number>> = {
  history: (r) => Math.ceil(((r as { limit?: number }).limit ?? LIMITS.defaultHistoryLimit) / 50),
  sync: () => 4,
  chats: () => 2,
  'room.members': () => 1,
  roster: () => 2,
  blocks: () => 1,
  readby: () => 1,
  // A search reads the index and then one body per hit: dearer than a history page of the same size.
  search: (r) => 2 + Math.ceil(((r as { limit?: number }).limit ?? LIMITS.defaultSearchLimit) / 50),
};

/** Per-chat delivery state: the last seq this session was sent, and what waits behind a fill. */
interface ChatCursor {
  seq: number;
  /**
   * This socket has carried every message of the chat after `base`, in order, up to `seq`: a sync
   * whose cursor is at or above `base` needs nothing resent. Only a cursor below it (a device
   * behind where this session started) makes the session go back and resend, in order, from there.
   */
  base: number;
  filling: boolean;
  pending: Message[];
  /** The fill in progress, so a sync can wait for it. */
  fill?: Promise<void>;
  /** A sync asked to resume below the cursor while a fill ran: refill from here after it. */
  rewind?: number;
  /** Seqs of this user's own sends already acked on this session: a fill passes them without a msg frame. */
  ownAcked?: Set<number>;
  /** A gap waits for its missing seqs to arrive live before it is read from the store (see #awaitGap). */
  gapWait?: NodeJS.Timeout;
}

/**
 * How long a gap waits for the missing seqs to arrive live before they are read from the store.
 * In a cluster, messages of one chat reach a node through Redis from several publishers, so a later
 * seq can arrive first; and a session can see its own send's ack before a peer's message committed
 * just before it. Filling at once cost a store read per race and, when the missing seq was the
 * session's own send, sent that message back to its sender (97 times in 4 s of cross-node 1:1 load).
 */
const GAP_WAIT_MS = 100;

/**
 * How far before the first seq it sees a session starts a chat it never synced (a room created or
 * joined, or a 1:1 begun, after its sync). Messages of a new chat can reach a session out of order
 * (its own ack of seq 2 before seq 1's delivery; another node's message late through the bus); the
 * session fills this window from the store, in order, instead of starting past a message that is
 * still on its way. Members may read a room's history, so the window shows nothing they could not.
 */
const FIRST_CONTACT_WINDOW = 64;

export class Session implements HubSession {
  readonly id = randomBytes(9).toString('base64url');
  readonly user: string;
  readonly #ws: WebSocket;
  readonly #deps: SessionDeps;
  /** Made on first use: most sessions never log, and a child logger per idle session is memory. */
  #log: Logger | undefined;
  readonly #probe: SessionProbe;
  readonly #cursors = new Map<ChatId, ChatCursor>();
  readonly #sendBucket: TokenBucket;
  readonly #readBucket: TokenBucket;
  /** Requests other than sends received and not yet answered (bounded by maxInflight). */
  #inflight = 0;
  /** Sends not yet acknowledged: a close the server decides waits for their acks. */
  #sendsInflight = 0;
  /** Client ids of this session's sends in flight: committed ones a fill meets are left to their acks. */
  readonly #sending = new Set<string>();
  /** The close decided while sends were in flight; no new frame is taken meanwhile. */
  #closeAfterSends: CloseName | undefined;
  #readPause: NodeJS.Timeout | undefined;
  /** Reads run in order, one at a time: each waits for the previous and for the socket to drain. */
  #readLane: Promise<void> = Promise.resolve();
  /** Made on the first refusal or bad frame: most sessions never have one. */
  #abuse: WindowCounter | undefined;
  #badFrames: WindowCounter | undefined;
  #queue: string[] = [];
  #queueBytes = 0;
  /** The largest #queueBytes so far, reported at close. */
  #queuePeak = 0;
  /** When the heartbeat ping now unanswered was sent (performance.now()), for the round trip. */
  #pingAt: number | undefined;
  #writableWaiters: (() => void)[] = [];
  #alive = true;
  #closing = false;
  /** Live deliveries wait for the session's first frame (normally its sync), bounded by liveHoldMs. */
  #holding: Message[] | undefined;
  #holdTimer: NodeJS.Timeout | undefined;
  /** A sync frame has been read: the hold's implicit resume is not needed. */
  #syncSeen = false;
  /** The hold's implicit resume has begun (it ends the hold only after two awaits). */
  #implicitResume = false;
  #expiryTimer: NodeJS.Timeout | undefined;
  readonly #onWritten = (): void => this.#pump();
  /** The socket under ws, corked while a turn's frames accumulate (see #cork). */
  readonly #socket: { cork(): void; uncork(): void } | undefined;
  #corked = false;
  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket?.uncork();
  };

  constructor(ws: WebSocket, user: string, expiresAt: number, deps: SessionDeps) {
    this.#ws = ws;
    // ws keeps its net.Socket in `_socket` and offers no cork of its own.
    this.#socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    this.user = user;
    this.#deps = deps;
    this.#probe = new SessionProbe(deps.ops, this.id, user, expiresAt);
    const { config } = deps;
    this.#sendBucket = new TokenBucket(config.sendRatePerSec, config.sendBurst);
    this.#readBucket = new TokenBucket(config.readRatePerSec, config.readBurst);
    this.#holding = [];
    // An expired timer runs before the socket's waiting frames are read (timers come first in a
    // turn of the event loop): after a stall longer than the hold, a sync that already arrived would
    // lose to it. The implicit resume waits one turn, by which the sync has been read.
    if (config.liveHoldMs > 0) this.#holdTimer = setTimeout(() => setImmediate(() => this.#resumeQuietly()), config.liveHoldMs);
    this.#armExpiry(expiresAt);
    ws.on('message', (data, isBinary) => this.#onFrame(data, isBinary));
    ws.on('pong', () => {
      this.#alive = true;
      if (this.#pingAt !== undefined) { this.#probe.pong(performance.now() - this.#pingAt); this.#pingAt = undefined; }
    });
    ws.on('close', (code) => this.#onClose(code));
    ws.on('error', (err) => this.#logger().debug({ err }, 'socket error'));
    deps.hub.add(this);
    this.#enforceDeviceCap(config.maxDevicesPerUser);
    this.#write(encode({ op: 'welcome', session: this.id, user, protocol: PROTOCOL_VERSION, heartbeatMs: config.pingIntervalMs, limits: LIMITS }));
    // No hold configured: resume from the server's delivered cursors at once.
    if (config.liveHoldMs === 0) this.#resumeQuietly();
  }

  #logger(): Logger {
    return (this.#log ??= this.#deps.log.child({ session: this.id, user: this.user }));
  }

  // ── outbound ──────────────────────────────────────────────────────────────────────────────────

  /**
   * Holds this turn's frames in the socket until its microtasks settle: the acks and messages of
   * one group commit then leave in one syscall per socket instead of one per frame.
   */
  #cork(): void {
    if (this.#corked || !this.#socket) return;
    this.#corked = true;
    this.#socket.cork();
    process.nextTick(this.#uncork);
  }

  /** The user's oldest connections beyond the cap are closed with 4509 (terminal: no reconnect loop between devices). */
  #enforceDeviceCap(cap: number): void {
    const sessions = this.#deps.hub.sessionsOf(this.user);
    let excess = sessions.size - cap;
    for (const s of sessions) {
      if (excess-- <= 0) break;
      if (s !== this) s.close('device_limit');
    }
  }

  #queued(deltaBytes: number): void {
    this.#probe.queued(deltaBytes);
    this.#deps.budget.queued(deltaBytes);
  }

  #write(text: string): void {
    if (this.#closing) return;
    this.#cork();
    this.#probe.out(text);
    if (this.#queue.length === 0 && this.#ws.bufferedAmount < HIGH_WATER_BYTES) {
      this.#ws.send(text, this.#onWritten);
      return;
    }
    this.#queue.push(text);
    this.#queueBytes += text.length;
    if (this.#queueBytes > this.#queuePeak) this.#queuePeak = this.#queueBytes;
    this.#queued(text.length);
    if (this.#queueBytes + this.#ws.bufferedAmount > this.#deps.config.maxQueueBytes) this.close('slow');
  }

  #pump(): void {
    while (this.#queue.length && this.#ws.bufferedAmount < HIGH_WATER_BYTES && !this.#closing) {
      const text = this.#queue.shift()!;
      this.#queueBytes -= text.length;
      this.#queued(-text.length);
      this.#ws.send(text, this.#onWritten);
    }
    if (this.#writableWaiters.length && this.#isWritable()) for (const w of this.#writableWaiters.splice(0)) w();
  }

  #isWritable(): boolean {
    return this.#closing || (this.#queueBytes === 0 && this.#ws.bufferedAmount < HIGH_WATER_BYTES);
  }

  /** Resolves when the outbound queue has drained (or the session closed): used to pace fills. */
  #whenWritable(): Promise<void> {
    if (this.#isWritable()) return Promise.resolve();
    return new Promise((resolve) => this.#writableWaiters.push(resolve));
  }

  #send(frame: ServerFrame): void {
    // A closed session encodes nothing: a large reply would be built only to be dropped.
    if (!this.#closing) this.#write(encode(frame));
  }

  push(text: string): void {
    this.#write(text);
  }

  // ── delivery with per-chat cursors ────────────────────────────────────────────────────────────

  deliver(message: Message, text?: string, own = false): void {
    if (this.#holding) {
      if (!own) this.#holding.push(message);
      return;
    }
    // The sender's own message in commit order: without this, a peer's next message would look
    // like a gap until the ack arrives, costing a store read and an echo of the sender's message.
    if (own) return this.#acked(message);
    const cur = this.#cursors.get(message.chat);
    if (!cur) {
      // The session never synced this chat: a first message needs nothing before it.
      if (message.seq === 1) {
        this.#cursors.set(message.chat, { seq: 1, base: 0, filling: false, pending: [] });
        this.#write(this.#hidden(message) ? skipFrame(message) : text ?? encode({ op: 'msg', ...message }));
      } else this.#firstContact(message, false);
      return;
    }
    if (cur.filling) {
      cur.pending.push(message);
      return;
    }
    if (message.seq <= cur.seq) return;
    if (message.seq === cur.seq + 1) {
      cur.seq = message.seq;
      this.#write(this.#hidden(message) ? skipFrame(message) : text ?? encode({ op: 'msg', ...message }));
      if (cur.pending.length) this.#closeGap(message.chat, cur, false);
      return;
    }
    // A gap: what is between may still arrive live (see GAP_WAIT_MS); else it is read from the store.
    cur.pending.push(message);
    this.#awaitGap(message.chat, cur);
  }

  #isOwnSend(cur: ChatCursor, m: Message): boolean {
    return cur.ownAcked?.delete(m.seq) === true || (m.from === this.user && this.#sending.has(m.cmid));
  }

  #awaitGap(chat: ChatId, cur: ChatCursor): void {
    cur.gapWait ??= setTimeout(() => {
      cur.gapWait = undefined;
      this.#closeGap(chat, cur, true);
    }, GAP_WAIT_MS);
  }

  /**
   * Delivers, in order, what waited behind a gap and now follows the cursor (the user's own acked
   * sends advance it without a frame). A gap still open after GAP_WAIT_MS is filled from the store.
   */
  #closeGap(chat: ChatId, cur: ChatCursor, timedOut: boolean): void {
    if (cur.filling || this.#closing) return;
    cur.pending.sort((a, b) => a.seq - b.seq);
    while (cur.pending.length && cur.pending[0]!.seq <= cur.seq + 1) {
      const m = cur.pending.shift()!;
      if (m.seq !== cur.seq + 1) continue;
      cur.seq = m.seq;
      if (this.#isOwnSend(cur, m)) continue;
      this.#write(this.#hidden(m) ? skipFrame(m) : encode({ op: 'msg', ...m }));
    }
    if (!cur.pending.length) {
      clearTimeout(cur.gapWait);
      cur.gapWait = undefined;
      return;
    }
    if (!timedOut) return;
    this.#deps.hub.gapRepaired('seq');
    this.#fillQuietly(chat, cur);
  }

  /**
   * The check for a chat whose last message never arrived (pub/sub is at most once, and no later
   * message reveals the gap): a chat whose last message is older than `graceMs` and past this
   * session's cursor is filled from the store.
   */
  async checkCursors(graceMs: number): Promise<void> {
    if (this.#holding || this.#closing) return;
    const now = Date.now();
    for (const { chat, lastSeq, last } of await this.#deps.chat.chats(this.user)) {
      const cur = this.#cursors.get(chat);
      if (!cur || cur.filling || lastSeq <= cur.seq || this.#closing) continue;
      if (last && now - last.ts < graceMs) continue;
      this.#deps.hub.gapRepaired('cursor_check');
      this.#fillQuietly(chat, cur);
    }
  }

  #hidden(m: Message): boolean {
    return this.#deps.social.hides(this.user, m);
  }

  /** A chat this session never synced, first met past its seq 1: start FIRST_CONTACT_WINDOW before and fill in order. */
  #firstContact(m: Message, own: boolean): void {
    const start = Math.max(0, m.seq - FIRST_CONTACT_WINDOW);
    const cur: ChatCursor = { seq: start, base: start, filling: false, pending: own ? [] : [m] };
    if (own) cur.ownAcked = new Set([m.seq]);
    this.#cursors.set(m.chat, cur);
    // Not counted as a gap repair: nothing is known to be missing, and the alert on repairs must not page for new chats.
    this.#fillQuietly(m.chat, cur);
  }

  /** Sends everything after the cursor from the store, paced by the outbound queue, then what waited. */
  #fill(chat: ChatId, cur: ChatCursor): Promise<void> {
    if (cur.filling && cur.fill) return cur.fill;
    cur.fill = this.#fillOnce(chat, cur);
    return cur.fill;
  }

  /** A fill nobody awaits: a store failure closes the session (the client resumes) instead of crashing the node. */
  #fillQuietly(chat: ChatId, cur: ChatCursor): void {
    this.#fill(chat, cur).catch((err: unknown) => {
      this.#logger().error({ err, chat }, 'catch-up from the store failed; closing the session so the client resumes');
      this.close('shutdown');
    });
  }

  async #fillOnce(chat: ChatId, cur: ChatCursor): Promise<void> {
    cur.filling = true;
    const t0 = performance.now();
    try {
      for (;;) {
        const page = await this.#deps.chat.catchUp(chat, cur.seq, FILL_PAGE);
        for (const m of page) {
          // A fill is paced by the socket so that catching up never counts as a slow consumer.
          if (!this.#isWritable()) await this.#whenWritable();
          if (this.#closing) return;
          // A hidden message (its sender is blocked) still advances the cursor, so it is not refilled as a gap.
          if (m.seq !== cur.seq + 1) continue;
          cur.seq = m.seq;
          // The user's own send on this session, acked or about to be: its ack is its frame.
          if (this.#isOwnSend(cur, m)) continue;
          this.#probe.filled();
          this.#write(this.#hidden(m) ? skipFrame(m) : encode({ op: 'msg', ...m }));
        }
        if (page.length < FILL_PAGE) break;
      }
    } finally {
      cur.filling = false;
      cur.fill = undefined;
      this.#probe.fillEnded(performance.now() - t0);
    }
    if (cur.rewind !== undefined && cur.rewind < cur.seq) {
      cur.seq = cur.rewind;
      cur.rewind = undefined;
      return this.#fill(chat, cur);
    }
    cur.rewind = undefined;
    const pending = cur.pending.splice(0).sort((a, b) => a.seq - b.seq);
    for (const m of pending) this.deliver(m);
  }

  /**
   * Puts every chat of the user on a cursor (the client's where given, else the server's delivered
   * cursor), fills each from the store, then releases held live deliveries behind the fills.
   * Resolves when every chat is caught up.
   */
  async #resume(cursors: Record<ChatId, number> | undefined): Promise<Map<ChatId, number>> {
    // Listening before reading: a message committed after the read then arrives live.
    await this.#deps.hub.subscribed(this.user);
    const plan = await this.#deps.chat.resumePlan(this.user, cursors);
    const fills: Promise<void>[] = [];
    for (const [c, seq] of plan) {
      const cur = this.#cursors.get(c);
      if (!cur) {
        const fresh: ChatCursor = { seq, base: seq, filling: false, pending: [] };
        this.#cursors.set(c, fresh);
        fills.push(this.#fill(c, fresh));
      } else if (seq < cur.base) {
        // The device is behind where this session started: resend in order from its cursor (the
        // client drops what it has). While a fill runs, after it.
        cur.base = seq;
        if (cur.filling) {
          cur.rewind = Math.min(cur.rewind ?? seq, seq);
          fills.push(cur.fill!);
        } else {
          cur.seq = seq;
          fills.push(this.#fill(c, cur));
        }
      } else {
        // This socket already carries everything after the device's cursor. A fill behind it (a
        // resume from the delivered cursor that began before this sync) skips ahead: the device
        // has those messages. (Rewinding here resent whole histories: 107,545 duplicates in a soak.)
        if (seq > cur.seq) cur.seq = seq;
        if (cur.filling) fills.push(cur.fill!);
      }
    }
    this.#release();
    await Promise.all(fills);
    return plan;
  }

  /**
   * The session sent something other than a sync first, or nothing within liveHoldMs: resume from
   * the server's delivered cursors, so live messages never start a chat's cursor past a gap.
   */
  #resumeQuietly(): void {
    // Once per session, and not after a sync (which resumes the session itself): every frame of a
    // pipelined burst read before the hold ends would otherwise start its own resume, each a store
    // read of the plan (350 resumes for 500 pings).
    if (!this.#holding || this.#syncSeen || this.#implicitResume) return;
    this.#implicitResume = true;
    clearTimeout(this.#holdTimer);
    this.#resume(undefined).then((plan) => this.#probe.resumed('implicit', plan.size), (err: unknown) => {
      this.#logger().error({ err }, 'resume from the delivered cursors failed; closing the session so the client resumes');
      this.close('shutdown');
    });
  }

  #release(): void {
    if (!this.#holding) return;
    clearTimeout(this.#holdTimer);
    const held = this.#holding;
    this.#holding = undefined;
    for (const m of held) this.deliver(m);
  }

  // ── inbound ───────────────────────────────────────────────────────────────────────────────────

  #onFrame(data: RawData, isBinary: boolean): void {
    this.#alive = true;
    // Frames that arrive after the server decided to close start no work.
    if (this.#closing || this.#closeAfterSends) return;
    const t0 = performance.now();
    if (isBinary) { this.#probe.in('(binary)', 'invalid'); return this.#reject(new ParleyError('binary_not_supported', 'expected a JSON text frame, got a binary frame')); }
    const text = data.toString();
    const decoded = decode(text);
    this.#probe.in(text, decoded.ok ? decoded.req.op : 'invalid');
    if (!decoded.ok) return this.#reject(decoded.error, decoded.id);
    const req = decoded.req;
    if (this.#holding && req.op !== 'sync') this.#resumeQuietly();
    const refusal = this.#admit(req);
    if (refusal) {
      this.#send(errorFrame(refusal, req.id));
      // Past the node's budget, stop reading this socket a moment: TCP holds the client's frames
      // instead of the node spending its core decoding and refusing them.
      if (refusal.code === 'overloaded') this.#pauseReading();
      this.#probe.done(req.op, t0);
      return;
    }
    // Read in this turn and admitted: the hold's implicit resume (waiting a turn) must not run.
    if (req.op === 'sync') this.#syncSeen = true;
    const isSend = req.op === 'send';
    if (isSend) {
      this.#sendsInflight++;
      this.#sending.add(req.cmid);
    }
    const work = READ_COST[req.op] ? this.#inReadLane(req) : this.#run(req);
    work.catch((err: unknown) => {
      if (err instanceof ParleyError) this.#send(errorFrame(err, req.id));
      else {
        this.#logger().error({ err, op: req.op }, 'request failed');
        this.#send(errorFrame(new ParleyError('internal', `the server failed to apply ${req.op}; retry`), req.id));
      }
    }).finally(() => {
      if (!isSend) this.#inflight--;
      this.#deps.budget.release();
      if (isSend) this.#sending.delete(req.cmid);
      if (isSend && --this.#sendsInflight === 0 && this.#closeAfterSends) this.close(this.#closeAfterSends);
      this.#probe.done(req.op, t0);
    });
  }

  /**
   * Bounds the work one request may start: the session's requests in flight, its read tokens, and
   * the node's budget. Returns the refusal to answer with, or undefined when the request may run
   * (it then holds an in-flight slot of the session and of the node).
   */
  #admit(req: Request): Refusal | undefined {
    const { config } = this.#deps;
    if (req.op === 'send') {
      const limited = this.#sendBucket.take();
      if (!limited.ok) {
        this.#probe.rateLimited('send', limited.retryAfterMs);
        if ((this.#abuse ??= new WindowCounter(10_000)).hit() >= config.abuseLimit) this.#closeWhenAcked('rate_abuse');
        return { code: 'rate_limited', message: `send rate is limited to ${config.sendRatePerSec}/s; retry after ${limited.retryAfterMs} ms`, details: { retryAfterMs: limited.retryAfterMs } };
      }
      if (this.#probe.slot.on) this.#probe.slot.event('rate_limit', { action: 'send', decision: 'allowed' });
    }
    // Sends are bounded by their own token bucket (and the node budget); the cap is for everything else.
    if (req.op !== 'send' && this.#inflight >= config.maxInflight) {
      this.#probe.refused('busy');
      return { code: 'busy', message: `at most ${config.maxInflight} requests may be in flight per connection; wait for replies before sending more`, details: { maxInflight: config.maxInflight } };
    }
    const cost = READ_COST[req.op]?.(req);
    if (cost !== undefined) {
      const limited = this.#readBucket.take(cost);
      if (!limited.ok) {
        this.#probe.rateLimited('read', limited.retryAfterMs);
        return { code: 'rate_limited', message: `reads are limited to ${config.readRatePerSec} units/s (${req.op} costs ${cost}); retry after ${limited.retryAfterMs} ms`, details: { retryAfterMs: limited.retryAfterMs } };
      }
    }
    const over = this.#deps.budget.admit();
    if (over) {
      this.#probe.refused(`overloaded_${over}`);
      return OVERLOADED[over];
    }
    if (req.op !== 'send') this.#inflight++;
    return undefined;
  }

  #pauseReading(): void {
    if (this.#readPause || this.#closing) return;
    this.#probe.readPaused();
    this.#ws.pause();
    this.#readPause = setTimeout(() => {
      this.#readPause = undefined;
      if (!this.#closing) this.#ws.resume();
    }, OVERLOAD_PAUSE_MS);
  }

  /** Runs a read after the reads before it, once the socket has drained: a reader that stops reading stops its reads. */
  #inReadLane(req: Request): Promise<void> {
    const run = this.#readLane.then(async () => {
      if (!this.#isWritable()) await this.#whenWritable();
      if (this.#closing) return;
      await this.#run(req);
    });
    this.#readLane = run.catch(() => undefined);
    return run;
  }

  /** A close the server decides: sends already in flight are acknowledged first, nothing new is taken. */
  #closeWhenAcked(name: CloseName): void {
    if (this.#sendsInflight === 0) return this.close(name);
    this.#closeAfterSends ??= name;
  }

  #reject(err: ParleyError, id?: string | number): void {
    this.#send(errorFrame(err, id));
    if ((this.#badFrames ??= new WindowCounter(60_000)).hit() >= this.#deps.config.badFrameLimit) this.#closeWhenAcked('policy');
  }

  async #run(req: Request): Promise<void> {
    const { chat } = this.#deps;
    switch (req.op) {
      case 'send': {
        if (this.#closing) throw new ParleyError('shutting_down', 'the connection is closing; reconnect and retry with the same cmid');
        const { message, dup } = await chat.send(this.user, req, this.id);
        this.#acked(message);
        this.#probe.acked(message, dup);
        // `id` second, as docs/protocol.md shows it: a reader scanning frames finds it where it expects.
        const ack: ServerFrame = req.id === undefined
          ? { op: 'ack', chat: message.chat, seq: message.seq, cmid: message.cmid, ts: message.ts }
          : { op: 'ack', id: req.id, chat: message.chat, seq: message.seq, cmid: message.cmid, ts: message.ts };
        if (dup) ack.dup = true;
        this.#send(ack);
        return;
      }
      case 'sync': {
        const plan = await this.#resume(req.cursors);
        this.#probe.resumed(req.cursors ? 'cursors' : 'full', plan.size);
        const chats: Record<ChatId, { last: number; more: boolean }> = {};
        for (const c of plan.keys()) chats[c] = { last: this.#cursors.get(c)?.seq ?? 0, more: false };
        this.#send(req.id === undefined ? { op: 'synced', chats } : { op: 'synced', id: req.id, chats });
        return;
      }
      case 'history': {
        const page = await chat.history(this.user, req.chat, req.before, req.limit);
        return this.#reply(req, { chat: req.chat, ...page });
      }
      case 'chats':
        return this.#reply(req, { chats: await chat.chats(this.user) });
      case 'recv':
        await chat.markDelivered(this.user, req.chat, req.seq);
        if (req.id !== undefined) this.#reply(req, {});
        return;
      case 'room.create':
        return this.#reply(req, await chat.createRoom(this.user, req.name, req.members, req.policy, req.ephemeral ? { lifetimeMs: req.lifetimeMs } : undefined));
      case 'room.join':
        await chat.join(this.user, req.chat);
        return this.#reply(req, { chat: req.chat });
      case 'room.leave':
        await chat.leave(this.user, req.chat);
        this.#cursors.delete(req.chat);
        return this.#reply(req, { chat: req.chat });
      case 'room.invite':
        await chat.invite(this.user, req.chat, req.user);
        return this.#reply(req, { chat: req.chat, user: req.user });
      case 'room.members':
        return this.#reply(req, { chat: req.chat, members: await chat.members(this.user, req.chat) });
      case 'ping':
        return this.#send(req.id === undefined ? { op: 'pong' } : { op: 'pong', id: req.id });
      case 'search':
        return this.#reply(req, await chat.search(this.user, req));
      default: {
        // Friends, blocks, presence, typing, receipts and settings: core/social/social.ts.
        const result = await this.#deps.social.handle(this, req);
        if (result !== NO_REPLY) this.#reply(req, result);
      }
    }
  }

  #reply(req: Request, result: unknown): void {
    this.#send(req.id === undefined ? { op: 'reply', result } : { op: 'reply', id: req.id, result });
  }

  /** The sender's own session saw its message through the ack: advance its cursor when contiguous. */
  #acked(m: Message): void {
    const cur = this.#cursors.get(m.chat);
    // An ack is not a msg frame: a sync from below this seq gets the message sent (base = seq).
    if (!cur) {
      if (m.seq === 1) this.#cursors.set(m.chat, { seq: 1, base: 1, filling: false, pending: [] });
      else this.#firstContact(m, true);
    } else if (cur.filling) (cur.ownAcked ??= new Set()).add(m.seq);
    else if (cur.seq === m.seq - 1) {
      cur.seq = m.seq;
      if (cur.pending.length) this.#closeGap(m.chat, cur, false);
    } else if (m.seq > cur.seq + 1) {
      // A peer's message committed before this one has not arrived yet: wait for it, and do not
      // send this one back to its sender when the gap closes.
      (cur.ownAcked ??= new Set()).add(m.seq);
      cur.pending.push(m);
      this.#awaitGap(m.chat, cur);
    }
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────────────────────────

  #armExpiry(expiresAt: number): void {
    const ms = expiresAt - Date.now();
    if (ms <= 0) { this.close('token_expired'); return; }
    this.#expiryTimer = setTimeout(() => this.#armExpiry(expiresAt), Math.min(ms, MAX_TIMER_MS));
  }

  heartbeat(): boolean {
    if (!this.#alive) {
      this.#logger().debug('no pong within the heartbeat window; reaping');
      this.close('stale');
      return false;
    }
    this.#alive = false;
    if (!this.#closing) {
      this.#pingAt = performance.now();
      this.#ws.ping();
    }
    return true;
  }

  /** Closes with a catalog close code; idempotent. A stale peer is terminated without a handshake. */
  close(name: CloseName): void {
    if (this.#closing) return;
    this.#closing = true;
    const spec = CLOSES[name];
    this.#probe.closing(name);
    // What is queued (acks among it) leaves before the close frame, unless the queue is why we close.
    if (name !== 'slow' && name !== 'stale') for (const text of this.#queue) this.#ws.send(text);
    this.#queued(-this.#queueBytes);
    this.#queue = [];
    this.#queueBytes = 0;
    this.#logger().debug({ close: spec.code, reason: name }, 'closing session');
    if (name === 'stale') this.#ws.terminate();
    else this.#ws.close(spec.code, name);
    for (const w of this.#writableWaiters.splice(0)) w();
    // A peer that never answers the close handshake is cut off.
    setTimeout(() => {
      if (this.#ws.readyState === this.#ws.CLOSED) return;
      this.#probe.closeTimedOut();
      this.#ws.terminate();
    }, 5_000).unref();
  }

  #onClose(code: number): void {
    this.#closing = true;
    clearTimeout(this.#holdTimer);
    clearTimeout(this.#readPause);
    clearTimeout(this.#expiryTimer);
    for (const w of this.#writableWaiters.splice(0)) w();
    this.#deps.hub.remove(this);
    this.#queued(-this.#queueBytes);
    this.#queueBytes = 0;
    this.#probe.closed(code, this.#queuePeak);
    this.#logger().debug({ code }, 'session closed');
  }
}
