/**
 * The console's only way to the node: the documented admin API on this origin, with the admin
 * token from session storage in the Authorization header (never in a URL).
 */
const KEY = 'parley.adminToken';

export class AdminError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const adminToken = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (t: string): void => sessionStorage.setItem(KEY, t),
  clear: (): void => sessionStorage.removeItem(KEY),
};

/** Calls `method path` of the admin API and returns its JSON; throws AdminError on a refusal. */
export async function admin<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${adminToken.get() ?? ''}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!res.ok) throw new AdminError(res.status, json.error?.code ?? `http_${res.status}`, json.error?.message ?? `HTTP ${res.status}`);
  return json as T;
}
