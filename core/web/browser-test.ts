/**
 * What the chat page's browser tests share: Chromium's path and flags, the page built into a
 * temporary folder and served by the browser's routing (dist/web, which tests running beside them
 * serve, is not rebuilt; the API and the socket are the real node's), sign-in through the
 * development login, problems a page must not have, and axe-core's serious and critical findings.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../config.ts';
import { CONTENT_SECURITY_POLICY } from '../edge/static.ts';
import { startServer, type ParleyServer } from '../server.ts';
import { buildWeb } from './build.ts';

export const CHROMIUM = '/usr/bin/chromium';
// A document the browser's routing answers counts as public to Chromium, which would then block its
// socket to 127.0.0.1 (local network access checks); the node itself serves the same origin.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-features=LocalNetworkAccessChecks'];
export const hasChromium = fs.existsSync(CHROMIUM);
export const ARTIFACTS = path.resolve('test-results/web');
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is now (evaluated over DevTools: the CSP stays on). */
export async function axe(page: Page): Promise<string[]> {
  const violations = await page.evaluate(`${axeSource}\n;axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) })))`) as { id: string; impact: string; nodes: string[] }[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.nodes.join(', ')}`);
}

/** A page for `name` whose shell and assets come from the build in `web`; console errors, page errors and HTTP errors go to `problems`. */
export async function chatPage(browser: Browser, web: string, name: string, problems: string[]): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1000, height: 760 } })).newPage();
  await page.route((u) => u.pathname === '/' || u.pathname.startsWith('/assets/'), (route) => {
    const p = new URL(route.request().url()).pathname;
    const file = path.join(web, 'chat', p === '/' ? 'index.html' : p);
    const type = file.endsWith('.html') ? 'text/html; charset=utf-8' : file.endsWith('.js') ? 'text/javascript; charset=utf-8' : file.endsWith('.css') ? 'text/css; charset=utf-8' : 'application/octet-stream';
    return route.fulfill({ path: file, contentType: type, headers: { 'content-security-policy': CONTENT_SECURITY_POLICY } });
  });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${name} console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${name} page error: ${e.message}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`${name} HTTP ${r.status()}: ${r.url()}`); });
  return page;
}

/** Signs in through the development login and waits until the page is online. */
export async function signIn(page: Page, base: string, user: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('User name').first().fill(user);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#connection', { hasText: 'Online' }).waitFor();
}

export interface ChatPageFixture {
  /** A node with development sign-in on a data dir of its own. */
  readonly server: ParleyServer;
  /** Chromium, when it is installed (tests call requires() first). */
  readonly browser: Browser;
  /** This suite's build of the page. */
  readonly web: string;
  readonly problems: string[];
}

/**
 * Registers the suite's set-up and tear-down: the page built into a temporary folder, a node
 * (with `settings` over the defaults) and Chromium. Read the fields inside the tests.
 */
export function chatPageFixture(prefix: string, settings: Record<string, string | number | boolean> = {}): ChatPageFixture {
  const f = { problems: [] as string[] } as { server: ParleyServer; browser: Browser; web: string; problems: string[]; dir?: string };
  beforeAll(async () => {
    f.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    f.web = path.join(f.dir, 'web');
    await buildWeb(f.web);
    f.server = await startServer(loadConfig(new Map(), {}, { host: '127.0.0.1', port: 0, opsPort: 0, dataDir: f.dir, devLogin: true, logLevel: 'silent', ...settings }));
    if (hasChromium) f.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 120_000);
  afterAll(async () => {
    await f.browser?.close();
    await f.server?.close();
    if (f.dir) fs.rmSync(f.dir, { recursive: true, force: true });
  });
  return f;
}
