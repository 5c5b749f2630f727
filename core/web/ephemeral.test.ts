/**
 * Ephemeral rooms on the chat page in Chromium: alice creates one whose messages disappear an
 * hour after the last; the list and the thread say how long is left. A room bob made with a
 * two-second lifetime shows "under a minute", then lapses: it leaves alice's list and open thread
 * with a notice, as the node deletes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ParleyClient } from '../client/index.ts';
import { requires } from '../test/env.ts';
import { ARTIFACTS, axe, chatPage, chatPageFixture, hasChromium, signIn } from './browser-test.ts';

describe('ephemeral rooms on the chat page in Chromium', { timeout: 120_000 }, () => {
  const f = chatPageFixture('parley-ephemeral-page-', { ephemeralMinLifetimeMs: 1000, expiryCheckMs: 200 });

  it('creates a room whose messages disappear, shows the time left, and drops a lapsed room with a notice', async (ctx) => {
    requires(ctx, 'Chromium at /usr/bin/chromium', hasChromium);
    const alice = await chatPage(f.browser, f.web, 'alice', f.problems);
    await signIn(alice, f.server.httpUrl, 'alice').catch((err: Error) => { throw new Error(`${err.message}; ${f.problems.join('; ')}`); });

    await alice.getByLabel('Room name').fill('plans');
    await alice.getByLabel('Its messages').selectOption({ label: 'disappear 1 h after the last one' });
    await alice.getByRole('button', { name: 'Create room' }).click();
    await alice.locator('#thread-title', { hasText: '# plans' }).waitFor();
    await alice.locator('#thread-meta', { hasText: /disappears in (59 min|1 h 0 min) unless someone writes/ }).waitFor();
    await alice.locator('#conversations button', { hasText: '# plans' }).locator('.expires', { hasText: /disappears in (59 min|1 h 0 min)/ }).waitFor();
    // The node has it as ephemeral with that lifetime.
    const probe = new ParleyClient({ url: f.server.wsUrl, token: await f.server.auth.mint('alice', 600) });
    await probe.connect();
    const plans = (await probe.chats()).find((c) => c.name === 'plans');
    expect(plans!.expiresAt! - Date.now()).toBeGreaterThan(3_500_000);
    await probe.close();

    // Bob's room with a two-second lifetime, alice in it and looking at it.
    const bob = new ParleyClient({ url: f.server.wsUrl, token: await f.server.auth.mint('bob', 600) });
    await bob.connect();
    const brief = await bob.createRoom('brief', ['alice'], undefined, { ephemeral: true, lifetimeMs: 2000 });
    await bob.send({ chat: brief.chat }, 'this will not last');
    await alice.locator('#conversations button', { hasText: '# brief' }).click();
    await alice.locator('#messages li.msg', { hasText: 'this will not last' }).waitFor();
    await alice.locator('#thread-meta', { hasText: 'disappears in under a minute' }).waitFor();
    expect(await axe(alice)).toEqual([]);

    await alice.locator('#notice', { hasText: '# brief disappeared: its time ran out' }).waitFor({ timeout: 10_000 });
    expect(await alice.locator('#conversations button', { hasText: '# brief' }).count()).toBe(0);
    expect(await alice.locator('#thread-title').innerText()).toBe('No conversation open');
    // No composer for a conversation that is gone (a display rule once showed the hidden form).
    expect(await alice.locator('#composer').isVisible()).toBe(false);
    expect(await alice.locator('#conversations button', { hasText: '# plans' }).count()).toBe(1);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await alice.screenshot({ path: path.join(ARTIFACTS, 'chat-ephemeral.png') });
    await bob.close();
    expect(f.problems).toEqual([]);
  });
});
