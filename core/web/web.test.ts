/**
 * The chat page and the ops console in a real browser (headless Chromium through playwright-core):
 * two people become friends, chat 1:1 and in a room with typing and read receipts, one loses the
 * network and comes back to the missed messages once and in order, and an operator traces one of
 * them in the console. Every page must stay free of console errors and failed requests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import pino from 'pino';
import { chromium, type Browser, type BrowserContext, type Page, type WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { startServer, type ParleyServer } from '../server.ts';
import { CONTENT_SECURITY_POLICY } from '../edge/static.ts';
import { requires } from '../test/env.ts';
import { ParleyClient } from '../client/index.ts';
import { buildWeb, type PageBuild } from './build.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ADMIN = 'console-admin-token-0123456789';
/** The chat page's JavaScript, gzipped, may not grow past this. */
export const CHAT_JS_BUDGET_GZIP_BYTES = 32 * 1024;
const ARTIFACTS = path.resolve('test-results/web');
const DOCS_IMAGES = path.resolve('docs/images');

const hasChromium = fs.existsSync(CHROMIUM);
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface Watched { page: Page; problems: string[] }

/** Records every console error, page error, failed request and HTTP error answer of a page. */
function watch(page: Page, name: string): Watched {
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${name} console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${name} page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`${name} request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`${name} HTTP ${r.status()}: ${r.url()}`); });
  return { page, problems };
}

/** axe-core's serious and critical violations on the page as it is now. */
async function axe(page: Page): Promise<string[]> {
  // Evaluated over the DevTools protocol: the page's CSP (no inline script) stays on.
  const violations = await page.evaluate(`${axeSource}\n;axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) })))`) as { id: string; impact: string; nodes: string[] }[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.nodes.join(', ')}`);
}

/** The bodies of the open conversation, top to bottom, with their seqs. */
async function thread(page: Page): Promise<{ seq: number | null; body: string }[]> {
  return page.$$eval('#messages li.msg', (lis) => lis.map((li) => ({
    seq: li.getAttribute('data-seq') === null ? null : Number(li.getAttribute('data-seq')),
    body: li.querySelector('.body')?.textContent ?? '',
  })));
}

async function signIn(page: Page, base: string, user: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('User name').first().fill(user);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#connection', { hasText: 'Online' }).waitFor();
}

async function send(page: Page, text: string): Promise<void> {
  await page.locator('#composer-input').fill(text);
  await page.keyboard.press('Enter');
}

// A shared two-core machine can make a browser step slow; a test that times out leaves the next ones
// in a state they do not expect, so each gets room.
describe('the web chat page and the ops console in Chromium', { timeout: 120_000 }, () => {
  let server: ParleyServer;
  let browser: Browser;
  let built: PageBuild[];
  let dir: string;
  let flagsFile: string;
  const logLines: string[] = [];
  const contexts: BrowserContext[] = [];
  let alice: Watched;
  let bob: Watched;
  let ops: Watched;
  let aliceContext: BrowserContext;
  /** alice's WebSockets, routed through the test so they can be cut like a lost network. */
  const aliceSockets: { page: WebSocketRoute; server: WebSocketRoute }[] = [];
  let dropAcks = false;
  const tokens: string[] = [];

  beforeAll(async () => {
    built = await buildWeb();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-web-'));
    flagsFile = path.join(dir, 'features.json');
    fs.copyFileSync('flags/features.json', flagsFile);
    const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
    server = await startServer(loadConfig(new Map(), {}, {
      host: '127.0.0.1', port: 0, opsPort: 0, dataDir: dir, devLogin: true, adminToken: ADMIN, flagsFile, presenceGraceMs: 500, readByWindowMs: 100,
    }), { log });
    if (!hasChromium) return;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    aliceContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const bobContext = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    const opsContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    contexts.push(aliceContext, bobContext, opsContext);
    alice = watch(await aliceContext.newPage(), 'alice');
    bob = watch(await bobContext.newPage(), 'bob');
    ops = watch(await opsContext.newPage(), 'console');
    for (const c of contexts) c.on('request', (r) => { if (r.url().includes('/dev/token')) void r.response().then(async (res) => { tokens.push(((await res?.json()) as { token: string }).token); }); });
    await alice.page.routeWebSocket(/\/ws/, (ws) => {
      const upstream = ws.connectToServer();
      aliceSockets.push({ page: ws, server: upstream });
      ws.onMessage((m) => upstream.send(m));
      upstream.onMessage((m) => { if (!(dropAcks && typeof m === 'string' && m.includes('"op":"ack"'))) ws.send(m); });
    });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves the chat page with no-cache HTML, immutable hashed assets and a CSP that allows no inline script', async () => {
    const html = await fetch(`${server.httpUrl}/`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.headers.get('cache-control')).toBe('no-cache');
    expect(html.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    const text = await html.text();
    expect(text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const chat = built.find((b) => b.page === 'chat')!;
    const js = await fetch(`${server.httpUrl}/${chat.js}`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${server.httpUrl}/assets/..%2fsecret`)).status).toBe(404);
    const consolePage = await fetch(`${server.opsUrl}/console`);
    expect(consolePage.status).toBe(200);
    expect(consolePage.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
  });

  it(`keeps the chat page's JavaScript within ${CHAT_JS_BUDGET_GZIP_BYTES / 1024} KiB gzipped`, () => {
    const chat = built.find((b) => b.page === 'chat')!;
    const gz = gzipSync(fs.readFileSync(path.resolve('dist/web/chat', chat.js)), { level: 9 }).length;
    console.log(`chat page JS: ${chat.jsBytes} bytes, ${gz} gzipped (budget ${CHAT_JS_BUDGET_GZIP_BYTES})`);
    expect(gz).toBeLessThanOrEqual(CHAT_JS_BUDGET_GZIP_BYTES);
  });

  it('two people sign in, become friends, see each other\'s presence and status, keep a private note and block and unblock', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    await signIn(alice.page, server.httpUrl, 'alice');
    await signIn(bob.page, server.httpUrl, 'bob');
    await alice.page.getByLabel('User name').first().fill('bob');
    await alice.page.getByRole('button', { name: 'Send friend request' }).click();
    await alice.page.locator('#requests', { hasText: 'Request sent to bob' }).waitFor();
    await bob.page.getByRole('button', { name: 'Accept alice' }).click();
    await alice.page.locator('#friends li[data-user="bob"]', { hasText: 'available' }).waitFor();
    await bob.page.locator('#friends li[data-user="alice"]', { hasText: 'available' }).waitFor();
    await bob.page.getByLabel('I am').selectOption('away');
    await bob.page.getByLabel('Status', { exact: true }).fill('on the bus');
    await bob.page.getByRole('button', { name: 'Set status' }).click();
    await alice.page.locator('#friends li[data-user="bob"]', { hasText: 'away' }).filter({ hasText: 'on the bus' }).waitFor();
    await alice.page.getByRole('button', { name: 'Private note on bob' }).click();
    await alice.page.keyboard.type('met at the climbing gym');
    await alice.page.keyboard.press('Enter');
    await alice.page.locator('#friends li[data-user="bob"] .note', { hasText: 'met at the climbing gym' }).waitFor();
    await expect.poll(() => bob.page.locator('#friends').textContent()).not.toContain('climbing');
    await bob.page.getByRole('button', { name: 'Block alice' }).click();
    await bob.page.locator('#blocked', { hasText: 'alice' }).waitFor();
    await alice.page.locator('#friends li[data-user="bob"]', { hasText: 'offline' }).waitFor();
    await bob.page.locator('#blocked').getByRole('button', { name: 'Unblock alice' }).click();
    await bob.page.locator('#blocked', { hasText: 'Nobody is blocked.' }).waitFor();
    await alice.page.locator('#friends li[data-user="bob"]', { hasText: 'away' }).waitFor();
  });

  it('they chat 1:1, see each other typing and see that their messages were read', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    await alice.page.getByRole('button', { name: 'Message bob' }).click();
    await send(alice.page, 'hello bob');
    await bob.page.locator('#conversations button', { hasText: '1 unread' }).click();
    await bob.page.locator('#messages', { hasText: 'hello bob' }).waitFor();
    await alice.page.locator('#messages li.mine .receipt', { hasText: 'Read' }).waitFor();
    await bob.page.locator('#composer-input').pressSequentially('hi al', { delay: 30 });
    await alice.page.locator('#typing', { hasText: 'bob is typing…' }).waitFor();
    await bob.page.locator('#composer-input').pressSequentially('ice');
    await bob.page.keyboard.press('Enter');
    await alice.page.locator('#messages li.msg', { hasText: 'hi alice' }).waitFor();
    await expect.poll(() => alice.page.textContent('#typing')).toBe('');
    expect((await thread(alice.page)).map((m) => m.body)).toEqual(['hello bob', 'hi alice']);
  });

  it('they talk in a room: create with a member, invite, members, "read by N"', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    await alice.page.getByLabel('Room name').fill('standup');
    await alice.page.getByLabel('Members (comma separated)').fill('bob');
    await alice.page.getByRole('button', { name: 'Create room' }).click();
    await alice.page.locator('#thread-title', { hasText: '# standup' }).waitFor();
    await send(alice.page, 'standup in 5');
    await alice.page.getByLabel('Invite', { exact: true }).fill('carol');
    await alice.page.getByRole('button', { name: 'Invite', exact: true }).click();
    await alice.page.locator('#members', { hasText: 'Members: alice, bob, carol' }).waitFor();
    await bob.page.getByRole('button', { name: '← Back' }).click();
    await bob.page.locator('#conversations button', { hasText: '# standup' }).click();
    await bob.page.locator('#messages', { hasText: 'standup in 5' }).waitFor();
    await alice.page.locator('#messages li.mine .receipt', { hasText: 'read by 1' }).waitFor();
    await bob.page.locator('#composer-input').pressSequentially('on my way', { delay: 20 });
    await alice.page.locator('#typing', { hasText: 'bob is typing…' }).waitFor();
    await bob.page.keyboard.press('Enter');
    await alice.page.locator('#messages li.msg', { hasText: 'on my way' }).waitFor();
  });

  it('pages older history in when the conversation is scrolled to the top, keeping seq order', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    const carol = new ParleyClient({ url: server.wsUrl, token: await server.auth.mint('carol', 600), reconnect: false });
    await carol.connect();
    // Written before alice joins: none of it reaches her live, all of it comes from history.
    const { chat } = await carol.createRoom('history');
    for (let i = 1; i <= 45; i++) await carol.send({ chat }, `h${i}`);
    await carol.invite(chat, 'alice');
    await carol.close();
    await alice.page.locator('#conversations button', { hasText: '# history' }).click();
    await alice.page.locator('#messages li.msg', { hasText: 'h45' }).waitFor();
    expect((await thread(alice.page)).map((m) => m.body)).toEqual(Array.from({ length: 31 }, (_, i) => `h${i + 15}`));
    await alice.page.locator('#messages').evaluate((el) => { el.scrollTop = 0; });
    await alice.page.locator('#messages li.msg[data-seq="1"]').waitFor();
    expect((await thread(alice.page)).map((m) => m.body)).toEqual(Array.from({ length: 45 }, (_, i) => `h${i + 1}`));
    await expect.poll(() => alice.page.locator('#older').isHidden()).toBe(true);
  });

  it('a network cut: the other keeps sending; back online the missed messages show once, in order, and the queued one is sent', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    await alice.page.getByRole('button', { name: /^bob/ }).click();
    await bob.page.getByRole('button', { name: '← Back' }).click();
    await bob.page.locator('#conversations button', { hasText: /^alice/ }).click();
    await alice.page.locator('#thread-title', { hasText: 'bob' }).waitFor();

    await aliceContext.setOffline(true);
    for (const s of aliceSockets.splice(0)) { await s.page.close({ code: 1001, reason: 'network cut' }); await s.server.close(); }
    await alice.page.locator('#connection', { hasText: 'Offline' }).waitFor();
    await send(alice.page, 'written offline');
    await alice.page.locator('#connection', { hasText: '1 waiting to be sent' }).waitFor();
    for (const n of [1, 2, 3]) await send(bob.page, `missed ${n}`);
    await bob.page.locator('#messages li.msg:not(.waiting)', { hasText: 'missed 3' }).waitFor();

    await aliceContext.setOffline(false);
    await alice.page.locator('#connection', { hasText: /^Online$/ }).waitFor();
    await alice.page.locator('#messages li.msg', { hasText: 'missed 3' }).waitFor();
    await bob.page.locator('#messages li.msg', { hasText: 'written offline' }).waitFor();
    await alice.page.locator('#messages li.msg.waiting').waitFor({ state: 'detached' });
    const got = await thread(alice.page);
    const seqs = got.map((m) => m.seq!);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    for (const body of ['missed 1', 'missed 2', 'missed 3', 'written offline']) expect(got.filter((m) => m.body === body)).toHaveLength(1);
    expect(got.map((m) => m.body).slice(0, 2)).toEqual(['hello bob', 'hi alice']);
  });

  it('a send whose ack was lost is re-sent with the same cmid after the reconnect and shows once on both sides', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    dropAcks = true;
    await send(alice.page, 'did you get this?');
    await bob.page.locator('#messages li.msg', { hasText: 'did you get this?' }).waitFor();
    await alice.page.locator('#messages li.msg.waiting', { hasText: 'did you get this?' }).waitFor();
    dropAcks = false;
    for (const s of aliceSockets.splice(0)) { await s.page.close({ code: 1001, reason: 'network cut' }); await s.server.close(); }
    await alice.page.locator('#messages li.msg.waiting').waitFor({ state: 'detached' });
    await expect.poll(async () => (await thread(alice.page)).filter((m) => m.body === 'did you get this?').length).toBe(1);
    await bob.page.waitForTimeout(300);
    expect((await thread(bob.page)).filter((m) => m.body === 'did you get this?')).toHaveLength(1);
  });

  it('finds messages with search, the matches marked, and opens the conversation of a hit', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    await alice.page.getByRole('searchbox', { name: 'Search messages' }).fill('missed');
    await alice.page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect.poll(() => alice.page.locator('#search-results li button.hit').count()).toBe(3);
    expect(await alice.page.locator('#search-results mark').allTextContents()).toEqual(['missed', 'missed', 'missed']);
    await alice.page.locator('#search-results button.hit', { hasText: 'missed 2' }).click();
    await alice.page.locator('#thread-title', { hasText: 'bob' }).waitFor();
  });

  it('the console switches debug mode on for bob, shows his ring buffer with the frames just exchanged, changes a rollout and kicks his session', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    await ops.page.goto(`${server.opsUrl}/console`);
    await ops.page.getByLabel('Admin token').fill(ADMIN);
    await ops.page.getByRole('button', { name: 'Open console' }).click();
    expect(ops.page.url()).not.toContain(ADMIN);
    expect(await ops.page.evaluate('sessionStorage.getItem("parley.adminToken")')).toBe(ADMIN);
    await ops.page.locator('.tile', { hasText: 'Sessions' }).locator('.value', { hasText: '2' }).waitFor();
    await ops.page.getByLabel('User', { exact: true }).fill('bob');
    await ops.page.getByRole('button', { name: 'Debug on' }).click();
    await ops.page.locator('#debug-targets', { hasText: 'user bob' }).waitFor();
    await ops.page.locator('tr[data-user="bob"] td', { hasText: /^on$/ }).waitFor();

    await send(bob.page, 'traced hello');
    await alice.page.locator('#messages li.msg', { hasText: 'traced hello' }).waitFor();
    await ops.page.locator('tr[data-user="bob"]').getByRole('button', { name: 'Ring buffer' }).click();
    await ops.page.locator('#ring', { hasText: 'traced hello' }).waitFor();
    const download = ops.page.waitForEvent('download');
    await ops.page.locator('tr[data-user="bob"]').getByRole('button', { name: 'Download' }).click();
    const ring = JSON.parse(fs.readFileSync((await (await download).path())!, 'utf8')) as { entries: { kind: string; frame?: { body?: string } }[] };
    expect(ring.entries.some((e) => e.kind === 'frame' && e.frame?.body === 'traced hello')).toBe(true);

    await ops.page.getByLabel('Rollout of fanout-batched in percent').fill('25');
    await ops.page.getByRole('form', { name: 'Rollout of fanout-batched' }).getByRole('button', { name: 'Set' }).click();
    await ops.page.locator('#flags tr', { hasText: 'fanout-batched' }).locator('td', { hasText: '25%' }).waitFor();
    expect(JSON.parse(fs.readFileSync(flagsFile, 'utf8')).features.find((f: { name: string }) => f.name === 'fanout-batched').strategies[0].parameters.rollout).toBe('25');

    await ops.page.locator('.tile', { hasText: 'Messages/s' }).waitFor();
    await ops.page.locator('#debug-targets').getByRole('button', { name: 'Debug off' }).click();
    await ops.page.locator('#debug-targets', { hasText: 'Nothing is in debug mode.' }).waitFor();

    const before = await ops.page.locator('tr[data-user="bob"]').getAttribute('data-session');
    await ops.page.locator('tr[data-user="bob"]').getByRole('button', { name: 'Kick' }).click();
    await ops.page.locator('#notice', { hasText: `session ${before} of bob disconnected` }).waitFor();
    // Kicked with 4100, a reconnectable close: the page is back by itself, on a new session.
    await expect.poll(() => ops.page.locator('tr[data-user="bob"]').getAttribute('data-session'), { timeout: 15_000 }).not.toBe(before);
    await expect.poll(() => bob.page.textContent('#connection'), { timeout: 15_000 }).toBe('Online');
  });

  it('has no serious or critical accessibility violations at phone and desktop width, and saves screenshots', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    const found = [...await axe(alice.page), ...await axe(bob.page), ...await axe(ops.page)];
    await bob.page.getByRole('button', { name: '← Back' }).click();
    found.push(...await axe(bob.page));
    expect(found).toEqual([]);
    await alice.page.screenshot({ path: path.join(ARTIFACTS, 'chat-desktop.png') });
    await bob.page.screenshot({ path: path.join(ARTIFACTS, 'chat-phone-list.png'), fullPage: true });
    await bob.page.locator('#conversations button', { hasText: /^alice/ }).click();
    await bob.page.screenshot({ path: path.join(ARTIFACTS, 'chat-phone.png') });
    await ops.page.screenshot({ path: path.join(ARTIFACTS, 'console-desktop.png'), fullPage: true });
    await ops.page.setViewportSize({ width: 360, height: 740 });
    await ops.page.screenshot({ path: path.join(ARTIFACTS, 'console-phone.png'), fullPage: true });
    if (process.env.UPDATE_DOCS_IMAGES === '1') {
      fs.copyFileSync(path.join(ARTIFACTS, 'chat-desktop.png'), path.join(DOCS_IMAGES, 'chat.png'));
      fs.copyFileSync(path.join(ARTIFACTS, 'console-desktop.png'), path.join(DOCS_IMAGES, 'console.png'));
    }
    for (const f of ['chat-desktop.png', 'chat-phone.png', 'console-desktop.png', 'console-phone.png']) expect(fs.statSync(path.join(ARTIFACTS, f)).size).toBeGreaterThan(5_000);
  });

  it('left no console error or failed request in any page, and no token in the server\'s log', (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    expect([...alice.problems, ...bob.problems, ...ops.problems]).toEqual([]);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    const log = logLines.join('');
    for (const t of [...tokens, ADMIN]) expect(log).not.toContain(t);
  });
});
