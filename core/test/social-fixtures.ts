/** Fixtures for the social tests: clients with the social view attached before connecting, and fast friendships. */
import { ParleyClient, type ClientOptions } from '../client/index.ts';
import { SocialClient } from '../client/social.ts';
import type { Message } from '../protocol.ts';
import type { ParleyServer } from '../server.ts';

export interface Person {
  name: string;
  client: ParleyClient;
  social: SocialClient;
  /** Every push frame of the social layer, in order. */
  frames: Array<{ op: string; [k: string]: any }>;
  /** Every message delivered, from the first sync on. */
  messages: Message[];
}

const SOCIAL_OPS = new Set(['presence', 'roster.push', 'block.push', 'typing', 'read', 'readby', 'settings.push']);

/** Connects `name` with a SocialClient attached before the connect, so the bulk presence frame is seen. */
export async function person(server: ParleyServer, name: string, opts: Partial<ClientOptions> = {}): Promise<Person> {
  const client = new ParleyClient({ url: server.wsUrl, token: await server.auth.mint(name, 3600), backoffMinMs: 20, backoffMaxMs: 200, recvReportMs: 0, ...opts });
  const social = new SocialClient(client);
  const frames: Person['frames'] = [];
  const messages: Message[] = [];
  client.on('event', (f) => { if (SOCIAL_OPS.has(f.op)) frames.push(f); });
  client.on('message', (m) => messages.push(m));
  await client.connect();
  return { name, client, social, frames, messages };
}

/** Makes two users friends directly in the store (a fixture: no frames, no events). Connect afterwards. */
export async function befriend(server: ParleyServer, a: string, b: string): Promise<void> {
  await server.chat.store.social.rosterChange(a, b, () => ['friend', 'friend']);
}

/** The frames of one op. */
export const ofOp = (p: Person, op: string) => p.frames.filter((f) => f.op === op);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
