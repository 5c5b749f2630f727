/**
 * REST for backend services, with the same tokens and the same semantics as the socket: a message
 * posted here is committed, acknowledged and delivered live to connected members.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenAuthority } from './auth.ts';
import { bearerFrom } from './auth.ts';
import type { ChatService } from '../chat/chat.ts';
import { ParleyError } from '../errors.ts';
import { TokenBucket } from './limiter.ts';
import { isChatId, isUserId, LIMITS, validateAttachments, validateBody, validateCmid, validateRoomName, validateRoomPolicy, validateSearch } from '../protocol.ts';

export const API_PREFIX = '/api/v1';
const MAX_BODY_BYTES = 64 * 1024;

type Json = Record<string, unknown>;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ParleyError): void {
  const retryAfterMs = err.details?.retryAfterMs;
  if (typeof retryAfterMs === 'number') res.setHeader('retry-after', Math.max(1, Math.ceil(retryAfterMs / 1000)));
  sendJson(res, err.status, { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
}

export async function readJson(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ParleyError('payload_too_large', `request bodies must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch (err) {
    throw new ParleyError('bad_json', `expected a JSON object body: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ParleyError('bad_json', 'expected a JSON object body');
  return value as Json;
}

export function intParam(url: URL, name: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  // An empty value (`?limit=`) means the parameter is absent, as the docs write the query templates.
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ParleyError('bad_field', `query "${name}" must be an integer in [${min}, ${max}], got "${raw.slice(0, 20)}"`, { field: name });
  return n;
}

/** GET /search's query string as the fields of a search request (integers parsed, empty values absent). */
function searchParams(url: URL): ReturnType<typeof validateSearch> {
  const o: Record<string, unknown> = {};
  for (const k of ['q', 'chat', 'from', 'cursor']) {
    const v = url.searchParams.get(k);
    if (v !== null && v !== '') o[k] = v;
  }
  o.since = intParam(url, 'since', 0, Number.MAX_SAFE_INTEGER);
  o.until = intParam(url, 'until', 0, Number.MAX_SAFE_INTEGER);
  o.limit = intParam(url, 'limit', 1, LIMITS.maxSearchLimit);
  return validateSearch(o);
}

/** decodeURIComponent that answers malformed escapes with bad_field instead of a URIError (a 500). */
export function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ParleyError('bad_field', `the path is not valid percent-encoding: "${part.slice(0, 40)}"`, { field: 'path' });
  }
}

/** Extra routes under /api/v1 (core/edge/social-rest.ts); resolves true when it answered the request. */
export type RestRoutes = (method: string, parts: string[], user: string, req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface RestLimits {
  sendRatePerSec: number;
  sendBurst: number;
}

const MAX_BUCKETS = 100_000;

export class RestApi {
  readonly #chat: ChatService;
  readonly #auth: TokenAuthority;

  readonly #extra: RestRoutes | undefined;
  readonly #limits: RestLimits | undefined;
  /** Per-user send buckets, oldest first; bounded so a flood of distinct users cannot grow it. */
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(chat: ChatService, auth: TokenAuthority, extra?: RestRoutes, limits?: RestLimits) {
    this.#extra = extra;
    this.#chat = chat;
    this.#auth = auth;
    this.#limits = limits;
  }

  /** REST sends share the socket's rate (per user here, as REST has no session). */
  #takeSend(user: string): void {
    const limits = this.#limits;
    if (!limits) return;
    let bucket = this.#buckets.get(user);
    if (!bucket) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#buckets.delete(this.#buckets.keys().next().value!);
      this.#buckets.set(user, (bucket = new TokenBucket(limits.sendRatePerSec, limits.sendBurst)));
    }
    const taken = bucket.take();
    if (!taken.ok) {
      throw new ParleyError('rate_limited', `send rate is limited to ${limits.sendRatePerSec}/s; retry after ${taken.retryAfterMs} ms`, { retryAfterMs: taken.retryAfterMs });
    }
  }

  /** Handles a request under /api/v1; never throws. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      const { user } = await this.#auth.verify(bearerFrom(req.headers, url));
      const parts = url.pathname.slice(API_PREFIX.length).split('/').filter(Boolean).map(decodePart);
      if (await this.#extra?.(req.method ?? 'GET', parts, user, req, res, url)) return;
      await this.#route(req.method ?? 'GET', parts, user, req, res, url);
    } catch (err) {
      if (err instanceof ParleyError) sendError(res, err);
      else sendError(res, new ParleyError('internal', 'the server failed to apply the request; retry'));
    }
  }

  async #route(method: string, parts: string[], user: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const chat = this.#chat;
    const [root, id, sub] = parts;
    if (root === 'search' && parts.length === 1 && method === 'GET') return sendJson(res, 200, await chat.search(user, searchParams(url)));
    if (root !== 'chats' || parts.length > 3) throw new ParleyError('not_found', `no route ${method} ${url.pathname}`);
    if (id !== undefined && !isChatId(id)) throw new ParleyError('bad_field', `"${String(id).slice(0, 40)}" is not a chat id`, { field: 'chat' });

    if (id === undefined && method === 'GET') return sendJson(res, 200, { chats: await chat.chats(user) });
    if (id === undefined && method === 'POST') {
      const body = await readJson(req);
      if (body.to !== undefined) {
        if (!isUserId(body.to)) throw new ParleyError('bad_field', '"to" must be a user id', { field: 'to' });
        return sendJson(res, 201, { chat: await chat.openDirect(user, body.to), members: [user, body.to].sort() });
      }
      const name = validateRoomName(body.name);
      const members = body.members ?? [];
      if (!Array.isArray(members) || members.length > LIMITS.maxInitialMembers || !members.every(isUserId)) {
        throw new ParleyError('bad_field', `"members" must be an array of at most ${LIMITS.maxInitialMembers} user ids`, { field: 'members' });
      }
      return sendJson(res, 201, await chat.createRoom(user, name, members as string[], validateRoomPolicy(body.policy)));
    }
    if (id !== undefined && sub === 'messages' && method === 'POST') {
      const body = await readJson(req);
      const cmid = validateCmid(body.cmid);
      const text = validateBody(body.body);
      const attachments = validateAttachments(body.attachments);
      this.#takeSend(user);
      const { message, dup } = await chat.send(user, attachments ? { chat: id, cmid, body: text, attachments } : { chat: id, cmid, body: text });
      return sendJson(res, dup ? 200 : 201, { chat: message.chat, seq: message.seq, cmid: message.cmid, ts: message.ts, dup });
    }
    if (id !== undefined && sub === 'messages' && method === 'GET') {
      const limit = intParam(url, 'limit', 1, LIMITS.maxHistoryLimit) ?? LIMITS.defaultHistoryLimit;
      const after = intParam(url, 'after', 0, Number.MAX_SAFE_INTEGER);
      if (after !== undefined) {
        const page = await chat.after(user, id, after, limit + 1);
        return sendJson(res, 200, { chat: id, messages: page.slice(0, limit), more: page.length > limit });
      }
      return sendJson(res, 200, { chat: id, ...(await chat.history(user, id, intParam(url, 'before', 1, Number.MAX_SAFE_INTEGER), limit)) });
    }
    if (id !== undefined && sub === 'members' && method === 'GET') return sendJson(res, 200, { chat: id, members: await chat.members(user, id) });
    if (id !== undefined && sub === 'members' && method === 'POST') {
      const body = await readJson(req);
      if (!isUserId(body.user)) throw new ParleyError('bad_field', '"user" must be a user id', { field: 'user' });
      await chat.invite(user, id, body.user);
      return sendJson(res, 200, { chat: id, user: body.user });
    }
    throw new ParleyError('not_found', `no route ${method} ${url.pathname}`);
  }
}
