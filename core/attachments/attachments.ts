/**
 * Photos and files in conversations. An upload is read with the size limit enforced while it
 * arrives, its kind judged from its magic bytes, images re-encoded without metadata and given a
 * thumbnail (attachments/image.ts); only then is anything stored. A message references uploads by
 * id (chat/chat.ts claims them); uploads no message claimed are collected after a grace period,
 * and a lapsed ephemeral chat takes its attachments with it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ChatService } from '../chat/chat.ts';
import { ParleyError } from '../errors.ts';
import { directMembers, type AttachmentInfo, type ChatId } from '../protocol.ts';
import { NOOP_METER, type Meter } from '../metrics.ts';
import type { AttachmentMeta, AttachmentStore } from '../store/attachments.ts';
import { processImage } from './image.ts';
import { parseExtraTypes, sniff, EXTRA_TYPES } from './sniff.ts';

export interface AttachmentLimits {
  maxBytes: number;
  maxPixels: number;
  thumbPx: number;
  /** Kinds of EXTRA_TYPES accepted besides images. */
  extraTypes: readonly string[];
  graceMs: number;
  /** Uploads read and processed at once; more are refused with overloaded. */
  maxUploads: number;
  /** Longest pause in an upload's body before it is refused with attachment_stalled. */
  idleMs: number;
}

export const MAX_NAME_CHARS = 200;


export function infoOf(m: AttachmentMeta): AttachmentInfo {
  const info: AttachmentInfo = { id: m.id, chat: m.chat, from: m.uploader, type: m.type, name: m.name, size: m.size, sha256: m.sha256, thumbnail: m.thumbSha256 !== undefined, createdAt: m.createdAt };
  if (m.width !== undefined) { info.width = m.width; info.height = m.height; }
  return info;
}

/** A file name fit for Content-Disposition: no path, no control characters, at most MAX_NAME_CHARS. */
export function cleanName(raw: string | null | undefined, ext: string): string {
  // The last path part first (a Windows path's backslashes are separators), then no control characters or quotes.
  const base = (raw ?? '').split(/[/\\]/).pop()!.replace(/[\u0000-\u001f\u007f"]/g, '').trim().slice(0, MAX_NAME_CHARS);
  return base && base !== '.' && base !== '..' ? base : `attachment.${ext}`;
}

/**
 * Reads a body into memory, at most `max` bytes: past it, rejects with attachment_too_large at once
 * and discards the rest as it arrives (memory stays bounded by the limit). A body that sends
 * nothing for `idleMs` rejects with attachment_stalled.
 */
export function readLimited(body: Readable, max: number, declared?: number, idleMs = 30_000): Promise<Buffer> {
  const tooLarge = () => new ParleyError('attachment_too_large', `attachments must be at most ${max} bytes`, { maxBytes: max });
  if (declared !== undefined && declared > max) {
    body.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let idle: NodeJS.Timeout | undefined;
    const fail = (err: unknown) => {
      clearTimeout(idle);
      body.off('data', onData);
      chunks.length = 0;
      reject(err);
    };
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => fail(new ParleyError('attachment_stalled', `the upload sent nothing for ${idleMs} ms; upload again`, { idleMs })), idleMs);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        body.resume();
        return fail(tooLarge());
      }
      chunks.push(chunk);
      arm();
    };
    arm();
    body.on('data', onData);
    body.once('end', () => { clearTimeout(idle); resolve(Buffer.concat(chunks)); });
    body.once('error', fail);
    body.once('aborted', () => fail(new ParleyError('bad_field', 'the upload was aborted before its end', { field: 'body' })));
  });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export class Attachments {
  readonly store: AttachmentStore;
  readonly limits: AttachmentLimits;
  readonly #chat: ChatService;
  readonly #meter: Meter;
  #active = 0;
  /** Where the orphan check goes on at the next sweep (chat ids in order, wrapping round). */
  #orphanCursor = '';

  constructor(store: AttachmentStore, chat: ChatService, limits: AttachmentLimits, meter: Meter = NOOP_METER) {
    this.store = store;
    this.#meter = meter;
    this.#chat = chat;
    this.limits = limits;
  }

  /** Uploads being read or processed now. */
  get active(): number {
    return this.#active;
  }

  /** The limits as the setting strings give them. */
  static limitsOf(config: { attachmentMaxBytes: number; attachmentMaxPixels: number; attachmentThumbPx: number; attachmentExtraTypes?: string | undefined; attachmentGraceMs: number; attachmentMaxUploads: number; attachmentIdleMs: number }): AttachmentLimits {
    return {
      maxBytes: config.attachmentMaxBytes, maxPixels: config.attachmentMaxPixels, thumbPx: config.attachmentThumbPx,
      extraTypes: parseExtraTypes(config.attachmentExtraTypes).filter((k) => Object.hasOwn(EXTRA_TYPES, k)), graceMs: config.attachmentGraceMs, maxUploads: config.attachmentMaxUploads, idleMs: config.attachmentIdleMs,
    };
  }

  /**
   * Stores an upload of `user` to `chat` (a member); resolves with what members will see. Nothing
   * is stored when any check fails: membership, size, kind, decodability, dimensions.
   */
  async upload(user: string, chat: ChatId, body: Readable, opts: { name?: string | null; declaredBytes?: number } = {}): Promise<AttachmentInfo> {
    await this.#admit(user, chat).catch((err: unknown) => {
      this.#meter.inc('parley_attachment_uploads_total', { result: err instanceof ParleyError ? err.code : 'other' });
      throw err;
    });
    // Each upload in progress holds up to maxBytes (and a decode): their number bounds the memory.
    if (this.#active >= this.limits.maxUploads) {
      this.#meter.inc('parley_attachment_uploads_total', { result: 'overloaded' });
      throw new ParleyError('overloaded', `this node is processing ${this.#active} uploads, its most at once; retry after 1000 ms`, { reason: 'uploads', retryAfterMs: 1000 });
    }
    this.#active++;
    try {
      const info = await this.#upload(user, chat, body, opts);
      this.#meter.inc('parley_attachment_uploads_total', { result: 'stored' });
      this.#meter.inc('parley_attachment_stored_bytes_total', undefined, info.size);
      return info;
    } catch (err) {
      this.#meter.inc('parley_attachment_uploads_total', { result: err instanceof ParleyError ? err.code : 'other' });
      throw err;
    } finally {
      this.#active--;
    }
  }

  async #upload(user: string, chat: ChatId, body: Readable, opts: { name?: string | null; declaredBytes?: number }): Promise<AttachmentInfo> {
    const bytes = await readLimited(body, this.limits.maxBytes, opts.declaredBytes, this.limits.idleMs);
    if (bytes.length === 0) throw new ParleyError('attachment_invalid', 'the upload is empty: send the file as the request body');
    const kind = sniff(bytes, this.limits.extraTypes);
    if (!kind) {
      const allowed = ['JPEG', 'PNG', 'WebP', 'GIF', ...this.limits.extraTypes];
      throw new ParleyError('attachment_type', `the upload's content is not an accepted type (judged by its first bytes, not its name or Content-Type); this node accepts ${allowed.join(', ')}`, { accepted: allowed });
    }
    const meta: AttachmentMeta = {
      id: randomBytes(12).toString('base64url'), chat, uploader: user, type: kind.type, name: cleanName(opts.name, kind.ext),
      size: bytes.length, sha256: '', createdAt: Date.now(), referenced: false,
    };
    let content = bytes;
    let thumbnail: Buffer | undefined;
    if (kind.image) {
      const img = await processImage(bytes, kind, this.limits);
      content = img.content;
      thumbnail = img.thumbnail;
      Object.assign(meta, { size: content.length, width: img.width, height: img.height, thumbSha256: sha256(thumbnail), thumbSize: thumbnail.length });
    }
    meta.sha256 = sha256(content);
    // Still a member after the work above: a user who left meanwhile stores nothing.
    await this.#admit(user, chat);
    await this.store.put(meta, content, thumbnail);
    return infoOf(meta);
  }

  /** Whether `user` may upload to `chat`: a member, and in a 1:1 not blocked either way (as for a message). */
  async #admit(user: string, chat: ChatId): Promise<void> {
    await this.#chat.members(user, chat);
    const pair = directMembers(chat);
    if (pair) await this.#chat.hooks.beforeDirect?.(user, pair[0] === user ? pair[1] : pair[0]);
  }

  /** Marks a message's uploads referenced (chat/chat.ts, before the append). */
  claim(chat: ChatId, uploader: string, ids: readonly string[]): Promise<string[]> {
    return this.store.claim(chat, uploader, ids);
  }

  /** Deletes the attachments of a lapsed chat (chat/chat.ts expire). */
  async deleteChat(chat: ChatId): Promise<number> {
    const n = await this.store.deleteChat(chat);
    if (n) this.#meter.inc('parley_attachments_deleted_total', { reason: 'expired' }, n);
    return n;
  }

  async purge(): Promise<void> {
    await this.store.purge?.();
  }

  /** The attachment `id` of `chat` for a member; attachment_not_found when it is not that chat's. */
  async open(user: string, chat: ChatId, id: string): Promise<AttachmentMeta> {
    await this.#chat.members(user, chat);
    const meta = await this.store.get(id);
    if (!meta || meta.chat !== chat) throw new ParleyError('attachment_not_found', `no attachment ${id} in ${chat}`, { attachments: [id] });
    return meta;
  }

  /**
   * Deletes unreferenced uploads older than the grace period in batches of `batch`, then checks up
   * to `batch` chats with attachments and deletes those of chats that no longer exist (a deletion
   * that failed after its chat lapsed); resolves with how many attachments went.
   */
  async sweep(now = Date.now(), batch = 100): Promise<number> {
    let n = await this.#orphans(batch);
    for (;;) {
      const k = await this.store.collect(now - this.limits.graceMs, batch);
      if (k) this.#meter.inc('parley_attachments_deleted_total', { reason: 'unreferenced' }, k);
      n += k;
      if (k < batch) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (n > 0) await this.store.purge?.();
    return n;
  }

  async #orphans(batch: number): Promise<number> {
    const chats = await this.store.chatsAfter(this.#orphanCursor, batch);
    this.#orphanCursor = chats.length < batch ? '' : chats.at(-1)!;
    let n = 0;
    for (const chat of chats) if (!(await this.#chat.store.chatInfo(chat))) n += await this.store.deleteChat(chat);
    if (n) this.#meter.inc('parley_attachments_deleted_total', { reason: 'orphaned' }, n);
    return n;
  }
}
