/**
 * The open conversation: its members (rooms: invite, leave), the messages in seq order with the
 * user's waiting sends after them, who is typing, read receipts on the user's own messages
 * ("read" in a 1:1, "read by N" in a room), older history on scrolling up, and the composer
 * (text, or a photo with the text as its caption). Photos show as thumbnails linking to the full image.
 */
import { fill, h } from '../shared/dom.ts';
import type { App } from './app.ts';

let els: {
  panel: HTMLElement; title: HTMLElement; meta: HTMLElement; room: HTMLElement; list: HTMLOListElement; older: HTMLButtonElement;
  typing: HTMLElement; input: HTMLTextAreaElement; label: HTMLLabelElement; form: HTMLFormElement; members: HTMLElement;
} | undefined;
let app: App | undefined;

const time = (ts: number) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/** Builds the panel once; renderThread fills it. */
export function thread(a: App): HTMLElement {
  app = a;
  const input = h('textarea', { id: 'composer-input', rows: 2, maxlength: 4000 });
  const label = h('label', { for: 'composer-input' }, 'Message');
  input.addEventListener('input', () => a.typed(input.value));
  input.addEventListener('keydown', (ev) => {
    // Enter sends, Shift+Enter is a new line: what chat users expect.
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); form.requestSubmit(); }
  });
  const photo = h('input', { id: 'composer-photo', type: 'file', accept: 'image/jpeg,image/png,image/webp,image/gif', class: 'sr' });
  photo.addEventListener('change', () => {
    const file = photo.files?.[0];
    if (file) { a.sendPhoto(file, input.value); input.value = ''; }
    photo.value = '';
  });
  const form = h('form', { id: 'composer', 'aria-label': 'Write a message' }, label, input,
    h('div', { class: 'composer-actions' }, photo, h('label', { for: 'composer-photo', class: 'button' }, 'Photo'), h('button', { type: 'submit' }, 'Send')));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); a.send(input.value); input.value = ''; });
  const list = h('ol', { id: 'messages', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Messages', tabindex: 0 });
  list.addEventListener('scroll', () => { if (list.scrollTop < 40) void a.older(); });
  const older = h('button', { type: 'button', id: 'older', class: 'link', onclick: () => void a.older() }, 'Load older messages');
  const invite = h('input', { id: 'invite-user', autocomplete: 'off', required: true });
  const inviteForm = h('form', { class: 'inline', 'aria-label': 'Invite to this room' },
    h('label', { for: 'invite-user' }, 'Invite'), invite, h('button', { type: 'submit' }, 'Invite'));
  inviteForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const chat = a.active!;
    a.act(a.client.invite(chat, invite.value.trim()).then(() => { invite.value = ''; return showMembers(chat); }));
  });
  const members = h('p', { id: 'members', class: 'members' });
  const room = h('div', { class: 'room', hidden: true },
    h('p', { class: 'room-id' }, 'Room id: ', h('code', { id: 'room-id' })),
    members,
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => void showMembers(a.active!) }, 'Members'),
      h('button', { type: 'button', onclick: () => { const chat = a.active!; a.act(a.client.leave(chat).then(() => { a.convs.delete(chat); a.close(); })); } }, 'Leave room')),
    inviteForm);
  const panel = h('main', { id: 'thread', 'aria-labelledby': 'thread-title' },
    h('header', { class: 'thread-head' },
      h('button', { type: 'button', class: 'back', onclick: () => a.close() }, '← Back'),
      h('h2', { id: 'thread-title' }, 'No conversation open'),
      h('p', { id: 'thread-meta', class: 'meta' })),
    room, older, list,
    h('p', { id: 'typing', class: 'typing', 'aria-live': 'polite' }),
    form);
  els = { panel, title: panel.querySelector('#thread-title')!, meta: panel.querySelector('#thread-meta')!, room, list, older, typing: panel.querySelector('#typing')!, input, label, form, members };
  return panel;
}

thread.focusComposer = (): void => { els?.input.focus(); };

async function showMembers(chat: string): Promise<void> {
  if (!app || !els) return;
  const list = await app.client.members(chat);
  els.members.textContent = `Members: ${list.join(', ')}`;
}

/** Redraws the open conversation; `keepBottomOffset` keeps the view still when older messages were put above. */
export function renderThread(a: App, opts: { keepBottomOffset?: boolean } = {}): void {
  if (!els) return;
  const e = els;
  const conv = a.active ? a.convs.get(a.active) : undefined;
  e.form.hidden = !conv;
  e.room.hidden = conv?.kind !== 'room';
  if (!conv) {
    e.title.textContent = 'No conversation open';
    e.meta.textContent = 'Pick a friend or a conversation.';
    e.older.hidden = true;
    fill(e.list);
    e.typing.textContent = '';
    return;
  }
  const title = conv.title(a.me);
  e.title.textContent = conv.kind === 'room' ? `# ${title}` : title;
  const partner = conv.partner(a.me);
  const p = partner ? a.social.presence.get(partner) : undefined;
  const expires = conv.expiresIn(Date.now());
  e.meta.textContent = (partner ? `${p?.state ?? 'offline'}${p?.status ? ` · “${p.status}”` : ''}` : 'Room')
    + (expires ? ` · disappears in ${expires} unless someone writes` : '');
  (e.room.querySelector('#room-id') as HTMLElement).textContent = conv.id;
  e.label.textContent = `Message to ${conv.kind === 'room' ? `# ${title}` : title}`;
  e.older.hidden = !conv.more || conv.messages.length === 0;

  const atBottom = e.list.scrollHeight - e.list.scrollTop - e.list.clientHeight < 30;
  const fromBottom = e.list.scrollHeight - e.list.scrollTop;
  // Unchanged messages keep their elements, so the live region announces only what is new.
  const old = new Map([...e.list.children].map((li) => [(li as HTMLElement).dataset.key ?? '', li as HTMLElement]));
  if (e.list.dataset.chat !== conv.id) old.clear();
  e.list.dataset.chat = conv.id;
  const items = conv.messages.map((m) => {
    const mine = m.from === a.me;
    let receipt = '';
    if (mine && conv.kind === 'direct' && conv.otherRead >= m.seq) receipt = 'Read';
    if (mine && conv.kind === 'room') { const n = conv.readBy.get(m.seq) ?? 0; if (n > 0) receipt = `read by ${n}`; }
    const key = `${m.seq}:${receipt}`;
    const kept = old.get(key);
    if (kept) return kept;
    return h('li', { class: mine ? 'msg mine' : 'msg', 'data-seq': m.seq, 'data-key': key },
      h('span', { class: 'from' }, m.from), ' ', h('time', { datetime: new Date(m.ts).toISOString() }, time(m.ts)),
      h('p', { class: 'body' }, m.body),
      m.attachments?.length ? photos(a, conv.id, m.from, m.attachments) : null,
      receipt ? h('span', { class: 'receipt' }, receipt) : null);
  });
  // The key holds what the entry shows, so a change of state (uploaded, online) redraws it.
  const waitKey = (s: { cmid: string; uploading?: boolean }) => `w:${s.cmid}:${a.online}:${s.uploading ? 'up' : ''}`;
  const waiting = [...conv.pending.values()].map((s) => old.get(waitKey(s)) ?? h('li', { class: 'msg mine waiting', 'data-cmid': s.cmid, 'data-key': waitKey(s) },
    h('span', { class: 'from' }, s.from), ' ', h('span', { class: 'receipt' }, s.uploading ? 'uploading photo…' : a.online ? 'sending…' : 'waiting to be sent'),
    h('p', { class: 'body' }, s.body)));
  reconcile(e.list, [...items, ...waiting]);
  if (opts.keepBottomOffset) e.list.scrollTop = e.list.scrollHeight - fromBottom;
  else if (atBottom || items.length + waiting.length <= 1) e.list.scrollTop = e.list.scrollHeight;

  const typers = a.social.typingIn(conv.id).filter((u) => u !== a.me);
  e.typing.textContent = typers.length === 0 ? '' : typers.length === 1 ? `${typers[0]} is typing…` : `${typers.join(', ')} are typing…`;
}

/** A message's attachments: each thumbnail links to the full image; a kind without a thumbnail is a plain link. */
function photos(a: App, chat: string, from: string, ids: readonly string[]): HTMLElement {
  return h('div', { class: 'photos' }, ids.map((id, i) => {
    const img = h('img', { src: a.attachmentUrl(chat, id, true), alt: `photo ${i + 1} from ${from}`, loading: 'lazy' });
    const link = h('a', { href: a.attachmentUrl(chat, id), target: '_blank', rel: 'noopener' }, img);
    img.addEventListener('error', () => link.replaceChildren(`attachment ${i + 1}`), { once: true });
    return link;
  }));
}

/** Makes `list`'s children exactly `nodes` with the fewest moves: appends stay appends. */
function reconcile(list: HTMLElement, nodes: HTMLElement[]): void {
  nodes.forEach((n, i) => { if (list.children[i] !== n) list.insertBefore(n, list.children[i] ?? null); });
  while (list.children.length > nodes.length) list.lastElementChild!.remove();
}
