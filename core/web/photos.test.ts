/**
 * Photos on the chat page in a real browser (headless Chromium): alice picks a photo in a room,
 * it is uploaded and sent with her caption, and both she and bob see its thumbnail, which links
 * to the full image; the photo's EXIF position never reaches bob's browser. The page is built
 * into a temporary folder and served from there by the browser's routing (dist/web, which tests
 * running beside this one serve, is not rebuilt); the API and the socket are the real node's.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { requires } from '../test/env.ts';
import { ARTIFACTS, axe, chatPage, chatPageFixture, hasChromium, signIn } from './browser-test.ts';

/** Natural sizes of the thumbnails shown in the open conversation, once each has loaded. */
async function thumbnails(page: Page): Promise<{ w: number; h: number; href: string; alt: string }[]> {
  // The DOM is reached through globalThis: this file is type-checked without the DOM library.
  await page.waitForFunction(() => {
    const imgs = [...(globalThis as any).document.querySelectorAll('#messages .photos img')] as { complete: boolean; naturalWidth: number }[];
    return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  });
  return page.evaluate(() => [...(globalThis as any).document.querySelectorAll('#messages .photos a')].map((a: any) => {
    const img = a.querySelector('img');
    return { w: img.naturalWidth as number, h: img.naturalHeight as number, href: a.href as string, alt: img.alt as string };
  }));
}

describe('photos on the chat page in Chromium', { timeout: 120_000 }, () => {
  const f = chatPageFixture('parley-photos-');

  it('sends a picked photo with its caption; both sides see the thumbnail linking to the full image, without its EXIF', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    const pages: Page[] = [];
    // The shell and its assets from this test's build; everything else goes to the node.
    for (const name of ['alice', 'bob']) pages.push(await chatPage(f.browser, f.web, name, f.problems));
    const [alice, bob] = pages as [Page, Page];
    await signIn(alice, f.server.httpUrl, 'alice').catch((err: Error) => { throw new Error(`${err.message}; ${f.problems.join('; ')}`); });
    await signIn(bob, f.server.httpUrl, 'bob');
    await alice.getByLabel('Room name').fill('trip');
    await alice.getByLabel('Members (comma separated)').fill('bob');
    await alice.getByRole('button', { name: 'Create room' }).click();
    await alice.locator('#thread-title', { hasText: '# trip' }).waitFor();

    const photo = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: 30, g: 120, b: 200 } } })
      .composite([{ input: { create: { width: 300, height: 200, channels: 3, background: { r: 250, g: 200, b: 40 } } }, left: 250, top: 200 }])
      .withExif({ IFD0: { Make: 'ParleyCam' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2976/100', GPSLongitudeRef: 'E', GPSLongitude: '2/1 17/1 4000/100' } })
      .jpeg().toBuffer();
    await alice.locator('#composer-input').fill('the view from the top');
    await alice.setInputFiles('#composer-photo', { name: 'view.jpg', mimeType: 'image/jpeg', buffer: photo });
    await alice.locator('#messages li.msg', { hasText: 'the view from the top' }).waitFor();
    const mine = await thumbnails(alice);
    expect(mine).toHaveLength(1);
    expect([mine[0]!.w, mine[0]!.h, mine[0]!.alt]).toEqual([320, 240, 'photo 1 from alice']);

    await bob.locator('#conversations button', { hasText: '# trip' }).click();
    await bob.locator('#messages li.msg', { hasText: 'the view from the top' }).waitFor();
    const seen = await thumbnails(bob);
    expect([seen[0]!.w, seen[0]!.h]).toEqual([320, 240]);
    // The link opens the full image, as bob's browser would fetch it.
    const full = Buffer.from(await (await bob.request.get(seen[0]!.href)).body());
    const meta = await sharp(full).metadata();
    expect([meta.format, meta.width, meta.height, meta.exif]).toEqual(['jpeg', 800, 600, undefined]);
    expect(full.includes('ParleyCam')).toBe(false);

    expect([...await axe(alice), ...await axe(bob)]).toEqual([]);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await bob.screenshot({ path: path.join(ARTIFACTS, 'chat-photo.png') });
    expect(f.problems).toEqual([]);
  });
});
