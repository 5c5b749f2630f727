/**
 * The chat app: one ParleyClient and its SocialClient, the state the views draw (conversations,
 * roster, presence, blocks, settings, connection), and the actions the views call. Sends go
 * through the client, which re-sends unacknowledged ones with the same cmid after a reconnect;
 * the page shows them as waiting until their ack arrives, and never a seq twice.
 */
import { ParleyClient, type Message } from '../../client/index.ts';
import { SocialClient, type Privacy } from '../../client/social.ts';
import { h } from '../shared/dom.ts';
import { Conversation, type PendingSend } from './conversation.ts';
import { renderSidebar, sidebar } from './sidebar.ts';
import { renderThread, thread } from './thread.ts';

export interface AppOptions { token: string; user: string; signOut(): void }

/** How many messages one history page asks for. */
export const PAGE = 30;
/** A typing "start" is renewed at most this often while the user keeps typing. */
const TYPING_RENEW_MS = 3_000;

export class App {
  readonly me: string;
  readonly client: ParleyClient;
  readonly social: SocialClient;
  readonly convs = new Map<string, Conversation>();
  readonly blocked = new Set<string>();
  settings: Privacy = { typing: true, receipts: true };
  active: string | undefined;
  online = false;
  readonly signOut: () => void;
  readonly #root: HTMLElement;
  readonly #token: string;
  #notice: HTMLElement;
  #noticeTimer: ReturnType<typeof setTimeout> | undefined;
  #readTimer: ReturnType<typeof setTimeout> | undefined;
  #typingSent = 0;
  #typingTimer: ReturnType<typeof setTimeout> | undefined;
  #loading = false;

  constructor(root: HTMLElement, opts: AppOptions) {
    this.me = opts.user;
    this.signOut = opts.signOut;
    this.#root = root;
    this.#token = opts.token;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.client = new ParleyClient({
      url: `${proto}//${location.host}/ws`,
      // Called on every (re)connect: while the browser is offline there is nothing to try, so no
      // doomed connection attempts; the client waits here and resumes when the network returns.
      token: () => untilOnline().then(() => opts.token),
      backoffMinMs: 250, backoffMaxMs: 5_000,
    });
    this.social = new SocialClient(this.client);
    this.#notice = h('p', { id: 'notice', class: 'notice', role: 'alert' });
  }

  start(): void {
    this.#root.replaceChildren(
      h('div', { class: 'layout' }, sidebar(this), thread(this)),
      this.#notice,
    );
    document.body.classList.add('signed-in');
    const c = this.client;
    const s = this.social;
    c.on('ready', () => { this.online = true; void this.#refresh(); this.render(); });
    c.on('disconnect', (d) => { this.online = false; this.render(); if (!d.willReconnect) this.say(`disconnected (${d.reason || d.code}); reload the page to sign in again`); });
    c.on('error', (err) => this.say(err.message));
    c.on('message', (m) => this.#onMessage(m));
    c.on('event', (f) => {
      if (f.op !== 'chat.expired') return;
      const chat = String(f.chat);
      const conv = this.convs.get(chat);
      this.convs.delete(chat);
      if (this.active === chat) this.close();
      this.say(`${conv ? (conv.kind === 'room' ? `# ${conv.title(this.me)}` : conv.title(this.me)) : 'A conversation'} disappeared: its time ran out`);
      this.render();
    });
    // The time left of ephemeral chats, in the list and the open thread, moves on by the minute.
    setInterval(() => { if ([...this.convs.values()].some((v) => v.expiresAt !== undefined)) this.render(); }, 30_000);
    c.on('member', (ev) => { if (ev.user === this.me && ev.event === 'left') this.convs.delete(ev.chat); void this.refreshChats(); });
    s.on('presence', () => renderSidebar(this));
    s.on('roster', () => renderSidebar(this));
    s.on('block', ({ user, blocked }) => { if (blocked) this.blocked.add(user); else this.blocked.delete(user); renderSidebar(this); });
    s.on('typing', (t) => { if (t.chat === this.active) { renderThread(this); setTimeout(() => renderThread(this), t.ttlMs + 50); } });
    s.on('settings', (p) => { this.settings = p; renderSidebar(this); });
    s.on('read', (r) => {
      const conv = this.convs.get(r.chat);
      if (!conv) return;
      if (r.user === this.me) { if (r.seq >= conv.lastSeq) conv.unread = 0; } else conv.otherRead = Math.max(conv.otherRead, r.seq);
      this.render();
    });
    s.on('readby', (r) => {
      const conv = this.convs.get(r.chat);
      if (!conv) return;
      for (const [seq, n] of Object.entries(r.counts)) conv.readBy.set(Number(seq), n);
      if (r.chat === this.active) renderThread(this);
    });
    window.addEventListener('offline', () => this.render());
    window.addEventListener('online', () => this.render());
    document.addEventListener('visibilitychange', () => this.#scheduleRead());
    this.render();
    void c.connect().catch((err: Error) => this.say(`cannot connect: ${err.message}`));
  }

  render(): void {
    renderSidebar(this);
    renderThread(this);
  }

  /** Shows a short message to the user (errors of actions, connection problems). */
  say(text: string): void {
    this.#notice.textContent = text;
    clearTimeout(this.#noticeTimer);
    this.#noticeTimer = setTimeout(() => { this.#notice.textContent = ''; }, 8_000);
  }

  /** Runs an action; its failure is shown, not thrown. */
  act(what: Promise<unknown>): void {
    what.catch((err: Error) => this.say(err.message)).finally(() => this.render());
  }

  /** Messages waiting for their ack, across conversations. */
  get waiting(): number {
    let n = 0;
    for (const c of this.convs.values()) n += c.pending.size;
    return n;
  }

  conv(id: string): Conversation {
    let c = this.convs.get(id);
    if (!c) this.convs.set(id, (c = new Conversation(id)));
    return c;
  }

  directId(user: string): string {
    return `d:${[this.me, user].sort().join(':')}`;
  }

  async #refresh(): Promise<void> {
    await Promise.all([
      this.social.fetchRoster(),
      this.social.settings().then((p) => { this.settings = p; }),
      this.social.blocks(undefined, 500).then((b) => { this.blocked.clear(); for (const u of b.users) this.blocked.add(u); }),
      this.refreshChats(),
    ]).catch((err: Error) => this.say(err.message));
    // After a reconnect the newest page of the open conversation is fetched again: whatever the
    // catch-up brings twice is dropped by seq.
    if (this.active) await this.#loadPage(this.active, undefined);
    this.render();
  }

  async refreshChats(): Promise<void> {
    const chats = await this.client.chats();
    const live = new Set<string>();
    for (const s of chats) {
      live.add(s.chat);
      const conv = this.conv(s.chat);
      conv.name = s.name;
      conv.lastSeq = Math.max(conv.lastSeq, s.lastSeq);
      conv.unread = s.chat === this.active && document.visibilityState === 'visible' ? 0 : s.unread;
      conv.expiresAt = s.expiresAt;
      if (s.last) conv.add(s.last);
    }
    for (const [id, conv] of this.convs) if (!live.has(id) && conv.messages.length === 0 && conv.pending.size === 0 && id !== this.active) this.convs.delete(id);
    this.render();
    this.#scheduleRead();
  }

  #onMessage(m: Message): void {
    const known = this.convs.has(m.chat);
    const conv = this.conv(m.chat);
    const added = conv.add(m);
    if (!added) return;
    if (m.from !== this.me && !(m.chat === this.active && document.visibilityState === 'visible')) conv.unread += added;
    // A message restarts an ephemeral chat's lifetime: the list says when it now lapses.
    if (!known || conv.expiresAt !== undefined) void this.refreshChats().catch(() => {});
    this.render();
    this.#scheduleRead();
  }

  /** Opens a conversation: its newest page of history, its read-by counts, its read marker. */
  open(id: string): void {
    this.active = id;
    document.body.classList.add('in-thread');
    const conv = this.conv(id);
    this.render();
    thread.focusComposer();
    if (conv.messages.length < PAGE && conv.more) void this.older();
    void this.#loadReadBy(conv);
    this.#scheduleRead();
  }

  close(): void {
    this.active = undefined;
    document.body.classList.remove('in-thread');
    this.render();
  }

  /** Loads the page of history before the first message held (scrolling up, or the button). */
  async older(): Promise<void> {
    const id = this.active;
    if (!id || this.#loading) return;
    const conv = this.conv(id);
    if (!conv.more) return;
    this.#loading = true;
    try {
      await this.#loadPage(id, conv.firstSeq);
    } finally {
      this.#loading = false;
    }
    renderThread(this, { keepBottomOffset: true });
  }

  async #loadPage(id: string, before: number | undefined): Promise<void> {
    const conv = this.conv(id);
    if (conv.lastSeq === 0 && conv.messages.length === 0) { conv.more = false; return; }
    try {
      const page = await this.client.history(id, { limit: PAGE, ...(before ? { before } : {}) });
      conv.add(...page.messages);
      if (before !== undefined || conv.messages.length <= page.messages.length) conv.more = page.more;
    } catch (err) {
      this.say((err as Error).message);
    }
  }

  async #loadReadBy(conv: Conversation): Promise<void> {
    if (conv.lastSeq === 0) return;
    const from = Math.max(1, conv.lastSeq - 199);
    try {
      const r = await this.social.readBy(conv.id, from, conv.lastSeq);
      for (const [seq, n] of Object.entries(r.counts)) conv.readBy.set(Number(seq), n);
      if (conv.kind === 'direct') for (const [seq, n] of Object.entries(r.counts)) if (n > 0) conv.otherRead = Math.max(conv.otherRead, Number(seq));
      if (conv.id === this.active) renderThread(this);
    } catch { /* counts are a nicety; the thread works without them */ }
  }

  /** Moves the read marker of the open conversation to its last message, shortly after it shows. */
  #scheduleRead(): void {
    clearTimeout(this.#readTimer);
    this.#readTimer = setTimeout(() => {
      const conv = this.active ? this.convs.get(this.active) : undefined;
      if (!conv || document.visibilityState !== 'visible' || !this.client.ready) return;
      const last = conv.messages.at(-1)?.seq ?? 0;
      if (last === 0 || (conv.unread === 0 && conv.readSent >= last)) return;
      conv.readSent = last;
      conv.unread = 0;
      this.social.read(conv.id, last).catch(() => { conv.readSent = 0; });
      renderSidebar(this);
    }, 250);
  }

  /** Sends the composer's text to the open conversation; it shows as waiting until acked. */
  send(body: string): void {
    const id = this.active;
    if (!id || !body.trim()) return;
    const conv = this.conv(id);
    const cmid = newCmid();
    conv.pending.set(cmid, { cmid, body, from: this.me, ts: Date.now() });
    this.#stopTyping();
    this.client.send({ chat: id }, body, cmid).then(
      (ack) => { conv.acked(cmid, ack.seq, ack.ts, this.me); conv.readSent = Math.max(conv.readSent, ack.seq); this.render(); },
      (err: Error) => { conv.pending.delete(cmid); this.say(`not sent: ${err.message}`); this.render(); },
    );
    this.render();
  }

  /**
   * An attachment's address for an <img> or a link: same origin, the token in the query (an
   * element cannot send an Authorization header).
   */
  attachmentUrl(chat: string, id: string, thumbnail = false): string {
    return `/api/v1/chats/${encodeURIComponent(chat)}/attachments/${encodeURIComponent(id)}${thumbnail ? '/thumbnail' : ''}?token=${encodeURIComponent(this.#token)}`;
  }

  /**
   * Uploads a photo to the open conversation, then sends it with `caption` (or the file name) as
   * the message; it shows as uploading, then waiting, until acked. A 1:1 that has no message yet
   * is created first (uploads need an existing conversation).
   */
  sendPhoto(file: File, caption: string): void {
    const id = this.active;
    if (!id) return;
    const conv = this.conv(id);
    const cmid = newCmid();
    const body = caption.trim() ? caption : file.name || 'photo';
    const pending: PendingSend = { cmid, body, from: this.me, ts: Date.now(), uploading: true };
    conv.pending.set(cmid, pending);
    this.render();
    const partner = conv.partner(this.me);
    const exists = conv.lastSeq > 0 || !partner ? Promise.resolve() : this.#rest('POST', '/api/v1/chats', JSON.stringify({ to: partner }));
    exists
      .then(() => this.client.upload(id, file, { name: file.name }))
      .then((info) => {
        pending.uploading = false;
        pending.attachments = [info.id];
        this.render();
        return this.client.send({ chat: id }, body, cmid, { attachments: [info.id] });
      })
      .then(
        (ack) => { conv.acked(cmid, ack.seq, ack.ts, this.me); conv.readSent = Math.max(conv.readSent, ack.seq); this.render(); },
        (err: Error) => { conv.pending.delete(cmid); this.say(`photo not sent: ${err.message}`); this.render(); },
      );
  }

  async #rest(method: string, path: string, body: string): Promise<void> {
    const res = await fetch(path, { method, headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' }, body });
    if (!res.ok) throw new Error(((await res.json().catch(() => ({}))) as { error?: { message?: string } }).error?.message ?? `HTTP ${res.status}`);
  }

  /** The user typed in the composer: a "start" now and then, a "stop" when the box empties. */
  typed(text: string): void {
    const id = this.active;
    // A 1:1 that has no message yet does not exist on the server: nobody to tell.
    if (!id || !this.settings.typing || !this.client.ready || this.conv(id).lastSeq === 0) return;
    if (!text) return this.#stopTyping();
    const now = Date.now();
    if (now - this.#typingSent > TYPING_RENEW_MS) {
      this.#typingSent = now;
      this.social.typing(id, 'start').catch(() => {});
    }
    clearTimeout(this.#typingTimer);
    this.#typingTimer = setTimeout(() => this.#stopTyping(), 5_000);
  }

  #stopTyping(): void {
    clearTimeout(this.#typingTimer);
    if (!this.#typingSent || !this.active || !this.client.ready) return;
    this.#typingSent = 0;
    this.social.typing(this.active, 'stop').catch(() => {});
  }
}

/** A 12-character base64url client message id (the client package's format). */
function newCmid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_');
}

function untilOnline(): Promise<void> {
  if (navigator.onLine) return Promise.resolve();
  return new Promise((resolve) => window.addEventListener('online', () => resolve(), { once: true }));
}

export function startApp(root: HTMLElement, opts: AppOptions): App {
  const app = new App(root, opts);
  app.start();
  return app;
}
