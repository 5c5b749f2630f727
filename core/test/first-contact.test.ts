/**
 * A session's first contact with a chat it never synced (a room created or a 1:1 begun after its
 * sync) when the chat's messages reach it out of order: its own ack of seq 2 before seq 1 is
 * delivered (the batched fan-out's pass runs late here, as a message from another node can arrive
 * late in a cluster). Seq 1 was dropped as "already past" by the session and the client alike,
 * and stayed missing after reconnects (the canary's lost=1, the cluster tests' missing seq 1).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { ParleyClient } from '../client/index.ts';
import type { Message } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';
import { connect, tempDir, testServer, until } from './helpers.ts';

let server: ParleyServer | undefined;
const clients: ParleyClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = undefined;
});

function batchedFlags(): string {
  const file = path.join(tempDir('parley-first-contact-'), 'features.json');
  fs.writeFileSync(file, JSON.stringify({ version: 2, features: [{ name: 'fanout-batched', enabled: true, strategies: [{ name: 'flexibleRollout', parameters: { rollout: '100', stickiness: 'nodeId', groupId: 'fanout-batched' } }] }] }));
  return file;
}

/** A node whose fan-out passes run 150 ms late, alice and bob on it, and what bob is delivered. */
async function lateFanout(): Promise<{ alice: ParleyClient; bob: ParleyClient; got: Message[] }> {
  server = await testServer({ flagsFile: batchedFlags(), faultVariantDelayMs: 150 });
  const alice = await connect(server, 'alice');
  const bob = await connect(server, 'bob');
  clients.push(alice, bob);
  const got: Message[] = [];
  bob.on('message', (m) => got.push(m));
  return { alice, bob, got };
}

it('delivers seq 1 of a new room to a member whose own seq 2 was acked first', async () => {
  const { alice, bob, got } = await lateFanout();
  const room = await alice.createRoom('race', ['bob']);
  // Seq 1 is committed, its delivery waits in the late fan-out pass; bob's seq 2 is acked at once.
  const first = alice.send({ chat: room.chat }, 'one');
  await new Promise((r) => setTimeout(r, 20));
  const second = await bob.send({ chat: room.chat }, 'two');
  expect([(await first).seq, second.seq]).toEqual([1, 2]);
  await until(() => got.some((m) => m.seq === 1), 'seq 1 at bob', 3000);
  expect(got.filter((m) => m.from === 'alice').map((m) => m.seq)).toEqual([1]);
  expect(bob.cursors[room.chat]).toBe(2);
});

it('delivers seq 1 of a new 1:1 to a peer that answered before it arrived', async () => {
  const { alice, bob, got } = await lateFanout();
  const first = alice.send({ to: 'bob' }, 'hi');
  await new Promise((r) => setTimeout(r, 20));
  await bob.send({ to: 'alice' }, 'hello');
  await first;
  await until(() => got.some((m) => m.seq === 1), 'seq 1 at bob', 3000);
  expect(bob.cursors['d:alice:bob']).toBe(2);
});
