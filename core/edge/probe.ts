/**
 * What one session reports to the operability layer: counters by op, code and close reason,
 * queue bytes, and (only while its debug slot is on) every frame and internal event with timings.
 * The session calls one method per fact.
 */
import { CLOSES, type CloseName } from '../errors.ts';
import type { DebugLog, DebugSlot } from '../ops/debug/debug.ts';
import type { Meter, REFUSAL_REASONS, RESUME_KINDS } from '../metrics.ts';
import type { Message } from '../protocol.ts';

const REASON_BY_CODE = new Map<number, string>(Object.entries(CLOSES).map(([name, spec]) => [spec.code, name]));

/** A close code as a bounded reason label. */
export function closeReason(code: number): string {
  const name = REASON_BY_CODE.get(code);
  if (name) return name;
  if (code === 1000 || code === 1005) return 'normal';
  if (code === 1001) return 'going_away';
  if (code === 1006) return 'abnormal';
  if (code === 1009) return 'too_large';
  return 'other';
}

/** The op of an encoded server frame: every encoder writes `op` first. */
function opOf(text: string): string {
  return text.startsWith('{"op":"') ? text.slice(7, text.indexOf('"', 7)) : 'other';
}

/** What the probe needs of the operability layer (core/ops/ops.ts provides it). */
export interface ProbeOps {
  readonly metrics: Meter;
  readonly debug: Pick<DebugLog, 'attach' | 'detach'>;
  /** A new session: switches debug on when the `debug-session` flag lists its user. */
  sessionStarted(slot: DebugSlot): void;
}

export class SessionProbe {
  readonly #meter: Meter;
  readonly #ops: ProbeOps;
  /** The debug switch: one boolean read per frame while off. */
  readonly slot: DebugSlot;
  #closing: CloseName | undefined;
  readonly #startedAt = performance.now();

  constructor(ops: ProbeOps, session: string, user: string, expiresAt: number) {
    this.#ops = ops;
    this.#meter = ops.metrics;
    this.#meter.observe('parley_token_remaining_seconds', Math.max(0, (expiresAt - Date.now()) / 1000));
    this.slot = ops.debug.attach(session, user);
    ops.sessionStarted(this.slot);
    if (this.slot.on) this.slot.event('auth', { user, tokenExpiresAt: new Date(expiresAt).toISOString() });
  }

  /** A frame arrived; `op` is the decoded op or "invalid". */
  in(text: string, op: string): void {
    const bytes = Buffer.byteLength(text);
    this.#meter.inc('parley_frames_in_total', { op });
    this.#meter.inc('parley_received_bytes_total', undefined, bytes);
    if (op === 'send') this.#meter.observe('parley_send_frame_bytes', bytes);
    if (this.slot.on) this.slot.frame('in', text);
  }

  /** A frame is written (or queued) to the socket. */
  out(text: string): void {
    const op = opOf(text);
    this.#meter.inc('parley_frames_out_total', { op });
    this.#meter.inc('parley_sent_bytes_total', undefined, Buffer.byteLength(text));
    if (op === 'error') {
      const code = (JSON.parse(text) as { code: string }).code;
      this.#meter.inc('parley_errors_total', { code } as never);
    }
    if (this.slot.on) {
      this.slot.frame('out', text);
      if (op === 'msg') {
        const m = JSON.parse(text) as Message;
        this.slot.event('deliver', { chat: m.chat, seq: m.seq, latencyMs: Date.now() - m.ts });
      }
    }
  }

  /** A request finished (successfully or with an error frame); `t0` is performance.now() at receipt. */
  done(op: string, t0: number): void {
    const ms = performance.now() - t0;
    this.#meter.observe('parley_request_duration_seconds', ms / 1000, { op });
    if (this.slot.on) this.slot.event('request', { op, ms: +ms.toFixed(3) });
  }

  /** The session was put on its cursors for `chats` conversations (see RESUME_KINDS). */
  resumed(kind: (typeof RESUME_KINDS)[number], chats: number): void {
    this.#meter.inc('parley_resumes_total', { kind });
    this.#meter.observe('parley_resume_chats', chats);
    if (this.slot.on) this.slot.event('resume', { kind, chats });
  }

  /** One catch-up of one chat from the store ended, `ms` after it started. */
  fillEnded(ms: number): void {
    this.#meter.observe('parley_fill_seconds', ms / 1000);
  }

  /** The client answered the heartbeat ping `ms` after it was sent. */
  pong(ms: number): void {
    this.#meter.observe('parley_ping_rtt_seconds', ms / 1000);
  }

  /** The session stopped reading its socket a moment after refusing for overload. */
  readPaused(): void {
    this.#meter.inc('parley_read_pauses_total');
  }

  /** The peer did not answer the close handshake in time and its socket was cut off. */
  closeTimedOut(): void {
    this.#meter.inc('parley_close_timeouts_total');
  }

  /** One message was sent from the store (a catch-up), not live. */
  filled(): void {
    this.#meter.inc('parley_fill_messages_total');
  }

  queued(deltaBytes: number): void {
    if (deltaBytes !== 0) this.#meter.add('parley_queue_bytes', deltaBytes);
  }

  /** A request was refused before it ran, to bound work. */
  refused(reason: (typeof REFUSAL_REASONS)[number]): void {
    this.#meter.inc('parley_requests_refused_total', { reason });
    if (this.slot.on) this.slot.event('refused', { reason });
  }

  rateLimited(action: 'send' | 'read' | 'typing' | 'presence', retryAfterMs: number): void {
    this.#meter.inc('parley_rate_limited_total', { action });
    if (this.slot.on) this.slot.event('rate_limit', { action, decision: 'refused', retryAfterMs });
  }

  acked(m: Pick<Message, 'chat' | 'seq' | 'cmid'>, dup: boolean): void {
    this.#meter.inc(dup ? 'parley_messages_duplicate_total' : 'parley_messages_stored_total');
    if (this.slot.on) this.slot.event('ack', { chat: m.chat, seq: m.seq, cmid: m.cmid, dup });
  }

  /** The server decided to close the session. */
  closing(name: CloseName): void {
    this.#closing = name;
    if (name === 'slow') this.#meter.inc('parley_slow_consumer_closes_total');
    if (this.slot.on) this.slot.event('closing', { reason: name, code: CLOSES[name].code });
  }

  /**
   * The socket closed with `code`: counts it (by the server's reason when it closed), records the
   * session's largest outbound queue, and releases the debug slot.
   */
  closed(code: number, queuePeakBytes: number): void {
    const reason = this.#closing ?? closeReason(code);
    this.#meter.inc('parley_closes_total', { reason });
    this.#meter.observe('parley_session_duration_seconds', (performance.now() - this.#startedAt) / 1000);
    this.#meter.observe('parley_session_queue_peak_bytes', queuePeakBytes);
    if (this.slot.on) this.slot.event('closed', { code, reason });
    this.#ops.debug.detach(this.slot);
  }
}
