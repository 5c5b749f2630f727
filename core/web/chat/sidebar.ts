/**
 * The side panel: who I am and how I show, conversations with unread counts, rooms to create or
 * join, friends with live presence, status and notes, requests, blocks and privacy settings.
 */
import type { PresenceState } from '../../client/index.ts';
import { fill, h } from '../shared/dom.ts';
import type { App } from './app.ts';
import { keepFocus } from '../shared/focus.ts';

interface SearchHit { message: { chat: string; seq: number; from: string; body: string; ts: number }; snippet: { text: string; highlights: [number, number][] } }

/** A snippet with its matches marked, built from text nodes (never markup from the server). */
function marked(text: string, highlights: readonly [number, number][]): (string | HTMLElement)[] {
  const out: (string | HTMLElement)[] = [];
  let at = 0;
  for (const [start, end] of highlights) {
    if (start < at) continue;
    out.push(text.slice(at, start), h('mark', {}, text.slice(start, end)));
    at = end;
  }
  out.push(text.slice(at));
  return out;
}

/** Searches the messages of the user's conversations and lists the hits; a hit opens its conversation. */
function searchSection(app: App, results: HTMLElement): HTMLElement {
  let next: string | undefined;
  let q = '';
  const input = h('input', { id: 'search-q', type: 'search', autocomplete: 'off', required: true, maxlength: 200 });
  const run = (more: boolean) => app.act(app.client.request<{ hits: SearchHit[]; next?: string }>('search', { q, limit: 10, ...(more && next ? { cursor: next } : {}) }).then((r) => {
    next = r.next;
    const items = r.hits.map((hit) => h('li', {}, button(`hit:${hit.message.chat}:${hit.message.seq}`, '', () => app.open(hit.message.chat), { class: 'conv hit' })));
    if (!more) fill(results, r.hits.length ? [] : [h('li', { class: 'empty' }, `Nothing found for “${q}”.`)]);
    results.querySelector('.more')?.remove();
    results.append(...items);
    r.hits.forEach((hit, i) => {
      const c = app.conv(hit.message.chat);
      fill(items[i]!.firstElementChild!, h('span', { class: 'title' }, `${hit.message.from} in ${c.kind === 'room' ? `# ${c.title(app.me)}` : c.title(app.me)}`),
        h('span', { class: 'preview' }, ...marked(hit.snippet.text, hit.snippet.highlights)));
    });
    if (next) results.append(h('li', { class: 'more' }, button('search-more', 'More results', () => run(true))));
  }));
  const f = h('form', { class: 'inline', role: 'search', 'aria-label': 'Search messages' },
    h('label', { for: 'search-q' }, 'Search messages'), input, h('button', { type: 'submit' }, 'Search'));
  f.addEventListener('submit', (ev) => { ev.preventDefault(); q = input.value.trim(); if (q) run(false); });
  return h('section', { 'aria-labelledby': 'h-search' }, h('h2', { id: 'h-search' }, 'Search'), f, results);
}

let els: { status: HTMLElement; convs: HTMLElement; friends: HTMLElement; requests: HTMLElement; blocked: HTMLElement; typing: HTMLInputElement; receipts: HTMLInputElement } | undefined;

const STATES: Exclude<PresenceState, 'offline'>[] = ['available', 'away', 'idle'];

function form(label: string, onSubmit: (values: HTMLInputElement[]) => void, ...fields: HTMLElement[]): HTMLFormElement {
  const f = h('form', { class: 'inline', 'aria-label': label }, ...fields);
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const inputs = [...f.querySelectorAll('input')];
    onSubmit(inputs);
    for (const i of inputs) i.value = '';
  });
  return f;
}

function field(id: string, label: string, attrs: Record<string, string | boolean> = {}): HTMLElement[] {
  return [h('label', { for: id }, label), h('input', { id, name: id, autocomplete: 'off', ...attrs })];
}

/** Builds the panel once; renderSidebar fills its lists. */
/** Lifetimes offered for a new room: kept, or deleted this long after its last message (an ephemeral room). */
const LIFETIMES: readonly [number, string][] = [[0, 'kept'], [3_600_000, 'disappear 1 h after the last one'], [86_400_000, 'disappear 24 h after the last one'], [604_800_000, 'disappear 7 days after the last one']];

export function sidebar(app: App): HTMLElement {
  const lifetime = h('select', { id: 'room-lifetime' }, ...LIFETIMES.map(([ms, text]) => h('option', { value: String(ms) }, text))) as HTMLSelectElement;
  const status = h('p', { id: 'connection', role: 'status', class: 'connection' });
  const presence = h('select', { id: 'my-presence' }, ...STATES.map((s) => h('option', { value: s }, s)));
  const statusText = h('input', { id: 'my-status', maxlength: 140, autocomplete: 'off', placeholder: 'e.g. in a meeting' });
  const me = h('form', { class: 'me', 'aria-label': 'My presence' },
    h('label', { for: 'my-presence' }, 'I am'), presence,
    h('label', { for: 'my-status' }, 'Status'), statusText,
    h('button', { type: 'submit' }, 'Set status'));
  me.addEventListener('submit', (ev) => { ev.preventDefault(); app.act(app.social.setPresence(presence.value as (typeof STATES)[number], statusText.value)); });

  const typing = h('input', { id: 'set-typing', type: 'checkbox' });
  const receipts = h('input', { id: 'set-receipts', type: 'checkbox' });
  typing.addEventListener('change', () => app.act(app.social.settings({ typing: typing.checked })));
  receipts.addEventListener('change', () => app.act(app.social.settings({ receipts: receipts.checked })));

  els = {
    status,
    convs: h('ul', { id: 'conversations', class: 'list' }),
    friends: h('ul', { id: 'friends', class: 'list' }),
    requests: h('ul', { id: 'requests', class: 'list' }),
    blocked: h('ul', { id: 'blocked', class: 'list' }),
    typing, receipts,
  };
  return h('nav', { id: 'sidebar', 'aria-label': 'Contacts and conversations' },
    h('header', { class: 'who' },
      h('h1', {}, 'parley'),
      h('p', {}, 'Signed in as ', h('strong', { id: 'me' }, app.me)),
      h('button', { type: 'button', class: 'link', onclick: () => app.signOut() }, 'Sign out')),
    status, me,
    h('section', { 'aria-labelledby': 'h-convs' }, h('h2', { id: 'h-convs' }, 'Conversations'), els.convs,
      form('New room', ([name, members]) => {
        const list = members!.value.split(/[\s,]+/).filter(Boolean);
        const lifetimeMs = Number(lifetime.value);
        app.act(app.client.createRoom(name!.value.trim() || undefined, list.length ? list : undefined, undefined, lifetimeMs ? { ephemeral: true, lifetimeMs } : {})
          .then((r) => app.refreshChats().then(() => app.open(r.chat))));
        lifetime.value = '0';
      }, ...field('room-name', 'Room name'), ...field('room-members', 'Members (comma separated)'),
      h('label', { for: 'room-lifetime' }, 'Its messages'), lifetime, h('button', { type: 'submit' }, 'Create room')),
      form('Join a room', ([id]) => {
        const chat = id!.value.trim();
        app.act(app.client.join(chat).then(() => app.refreshChats().then(() => app.open(chat))));
      }, ...field('room-join', 'Room id', { required: true }), h('button', { type: 'submit' }, 'Join room'))),
    searchSection(app, h('ul', { id: 'search-results', class: 'list', 'aria-live': 'polite' })),
    h('section', { 'aria-labelledby': 'h-friends' }, h('h2', { id: 'h-friends' }, 'Friends'), els.friends,
      form('Add a friend', ([u]) => app.act(app.social.requestFriend(u!.value.trim())),
        ...field('friend-user', 'User name', { required: true }), h('button', { type: 'submit' }, 'Send friend request'))),
    h('section', { 'aria-labelledby': 'h-requests' }, h('h2', { id: 'h-requests' }, 'Friend requests'), els.requests),
    h('section', { 'aria-labelledby': 'h-blocked' }, h('h2', { id: 'h-blocked' }, 'Blocked'), els.blocked,
      form('Block a user', ([u]) => app.act(app.social.block(u!.value.trim())),
        ...field('block-user', 'User name', { required: true }), h('button', { type: 'submit' }, 'Block'))),
    h('section', { 'aria-labelledby': 'h-settings' }, h('h2', { id: 'h-settings' }, 'Settings'),
      h('p', { class: 'check' }, typing, h('label', { for: 'set-typing' }, 'Share and show typing')),
      h('p', { class: 'check' }, receipts, h('label', { for: 'set-receipts' }, 'Send read receipts'))),
  );
}

/** The friend whose private note is being edited, if any. */
let editingNote: string | undefined;
/** What was typed so far: the list redraws on every presence change, the draft survives it. */
let noteDraft: string | undefined;

function noteForm(app: App, user: string, note: string): HTMLFormElement {
  const input = h('input', { id: 'note-input', 'data-key': `noteinput:${user}`, maxlength: 1000, autocomplete: 'off', value: noteDraft ?? note });
  input.addEventListener('input', () => { noteDraft = input.value; });
  const done = () => { editingNote = undefined; noteDraft = undefined; renderSidebar(app); };
  const f = h('form', { class: 'inline', 'aria-label': `Private note on ${user}` },
    h('label', { for: 'note-input' }, `Private note on ${user} (only you see it; empty deletes it)`), input,
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-key': `notesave:${user}` }, 'Save note'),
      h('button', { type: 'button', 'data-key': `notecancel:${user}`, onclick: done }, 'Cancel')));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    app.act(app.social.setNote(user, input.value.trim() || null).then(done));
  });
  return f;
}

function button(key: string, label: string, onclick: () => void, extra: Record<string, string> = {}): HTMLButtonElement {
  return h('button', { type: 'button', 'data-key': key, onclick, ...extra }, label);
}

/** Refreshes the panel's lists from the app's state. */
export function renderSidebar(app: App): void {
  if (!els) return;
  const e = els;
  const offline = !app.online || !navigator.onLine;
  const waiting = app.waiting;
  e.status.textContent = offline ? `Offline, reconnecting${waiting ? ` · ${waiting} waiting to be sent` : ''}` : `Online${waiting ? ` · ${waiting} sending` : ''}`;
  e.status.classList.toggle('offline', offline);
  e.typing.checked = app.settings.typing;
  e.receipts.checked = app.settings.receipts;

  const convs = [...app.convs.values()].sort((a, b) => (b.messages.at(-1)?.ts ?? 0) - (a.messages.at(-1)?.ts ?? 0));
  keepFocus(e.convs, () => fill(e.convs, convs.length ? convs.map((c) => {
    return h('li', { class: c.id === app.active ? 'current' : undefined },
      button(`conv:${c.id}`, '', () => app.open(c.id), { class: 'conv', 'aria-current': c.id === app.active ? 'true' : 'false' }));
  }) : [h('li', { class: 'empty' }, 'No conversations yet.')]));
  // The buttons' content is set here so the label carries the unread count for screen readers.
  for (const b of e.convs.querySelectorAll<HTMLButtonElement>('button.conv')) {
    const c = app.convs.get(b.dataset.key!.slice(5))!;
    const last = c.messages.at(-1);
    fill(b, h('span', { class: 'title' }, c.kind === 'room' ? `# ${c.title(app.me)}` : c.title(app.me)),
      c.unread ? h('span', { class: 'badge' }, `${c.unread} unread`) : null,
      c.expiresAt !== undefined ? h('span', { class: 'expires' }, `disappears in ${c.expiresIn(Date.now())}`) : null,
      last ? h('span', { class: 'preview' }, `${last.from}: ${last.body.slice(0, 60)}`) : null);
  }

  const roster = [...app.social.roster.values()].sort((a, b) => a.user.localeCompare(b.user));
  const friends = roster.filter((r) => r.state === 'friend');
  keepFocus(e.friends, () => fill(e.friends, friends.length ? friends.map((f) => {
    const p = app.social.presence.get(f.user);
    const state = app.blocked.has(f.user) ? 'blocked' : (p?.state ?? 'offline');
    return h('li', { class: 'friend', 'data-user': f.user },
      h('span', { class: `dot ${state}`, 'aria-hidden': 'true' }),
      h('span', { class: 'name' }, f.user), ' ', h('span', { class: 'state' }, state),
      p?.status ? h('span', { class: 'status' }, ` “${p.status}”`) : null,
      f.note ? h('p', { class: 'note' }, h('span', { class: 'sr' }, 'Note: '), f.note) : null,
      h('div', { class: 'actions' },
        button(`msg:${f.user}`, 'Message', () => app.open(app.directId(f.user)), { 'aria-label': `Message ${f.user}` }),
        button(`note:${f.user}`, 'Note', () => { editingNote = f.user; noteDraft = undefined; renderSidebar(app); document.getElementById('note-input')?.focus(); }, { 'aria-label': `Private note on ${f.user}` }),
        button(`rm:${f.user}`, 'Remove', () => app.act(app.social.removeFriend(f.user)), { 'aria-label': `Remove ${f.user} from friends` }),
        app.blocked.has(f.user)
          ? button(`unblock:${f.user}`, 'Unblock', () => app.act(app.social.unblock(f.user)), { 'aria-label': `Unblock ${f.user}` })
          : button(`block:${f.user}`, 'Block', () => app.act(app.social.block(f.user)), { 'aria-label': `Block ${f.user}` })),
      editingNote === f.user ? noteForm(app, f.user, f.note ?? '') : null);
  }) : [h('li', { class: 'empty' }, 'No friends yet: add one below.')]));

  const pending = roster.filter((r) => r.state === 'sent' || r.state === 'received');
  keepFocus(e.requests, () => fill(e.requests, pending.length ? pending.map((r) => h('li', { class: 'request', 'data-user': r.user },
    r.state === 'received' ? [h('span', {}, `${r.user} wants to be friends`), ' ',
      button(`accept:${r.user}`, 'Accept', () => app.act(app.social.accept(r.user)), { 'aria-label': `Accept ${r.user}` }),
      button(`decline:${r.user}`, 'Decline', () => app.act(app.social.decline(r.user)), { 'aria-label': `Decline ${r.user}` })]
      : [h('span', {}, `Request sent to ${r.user}`), ' ',
        button(`cancel:${r.user}`, 'Cancel', () => app.act(app.social.cancel(r.user)), { 'aria-label': `Cancel the request to ${r.user}` })]))
    : [h('li', { class: 'empty' }, 'No pending requests.')]));

  const blocked = [...app.blocked].sort();
  keepFocus(e.blocked, () => fill(e.blocked, blocked.length ? blocked.map((u) => h('li', {}, h('span', {}, u), ' ',
    button(`unblock2:${u}`, 'Unblock', () => app.act(app.social.unblock(u)), { 'aria-label': `Unblock ${u}` })))
    : [h('li', { class: 'empty' }, 'Nobody is blocked.')]));
}
