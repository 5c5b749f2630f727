/**
 * Builds the chat page and the ops console into dist/web/{chat,console}: one esbuild bundle per
 * page (minified, content-hashed names), its CSS, and the HTML shell pointing at them. Run by
 * `npm run build:web` (part of the root build); `node --import tsx core/web/build.ts [outDir]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PAGES = ['chat', 'console'] as const;

/** The client loads `ws` only under Node; in the browser bundle the import resolves to nothing. */
const noWs: Plugin = {
  name: 'no-ws',
  setup(b) {
    b.onResolve({ filter: /^ws$/ }, () => ({ path: 'ws', namespace: 'no-ws' }));
    b.onLoad({ filter: /.*/, namespace: 'no-ws' }, () => ({ contents: 'export default undefined;', loader: 'js' }));
  },
};

/** What one page's build wrote, relative to its folder. */
export interface PageBuild { page: string; js: string; css: string | undefined; jsBytes: number }

/** Builds both pages into `outDir` (default dist/web), replacing what was there. */
export async function buildWeb(outDir = path.resolve(HERE, '../../dist/web')): Promise<PageBuild[]> {
  const out: PageBuild[] = [];
  for (const page of PAGES) {
    const dir = path.join(outDir, page);
    fs.rmSync(dir, { recursive: true, force: true });
    const result = await build({
      entryPoints: { [page]: path.join(HERE, page, 'main.ts') },
      outdir: path.join(dir, 'assets'),
      entryNames: '[name].[hash]',
      bundle: true, minify: true, format: 'esm', target: ['es2022'], platform: 'browser',
      sourcemap: 'linked', metafile: true, legalComments: 'none', logLevel: 'warning',
      plugins: [noWs],
    });
    const outputs = Object.entries(result.metafile.outputs);
    const [jsPath, js] = outputs.find(([f, o]) => f.endsWith('.js') && o.entryPoint)!;
    const css = js.cssBundle;
    // Absolute: the console answers at /console as well as /console/, where relative URLs would differ.
    const mount = page === 'chat' ? '' : `/${page}`;
    const rel = (f: string) => `assets/${path.basename(f)}`;
    const href = (f: string) => `${mount}/${rel(f)}`;
    const shell = fs.readFileSync(path.join(HERE, page, 'index.html'), 'utf8');
    const html = shell
      .replace('<!-- style -->', css ? `<link rel="stylesheet" href="${href(css)}">` : '')
      .replace('<!-- script -->', `<script type="module" src="${href(jsPath)}"></script>`);
    fs.writeFileSync(path.join(dir, 'index.html'), html);
    out.push({ page, js: rel(jsPath), css: css && rel(css), jsBytes: js.bytes });
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildWeb(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  for (const b of built) console.log(`web: ${b.page}/${b.js} (${(b.jsBytes / 1024).toFixed(1)} KiB)${b.css ? `, ${b.page}/${b.css}` : ''}`);
}
