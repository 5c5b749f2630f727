/**
 * The ops console: asks for the admin token once (kept in session storage), polls
 * GET /admin/overview and draws the node live: connections, sessions, logins/s, messages/s,
 * delivery p50/p99, error frames by code, alerts and their transitions, flags with rollout and
 * evaluation counts, sessions in debug mode; and acts through the admin API: debug mode on/off,
 * ring buffer read and download, kick a session, change a flag's rollout.
 */
import './console.css';
import { byId, fill, h } from '../shared/dom.ts';
import { keepFocus } from '../shared/focus.ts';
import { quantile, windowOf, type Bucket } from '../shared/quantile.ts';
import { admin, AdminError, adminToken } from './api.ts';
import { bars, sparkline } from './charts.ts';

interface AlertStatus { name: string; severity: string; state: string; value: number | null; threshold: number; summary: string; activeSince?: string; firingSince?: string; resolvedAt?: string }
interface FlagItem { name: string; enabled: boolean; description?: string; strategies: string[]; rollout: number | null; variants: { name: string; weight: number | null }[]; evaluations: Record<string, number> }
interface Overview {
  at: string; connections: number; sessions: number; logins: number; messages: number; deliveries: number;
  delivery: Bucket[]; errors: Record<string, number>; alerts: AlertStatus[];
  flags: { source: 'file' | 'unleash'; file?: string; unleashUrl?: string; error?: string; items: FlagItem[] };
  debug: { kind: string; id: string; until: string; by: string; source: string }[];
  sessionList: { id: string; user: string; debug: boolean }[];
}

const POLL_MS = 2_000;
/** Points kept per chart: two minutes at the poll interval. */
const HISTORY = 60;

interface Point { t: number; o: Overview; loginsPerSec?: number; messagesPerSec?: number; p50?: number; p99?: number }
const history: Point[] = [];

const ms = (s: number | undefined) => (s === undefined ? '–' : s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`);
const rate = (n: number | undefined) => (n === undefined ? '–' : n.toFixed(n < 10 ? 1 : 0));

function signIn(problem?: string): void {
  const input = h('input', { id: 'admin-token', type: 'password', autocomplete: 'off', required: true });
  const form = h('form', { class: 'card', 'aria-labelledby': 'signin-title' },
    h('h2', { id: 'signin-title' }, 'Sign in to the console'),
    h('p', {}, 'The token the node was started with (--admin-token). It is kept in this tab only.'),
    h('label', { for: 'admin-token' }, 'Admin token'), input, h('button', { type: 'submit' }, 'Open console'));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); adminToken.set(input.value.trim()); start(); });
  fill(byId('root'), h('main', { class: 'signin' }, h('h1', {}, 'parley console'), problem ? h('p', { role: 'alert', class: 'notice' }, problem) : null, form));
  input.focus();
}

let els: Record<'tiles' | 'errors' | 'alerts' | 'transitions' | 'flags' | 'debug' | 'sessions' | 'ring' | 'notice' | 'updated', HTMLElement> | undefined;
let ringSession: string | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;

function say(text: string): void {
  if (els) els.notice.textContent = text;
}

/** Runs an admin action, shows its outcome, and polls at once so the page reflects it. */
function act(what: Promise<unknown>, done: string): void {
  what.then(() => { say(done); return poll(); }).catch((err: Error) => say(err.message));
}

function start(): void {
  const user = h('input', { id: 'debug-user', autocomplete: 'off', required: true });
  const minutes = h('input', { id: 'debug-minutes', type: 'number', min: 1, max: 1440, value: 15 });
  const debugForm = h('form', { class: 'inline', 'aria-label': 'Debug mode for a user' },
    h('label', { for: 'debug-user' }, 'User'), user, h('label', { for: 'debug-minutes' }, 'Minutes'), minutes,
    h('button', { type: 'submit' }, 'Debug on'));
  debugForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(admin('POST', '/admin/debug', { user: user.value.trim(), minutes: Number(minutes.value), by: 'console' }), `debug mode on for ${user.value.trim()}`);
  });
  els = {
    tiles: h('div', { class: 'tiles' }),
    errors: h('div', { id: 'errors' }),
    alerts: h('div', { id: 'alerts' }),
    transitions: h('ol', { id: 'transitions', class: 'plain' }),
    flags: h('div', { id: 'flags' }),
    debug: h('ul', { id: 'debug-targets', class: 'plain' }),
    sessions: h('div', { id: 'sessions' }),
    ring: h('div', { id: 'ring' }),
    notice: h('p', { id: 'notice', role: 'status', class: 'notice' }),
    updated: h('p', { class: 'updated', id: 'updated' }),
  };
  const e = els;
  fill(byId('root'),
    h('header', { class: 'top' }, h('h1', {}, 'parley console'), e.updated,
      h('button', { type: 'button', class: 'link', onclick: () => { adminToken.clear(); clearTimeout(timer); signIn(); } }, 'Forget token')),
    e.notice,
    h('main', {},
      h('section', { 'aria-labelledby': 'h-live' }, h('h2', { id: 'h-live' }, 'Live'), e.tiles),
      h('section', { 'aria-labelledby': 'h-errors' }, h('h2', { id: 'h-errors' }, 'Error frames by code'), e.errors),
      h('section', { 'aria-labelledby': 'h-alerts' }, h('h2', { id: 'h-alerts' }, 'Alerts'), e.alerts, h('h3', {}, 'Recent transitions'), e.transitions),
      h('section', { 'aria-labelledby': 'h-flags' }, h('h2', { id: 'h-flags' }, 'Feature flags'), e.flags),
      h('section', { 'aria-labelledby': 'h-debug' }, h('h2', { id: 'h-debug' }, 'Debug mode'), debugForm, e.debug,
        h('h3', {}, 'Sessions'), e.sessions, e.ring)));
  void poll();
}

async function poll(): Promise<void> {
  clearTimeout(timer);
  try {
    const o = await admin<Overview>('GET', '/admin/overview');
    const t = Date.parse(o.at);
    const prev = history.at(-1);
    const p: Point = { t, o };
    if (prev && t > prev.t) {
      const dt = (t - prev.t) / 1000;
      p.loginsPerSec = Math.max(0, (o.logins - prev.o.logins) / dt);
      p.messagesPerSec = Math.max(0, (o.messages - prev.o.messages) / dt);
      const w = windowOf(o.delivery, prev.o.delivery);
      p.p50 = quantile(0.5, w);
      p.p99 = quantile(0.99, w);
    }
    history.push(p);
    if (history.length > HISTORY) history.shift();
    render(p);
    if (ringSession) await showRing(ringSession);
  } catch (err) {
    if (err instanceof AdminError && err.status === 401) { adminToken.clear(); return signIn(err.message); }
    say(`cannot reach the node: ${(err as Error).message}`);
  }
  timer = setTimeout(() => void poll(), POLL_MS);
}

function tile(label: string, value: string, series: (number | undefined)[]): HTMLElement {
  return h('figure', { class: 'tile' }, h('figcaption', {}, label), h('p', { class: 'value' }, value), sparkline(series, `${label}: ${value}, last ${series.length} samples`));
}

function render(p: Point): void {
  if (!els) return;
  const e = els;
  const o = p.o;
  e.updated.textContent = `updated ${new Date(p.t).toLocaleTimeString()}`;
  const series = (f: (x: Point) => number | undefined) => history.map(f);
  fill(e.tiles,
    tile('Connections', String(o.connections), series((x) => x.o.connections)),
    tile('Sessions', String(o.sessions), series((x) => x.o.sessions)),
    tile('Logins/s', rate(p.loginsPerSec), series((x) => x.loginsPerSec)),
    tile('Messages/s', rate(p.messagesPerSec), series((x) => x.messagesPerSec)),
    tile('Delivery p50', ms(p.p50), series((x) => x.p50)),
    tile('Delivery p99', ms(p.p99), series((x) => x.p99)));

  const errors = Object.entries(o.errors);
  fill(e.errors, errors.length ? [bars(errors, `error frames by code: ${errors.map(([c, n]) => `${c} ${n}`).join(', ')}`)] : [h('p', {}, 'No error frames sent.')]);

  fill(e.alerts, h('table', {}, h('caption', { class: 'sr' }, 'Alert states'),
    h('thead', {}, h('tr', {}, ...['Alert', 'Severity', 'State', 'Value', 'Threshold'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...o.alerts.map((a) => h('tr', { class: `alert-${a.state}` },
      h('th', { scope: 'row', title: a.summary }, a.name), h('td', {}, a.severity), h('td', {}, h('span', { class: `state ${a.state}` }, a.state)),
      h('td', {}, a.value === null ? '–' : String(Math.round(a.value * 1000) / 1000)), h('td', {}, String(a.threshold)))))));
  const transitions = o.alerts.flatMap((a) => [
    a.activeSince ? { at: a.activeSince, text: `${a.name} became pending` } : undefined,
    a.firingSince ? { at: a.firingSince, text: `${a.name} started firing` } : undefined,
    a.resolvedAt ? { at: a.resolvedAt, text: `${a.name} resolved` } : undefined,
  ]).filter((x): x is { at: string; text: string } => x !== undefined).sort((a, b) => b.at.localeCompare(a.at)).slice(0, 10);
  fill(e.transitions, transitions.length ? transitions.map((x) => h('li', {}, h('time', { datetime: x.at }, new Date(x.at).toLocaleTimeString()), ` ${x.text}`)) : [h('li', {}, 'No transitions yet.')]);

  renderFlags(o);
  renderDebug(o);
}

function renderFlags(o: Overview): void {
  const e = els!;
  const f = o.flags;
  const where = f.source === 'unleash'
    ? h('p', {}, 'Flags come from an Unleash server: change rollouts ', h('a', { href: new URL(f.unleashUrl!).origin, rel: 'noopener' }, 'in Unleash'), '.')
    : h('p', {}, 'Flags come from the file ', h('code', {}, f.file ?? '?'), '; a rollout change rewrites it and every node watching it reloads.');
  keepFocus(e.flags, () => fill(e.flags, where, f.error ? h('p', { role: 'alert' }, f.error) : null,
    h('table', {}, h('caption', { class: 'sr' }, 'Feature flags'),
      h('thead', {}, h('tr', {}, ...['Flag', 'On', 'Rollout', 'Variants', 'Evaluations (on / off)', 'Change rollout'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, ...f.items.map((flag) => h('tr', {},
        h('th', { scope: 'row', title: flag.description ?? '' }, flag.name),
        h('td', {}, flag.enabled ? 'on' : 'off'),
        h('td', {}, flag.rollout === null ? flag.strategies.join(', ') : `${flag.rollout}%`),
        h('td', {}, flag.variants.length ? flag.variants.map((v) => `${v.name}${v.weight === null ? '' : ` (${v.weight})`}`).join(', ') : '–'),
        h('td', {}, `${flag.evaluations.enabled ?? 0} / ${flag.evaluations.disabled ?? 0}`),
        h('td', {}, flag.rollout === null || f.source === 'unleash' ? '–' : rolloutForm(flag))))))));
}

function rolloutForm(flag: FlagItem): HTMLFormElement {
  const id = `rollout-${flag.name}`;
  const input = h('input', { id, 'data-key': id, type: 'number', min: 0, max: 100, value: flag.rollout ?? 0, class: 'narrow' });
  const form = h('form', { class: 'row', 'aria-label': `Rollout of ${flag.name}` },
    h('label', { for: id, class: 'sr' }, `Rollout of ${flag.name} in percent`), input,
    h('button', { type: 'submit', 'data-key': `${id}-set` }, 'Set'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(admin('PUT', `/admin/flags/${encodeURIComponent(flag.name)}/rollout`, { percent: Number(input.value) }), `${flag.name}: rollout set to ${input.value}%`);
  });
  return form;
}

function renderDebug(o: Overview): void {
  const e = els!;
  keepFocus(e.debug, () => fill(e.debug, o.debug.length ? o.debug.map((t) => h('li', {},
    `${t.kind} ${t.id} until ${new Date(t.until).toLocaleTimeString()} (by ${t.by}) `,
    h('button', { type: 'button', 'data-key': `off:${t.kind}:${t.id}`, onclick: () => act(admin('DELETE', `/admin/debug?${t.kind}=${encodeURIComponent(t.id)}`), `debug mode off for ${t.kind} ${t.id}`) }, 'Debug off')))
    : [h('li', {}, 'Nothing is in debug mode.')]));
  keepFocus(e.sessions, () => fill(e.sessions, o.sessionList.length ? h('table', {}, h('caption', { class: 'sr' }, 'Sessions on this node'),
    h('thead', {}, h('tr', {}, ...['Session', 'User', 'Debug', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...o.sessionList.map((s) => h('tr', { 'data-session': s.id, 'data-user': s.user },
      h('td', {}, h('code', {}, s.id)), h('td', {}, s.user), h('td', {}, s.debug ? 'on' : 'off'),
      h('td', { class: 'row' },
        h('button', { type: 'button', 'data-key': `ring:${s.id}`, onclick: () => { ringSession = s.id; void showRing(s.id); } }, 'Ring buffer'),
        h('button', { type: 'button', 'data-key': `dl:${s.id}`, onclick: () => void download(s.id) }, 'Download'),
        h('button', { type: 'button', 'data-key': `kick:${s.id}`, onclick: () => act(admin('POST', `/admin/sessions/${encodeURIComponent(s.id)}/disconnect`), `session ${s.id} of ${s.user} disconnected`) }, 'Kick'))))))
    : h('p', {}, 'No sessions.')));
}

interface Ring { session: string; debug: boolean; entries: { t: string; kind: string; dir?: string; frame?: unknown; [k: string]: unknown }[] }

async function showRing(session: string): Promise<void> {
  const e = els!;
  try {
    const r = await admin<Ring>('GET', `/admin/debug/${encodeURIComponent(session)}`);
    const rows = r.entries.slice(-200).reverse();
    fill(e.ring, h('h3', {}, `Ring buffer of ${session} (${r.entries.length} entries, debug ${r.debug ? 'on' : 'off'})`),
      h('ol', { class: 'ring plain', 'aria-label': `Ring buffer of ${session}`, tabindex: 0 }, ...rows.map((x) => {
        const { t, kind, dir, frame, ...rest } = x;
        return h('li', {}, h('time', { datetime: t }, t.slice(11, 23)), ' ', h('strong', {}, dir ? `${kind} ${dir === 'in' ? '→' : '←'}` : kind), ' ',
          h('code', {}, JSON.stringify(frame ?? rest)));
      })));
  } catch (err) {
    fill(e.ring, h('p', {}, (err as Error).message));
  }
}

async function download(session: string): Promise<void> {
  try {
    const r = await admin<Ring>('GET', `/admin/debug/${encodeURIComponent(session)}`);
    const url = URL.createObjectURL(new Blob([JSON.stringify(r, null, 2)], { type: 'application/json' }));
    const a = h('a', { href: url, download: `parley-debug-${session}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    say((err as Error).message);
  }
}

if (adminToken.get()) start(); else signIn();
