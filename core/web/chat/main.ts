/**
 * The chat page's entry: find a token (handed over in the URL fragment, kept for this tab in
 * session storage, or minted by the development sign-in), then start the app. The token is
 * never logged and leaves the address bar at once.
 */
import './chat.css';
import { byId, fill, h } from '../shared/dom.ts';
import { startApp } from './app.ts';

const TOKEN_KEY = 'parley.token';

/** Takes `#token=...` out of the address (so it is neither bookmarked nor shared) and returns it. */
function tokenFromFragment(): string | undefined {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token') ?? undefined;
  if (token) history.replaceState(null, '', location.pathname + location.search);
  return token;
}

/** The user a token names (its `sub`), read without verifying: the server verifies. */
function userOf(token: string): string | undefined {
  try {
    const body = token.split('.')[1] ?? '';
    const claims = JSON.parse(atob(body.replaceAll('-', '+').replaceAll('_', '/'))) as { sub?: unknown };
    return typeof claims.sub === 'string' ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

function begin(token: string): void {
  const user = userOf(token);
  if (!user) return signIn('That token is not readable; ask for a new one.');
  sessionStorage.setItem(TOKEN_KEY, token);
  startApp(byId('root'), { token, user, signOut: () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); } });
}

function signIn(problem?: string): void {
  const name = h('input', { id: 'signin-user', name: 'user', autocomplete: 'username', required: true, maxlength: 64, pattern: '[A-Za-z0-9_.@\\-]+' });
  const tokenInput = h('input', { id: 'signin-token', name: 'token', type: 'password', autocomplete: 'off', required: true });
  const notice = h('p', { id: 'signin-notice', role: 'alert', class: 'notice' }, problem ?? '');
  const devForm = h('form', { class: 'card', 'aria-labelledby': 'signin-dev-title' },
    h('h2', { id: 'signin-dev-title' }, 'Development sign-in'),
    h('p', {}, 'On a node started with --dev-login, a user name is enough.'),
    h('label', { for: 'signin-user' }, 'User name'), name,
    h('button', { type: 'submit' }, 'Sign in'));
  devForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: name.value.trim() }) })
      .then(async (res) => {
        const body = (await res.json()) as { token?: string; error?: { message: string } };
        if (!res.ok || !body.token) throw new Error(body.error?.message ?? `sign-in failed (${res.status})`);
        begin(body.token);
      })
      .catch((err: Error) => { notice.textContent = err.message; });
  });
  const tokenForm = h('form', { class: 'card', 'aria-labelledby': 'signin-token-title' },
    h('h2', { id: 'signin-token-title' }, 'Sign in with a token'),
    h('p', {}, 'An app hands the page a token as ', h('code', {}, '#token=…'), '; for a try, mint one with ', h('code', {}, 'parley token <user>'), '.'),
    h('label', { for: 'signin-token' }, 'Access token'), tokenInput,
    h('button', { type: 'submit' }, 'Use token'));
  tokenForm.addEventListener('submit', (ev) => { ev.preventDefault(); begin(tokenInput.value.trim()); });
  fill(byId('root'), h('main', { class: 'signin' }, h('h1', {}, 'parley'), notice, devForm, tokenForm));
  name.focus();
}

const handed = tokenFromFragment() ?? sessionStorage.getItem(TOKEN_KEY) ?? undefined;
if (handed) begin(handed); else signIn();
