/**
 * The built web pages (dist/web/, from `npm run build:web`) served from a mount point: the HTML
 * shell is revalidated on every load, hashed assets are immutable for a year, and every answer
 * carries a Content-Security-Policy that allows no inline script and no foreign origin.
 */
import fs from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { ParleyError } from '../errors.ts';
import { sendError } from './rest.ts';

/** The policy of every page: scripts, styles and sockets from this origin only, nothing inline. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
};
/** Asset names the build writes: a base name, a content hash, an extension. Nothing else is looked up. */
const ASSET_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9]+\.(?:js|css|svg|png)(?:\.map)?$/;

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  // The page takes its token from the URL fragment; no referrer leaves with the page's address either.
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

export interface StaticSite {
  /** Serves the request when it is under the mount point; false for paths it does not serve. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean;
}

/**
 * A site of `root` (a folder with index.html and assets/) under `mount` ('/' or '/console').
 * A missing build answers 503 saying how to build it, so a fresh checkout explains itself.
 */
export function staticSite(root: string, mount: string): StaticSite {
  const base = mount === '/' ? '' : mount.replace(/\/$/, '');
  const assets = `${base}/assets/`;
  return {
    handle(req, res, url) {
      const p = url.pathname;
      const isPage = p === `${base}/` || p === `${base}/index.html` || (base !== '' && p === base);
      const isAsset = p.startsWith(assets);
      if (!isPage && !isAsset) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        sendError(res, new ParleyError('method_not_allowed', `${p} answers GET and HEAD, got ${String(req.method).slice(0, 16)}`));
        return true;
      }
      const name = isAsset ? p.slice(assets.length) : 'index.html';
      if (isAsset && !ASSET_RE.test(name)) return notFound(res), true;
      const file = isAsset ? path.join(root, 'assets', name) : path.join(root, 'index.html');
      fs.readFile(file).then(
        (body) => {
          res.writeHead(200, {
            ...SECURITY_HEADERS,
            'content-type': TYPES[path.extname(name)] ?? 'application/octet-stream',
            'content-length': body.length,
            'cache-control': isAsset ? 'public, max-age=31536000, immutable' : 'no-cache',
          });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') return sendError(res, new ParleyError('internal', `reading ${name} failed (${err.code ?? 'error'})`));
          if (isAsset) return notFound(res);
          res.setHeader('cache-control', 'no-cache');
          sendError(res, new ParleyError('web_not_built', `the web page is not built (${path.relative(process.cwd(), root) || root} is missing): run npm run build:web`));
        },
      );
      return true;
    },
  };
}

function notFound(res: ServerResponse): void {
  res.setHeader('x-content-type-options', 'nosniff');
  sendError(res, new ParleyError('not_found', 'no such asset'));
}
