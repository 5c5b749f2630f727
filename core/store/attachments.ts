/**
 * The attachment store: the pluggable interface behind uploads (docs/protocol.md "## Attachments").
 * Content is addressed by the SHA-256 of the stored bytes, so one photo posted twice is kept once;
 * a content is deleted only when no attachment row names its hash any more. Two implementations:
 * store/attachments-fs.ts (files under <dataDir>/attachments, one node) and
 * store/attachments-postgres.ts (tables in the shared PostgreSQL database, many nodes).
 */
import type { ChatId } from '../protocol.ts';

export interface AttachmentMeta {
  id: string;
  chat: ChatId;
  uploader: string;
  /** Content-Type, from the magic bytes (attachments/sniff.ts). */
  type: string;
  /** The file name the uploader gave (or a default), for Content-Disposition. */
  name: string;
  size: number;
  /** Hex SHA-256 of the stored bytes: the content's address. */
  sha256: string;
  /** Images only. */
  width?: number;
  height?: number;
  /** Images only: the thumbnail's content address, size and type (WebP). */
  thumbSha256?: string;
  thumbSize?: number;
  createdAt: number;
  /** Whether a message references it; unreferenced uploads are collected after a grace period. */
  referenced: boolean;
}

export type AttachmentPart = 'content' | 'thumbnail';

export interface AttachmentStore {
  /** Stores the content (and thumbnail) under their hashes unless already there, then the row. */
  put(meta: AttachmentMeta, content: Buffer, thumbnail?: Buffer): Promise<void>;
  get(id: string): Promise<AttachmentMeta | undefined>;
  /** Bytes [start, end] (inclusive) of a part, or all of it. */
  read(meta: AttachmentMeta, part: AttachmentPart, range?: { start: number; end: number }): Promise<Buffer>;
  /**
   * Marks as referenced those of `ids` that `uploader` uploaded to `chat`; resolves with the ids
   * that qualified (the others do not exist, are another chat's, or someone else's).
   */
  claim(chat: ChatId, uploader: string, ids: readonly string[]): Promise<string[]>;
  /** Deletes every attachment of a chat and the contents no row names any more; resolves with how many rows. */
  deleteChat(chat: ChatId): Promise<number>;
  /** Deletes at most `limit` unreferenced attachments created before `before` (and their orphaned contents); resolves with how many. */
  collect(before: number, limit: number): Promise<number>;
  /** Chats that have attachments, in id order after `after`, at most `limit` (the orphan check walks them). */
  chatsAfter(after: ChatId, limit: number): Promise<ChatId[]>;
  /** Rows and stored contents, for operators and tests. */
  stats(): Promise<{ attachments: number; contents: number }>;
  /** Makes deleted rows unrecoverable from the files (a store whose deletes already are may omit it). */
  purge?(): Promise<void>;
  close(): Promise<void>;
}
