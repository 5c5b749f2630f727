/**
 * What a REST request reports to the metrics layer: its resource (a bounded route label, never the
 * ids in the path), how it ended, and how long it took, counted when the response is done.
 */
import type { ServerResponse } from 'node:http';
import { REST_ROUTES, type Meter } from '../metrics.ts';
import { API_PREFIX } from './rest.ts';

const ROUTES = new Set<string>(REST_ROUTES);

/** The resource of a path under /api/v1: its first segment, with the sub-resource of a chat (`chats.messages`). */
export function restRoute(pathname: string): string {
  const [root, id, sub] = pathname.slice(API_PREFIX.length).split('/').filter(Boolean);
  const route = root === 'chats' && id !== undefined && sub !== undefined ? `chats.${sub}` : root ?? '';
  return ROUTES.has(route) ? route : 'other';
}

/** Counts the request when its response closes: by status class, or aborted when it closed unwritten. */
export function observeRest(meter: Meter, res: ServerResponse, pathname: string): void {
  const t0 = performance.now();
  res.once('close', () => {
    const route = restRoute(pathname);
    const status = res.writableFinished ? `${Math.floor(res.statusCode / 100)}xx` : 'aborted';
    meter.inc('parley_rest_requests_total', { route, status });
    meter.observe('parley_rest_request_seconds', (performance.now() - t0) / 1000, { route });
  });
}
