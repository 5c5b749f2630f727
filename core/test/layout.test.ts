import { ESLint } from 'eslint';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.ts';

const eslint = new ESLint({ cwd: ROOT });

/** The restricted-import messages ESLint reports for `code` placed at `file`. */
async function violations(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('the dependency direction (eslint no-restricted-imports)', () => {
  it.each([
    ['core/chat/x.ts', "import { Session } from '../edge/session.ts';", 'chat/ carries messages'],
    ['core/chat/x.ts', "import { Metrics } from '../ops/registry.ts';", 'chat/ carries messages'],
    ['core/store/x.ts', "import { Hub } from '../chat/hub.ts';", 'bottom layer'],
    ['core/bus/x.ts', "import type { Ops } from '../ops/ops.ts';", 'bottom layer'],
    ['core/social/x.ts', "import { RestApi } from '../edge/rest.ts';", 'social/ imports no edge/'],
    ['core/edge/x.ts', "import { runLoad } from '../../loadtest/runner.ts';", 'never imports the harness'],
    ['core/x.ts', "import { nightly } from '../nightly/cli.ts';", 'never imports the harness'],
    ['core/ops/x.ts', "import { main } from '../../cli/main.ts';", 'never imports the harness'],
    ['core/client/x.ts', "import { Hub } from '../chat/hub.ts';", 'the client package ships only itself'],
  ])('refuses %s importing %s', async (file, code, why) => {
    const found = await violations(file, code);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(why);
  });

  it.each([
    ['core/edge/x.ts', "import { ChatService } from '../chat/chat.ts';"],
    ['core/chat/x.ts', "import type { Store } from '../store/types.ts';"],
    ['core/social/x.ts', "import type { ChatService } from '../chat/chat.ts';"],
    ['core/client/x.ts', "import { SUBPROTOCOL } from '../protocol.ts';"],
    ['loadtest/x.ts', "import { encode } from '../core/protocol.ts';"],
  ])('allows %s importing %s', async (file, code) => {
    expect(await violations(file, code)).toEqual([]);
  });

  it('holds for every file of core/ as committed', async () => {
    const results = await eslint.lintFiles(['core/**/*.ts']);
    const found = results.flatMap((r) => r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => `${path.relative(ROOT, r.filePath)}: ${m.message}`));
    expect(found).toEqual([]);
  });
});

describe('the layout', () => {
  it('has a folder per responsibility in core/', () => {
    const dirs = fs.readdirSync(path.join(ROOT, 'core'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    expect(dirs).toEqual(expect.arrayContaining(['bus', 'chat', 'client', 'edge', 'ops', 'social', 'store']));
  });
});

describe('the docs', () => {
  const DOCS = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const PATH_RE = /(?<![\w./-])((?:cli|core|loadtest|nightly|dashboards|flags|docs|bin|\.ci|\.github)\/[\w.@/{},*-]*[\w/}])/g;

  it.each(DOCS)('%s names only paths that exist', (doc) => {
    const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
    const missing = [...new Set([...text.matchAll(PATH_RE)].map((m) => m[1]!))]
      // globs and brace lists name families of files, not one path
      .filter((p) => !/[*{]/.test(p) && !fs.existsSync(path.join(ROOT, p)));
    expect(missing).toEqual([]);
  });
});
