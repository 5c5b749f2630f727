/**
 * REST for the social layer, for backend services that check friendship or manage lists on a
 * user's behalf, with the same semantics as the socket ops:
 *
 *   GET    /api/v1/roster?ver=N              roster (changes since N, or whole)
 *   GET    /api/v1/roster/{user}             { user, state } — the friendship check
 *   POST   /api/v1/roster/{user}/{request|accept|decline|cancel}
 *   DELETE /api/v1/roster/{user}             remove a friend
 *   PUT    /api/v1/roster/{user}/note        { note }
 *   GET    /api/v1/blocks?after=&limit=      one page of the block list
 *   GET|PUT|DELETE /api/v1/blocks/{user}     check, block, unblock
 *   GET|PATCH /api/v1/settings               privacy settings
 *   POST   /api/v1/chats/{chat}/read         { seq } — move the read marker
 */
import { ParleyError } from '../errors.ts';
import { isChatId, isUserId, LIMITS, validateNote, validateSeq, type FriendAction } from '../protocol.ts';
import { intParam, readJson, sendJson, type RestRoutes } from './rest.ts';
import type { Social } from '../social/social.ts';

const ACTIONS = new Set<FriendAction>(['request', 'accept', 'decline', 'cancel']);

function userParam(v: string | undefined): string {
  if (!isUserId(v)) throw new ParleyError('bad_field', `"${String(v).slice(0, 40)}" is not a user id (1-64 of A-Z a-z 0-9 _ . @ -)`, { field: 'user' });
  return v;
}

function boolField(body: Record<string, unknown>, name: 'typing' | 'receipts'): boolean | undefined {
  const v = body[name];
  if (v !== undefined && typeof v !== 'boolean') throw new ParleyError('bad_field', `"${name}" must be true or false`, { field: name });
  return v;
}

export function socialRoutes(social: Social): RestRoutes {
  return async (method, parts, user, req, res, url) => {
    const [root, id, sub] = parts;
    if (root === 'roster') {
      if (parts.length > 3) return false;
      if (id === undefined) {
        if (method !== 'GET') return false;
        sendJson(res, 200, await social.roster.fetch(user, intParam(url, 'ver', 0, Number.MAX_SAFE_INTEGER)));
        return true;
      }
      const peer = userParam(id);
      if (sub === undefined && method === 'GET') { sendJson(res, 200, { user: peer, state: await social.roster.state(user, peer) }); return true; }
      if (sub === undefined && method === 'DELETE') { sendJson(res, 200, { item: await social.roster.act(user, 'remove', peer) }); return true; }
      if (sub === 'note' && method === 'PUT') {
        const note = validateNote((await readJson(req)).note);
        sendJson(res, 200, { item: await social.roster.setNote(user, peer, note) });
        return true;
      }
      if (sub !== undefined && ACTIONS.has(sub as FriendAction) && method === 'POST') {
        sendJson(res, 200, { item: await social.roster.act(user, sub as FriendAction, peer) });
        return true;
      }
      return false;
    }
    if (root === 'blocks') {
      if (parts.length > 2) return false;
      if (id === undefined) {
        if (method !== 'GET') return false;
        const after = url.searchParams.get('after') || undefined;
        if (after !== undefined) userParam(after);
        sendJson(res, 200, await social.blocks.page(user, after, intParam(url, 'limit', 1, LIMITS.maxBlocksPage)));
        return true;
      }
      const target = userParam(id);
      if (method === 'GET') { sendJson(res, 200, { user: target, blocked: (await social.blocks.between(user, target)).aBlocksB }); return true; }
      if (method === 'PUT') { sendJson(res, 200, await social.blocks.block(user, target)); return true; }
      if (method === 'DELETE') { sendJson(res, 200, await social.blocks.unblock(user, target)); return true; }
      return false;
    }
    if (root === 'settings' && parts.length === 1) {
      if (method === 'GET') { sendJson(res, 200, await social.privacy.get(user)); return true; }
      if (method === 'PATCH') {
        const body = await readJson(req);
        sendJson(res, 200, await social.privacy.set(user, { typing: boolField(body, 'typing'), receipts: boolField(body, 'receipts') }));
        return true;
      }
      return false;
    }
    if (root === 'chats' && sub === 'read' && parts.length === 3 && method === 'POST') {
      if (!isChatId(id)) throw new ParleyError('bad_field', `"${String(id).slice(0, 40)}" is not a chat id`, { field: 'chat' });
      const seq = validateSeq((await readJson(req)).seq);
      sendJson(res, 200, await social.receipts.read(user, id, seq));
      return true;
    }
    return false;
  };
}
