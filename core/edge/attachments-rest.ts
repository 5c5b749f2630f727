/**
 * Attachments over HTTP (docs/protocol.md "## Attachments"):
 *
 *   POST /api/v1/chats/{chat}/attachments?name=photo.jpg    the file as the raw body → 201 info
 *   GET  /api/v1/chats/{chat}/attachments/{id}              the content (Range, 206/416)
 *   GET  /api/v1/chats/{chat}/attachments/{id}/thumbnail    images: the WebP thumbnail
 *   GET  /api/v1/chats/{chat}/attachments/{id}/info         the info JSON the upload answered
 *
 * Members only. Downloads are served with their stored type, nosniff and a sandboxing CSP, inline
 * for images and as a download for anything else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Attachments } from '../attachments/attachments.ts';
import { infoOf } from '../attachments/attachments.ts';
import { ParleyError } from '../errors.ts';
import { isAttachmentId, isChatId } from '../protocol.ts';
import type { AttachmentMeta, AttachmentPart } from '../store/attachments.ts';
import { sendJson, type RestRoutes } from './rest.ts';

/** One byte range of `size` bytes from a Range header; undefined: serve it all (absent, several ranges, another unit). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Multiple ranges or other units: RFC 9110 lets a server ignore Range and answer 200.
  if (!m) return /^bytes=/.test(header.trim()) && !header.includes(',') ? 'unsatisfiable' : undefined;
  const [, a, b] = m;
  if (a === '' && b === '') return 'unsatisfiable';
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || (b !== '' && Number(b) < start)) return 'unsatisfiable';
  return { start, end };
}

/** RFC 6266 Content-Disposition with an ASCII fallback and the UTF-8 name. */
export function disposition(kind: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

async function serve(attachments: Attachments, meta: AttachmentMeta, part: AttachmentPart, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const size = part === 'content' ? meta.size : meta.thumbSize!;
  const sha = part === 'content' ? meta.sha256 : meta.thumbSha256!;
  const image = meta.type.startsWith('image/');
  const type = part === 'content' ? meta.type : 'image/webp';
  const name = part === 'content' ? meta.name : `${meta.name.replace(/\.[^.]*$/, '')}.thumb.webp`;
  const headers: Record<string, string | number> = {
    'content-type': type,
    'content-disposition': disposition(image ? 'inline' : 'attachment', name),
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'cache-control': 'private, max-age=31536000, immutable',
    etag: `"${sha}"`,
    'accept-ranges': 'bytes',
  };
  if (req.headers['if-none-match'] === `"${sha}"`) {
    res.writeHead(304, headers);
    return void res.end();
  }
  // If-Range with another validator: the whole content, not a piece of a different one.
  const ifRange = req.headers['if-range'];
  const range = ifRange !== undefined && ifRange !== `"${sha}"` ? undefined : parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    res.setHeader('content-range', `bytes */${size}`);
    throw new ParleyError('range_not_satisfiable', `the Range "${String(req.headers.range).slice(0, 60)}" is outside the attachment's ${size} bytes`, { size });
  }
  const head = req.method === 'HEAD';
  const body = head ? Buffer.alloc(0) : await attachments.store.read(meta, part, range);
  if (range) {
    res.writeHead(206, { ...headers, 'content-range': `bytes ${range.start}-${range.end}/${size}`, 'content-length': range.end - range.start + 1 });
  } else {
    res.writeHead(200, { ...headers, 'content-length': size });
  }
  res.end(head ? undefined : body);
}

export function attachmentRoutes(attachments: Attachments): RestRoutes {
  return async (method, parts, user, req, res, url) => {
    const [root, chat, sub, id, leaf] = parts;
    if (root !== 'chats' || sub !== 'attachments' || parts.length > 5) return false;
    if (!isChatId(chat)) throw new ParleyError('bad_field', `"${String(chat).slice(0, 40)}" is not a chat id`, { field: 'chat' });
    if (id === undefined) {
      if (method !== 'POST') return false;
      const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
      try {
        const info = await attachments.upload(user, chat, req, { name: url.searchParams.get('name'), declaredBytes: declared });
        sendJson(res, 201, info);
      } catch (err) {
        // The rest of a refused body is discarded and the connection closes after the answer; a
        // client still sending (or stalled) a second after the answer is cut off.
        if (!req.complete) {
          res.setHeader('connection', 'close');
          res.once('finish', () => setTimeout(() => req.destroy(), 1000).unref());
          if (err instanceof ParleyError && err.code === 'attachment_stalled') req.resume();
        }
        throw err;
      }
      return true;
    }
    if (!isAttachmentId(id)) throw new ParleyError('bad_field', `"${String(id).slice(0, 40)}" is not an attachment id`, { field: 'id' });
    if (method !== 'GET' && method !== 'HEAD') return false;
    const meta = await attachments.open(user, chat, id);
    if (leaf === undefined) await serve(attachments, meta, 'content', req, res);
    else if (leaf === 'thumbnail') {
      if (!meta.thumbSha256) throw new ParleyError('attachment_not_found', `attachment ${id} is not an image and has no thumbnail`, { attachments: [id] });
      await serve(attachments, meta, 'thumbnail', req, res);
    } else if (leaf === 'info') sendJson(res, 200, infoOf(meta));
    else return false;
    return true;
  };
}
