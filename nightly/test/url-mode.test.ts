/**
 * Comparing two already running environments (--base-url/--head-url): no build, no deploy; the
 * battery, compare, history, publish (with a real webhook receiver) and gate still run.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect, it } from 'vitest';
import { spawnServer, tempDir, TEST_SECRET } from '../../core/test/helpers.ts';
import { nightly } from '../cli.ts';
import { readHistory } from '../history.ts';

it('runs the smoke battery against two running nodes, posts the summary to a webhook and records the night', async () => {
  const a = await spawnServer(tempDir());
  const b = await spawnServer(tempDir());
  const posts: { type: string; body: { text: string; blocks: { type: string }[] } }[] = [];
  const hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => { posts.push({ type: String(req.headers['content-type']), body: JSON.parse(body) }); res.end('ok'); });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const out = tempDir('parley-nightly-url-');
  try {
    const code = await nightly([
      '--base-url', a.wsUrl, '--base-ops-url', `http://127.0.0.1:${a.opsPort}`, '--head-url', b.wsUrl, '--head-ops-url', `http://127.0.0.1:${b.opsPort}`,
      '--secret', TEST_SECRET, '--battery', 'smoke', '--blocks', '1', '--max-blocks', '1', '--out', out,
      '--webhook-url', `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, '--waivers', path.join(out, 'none.json'),
    ], () => {});
    const [night] = readHistory(out).nights;
    // Two runs a side cannot reach significance: the gating metrics stay inconclusive (exit 3), never a pass.
    expect({ code, mode: night!.mode, runs: night!.runs.length, status: night!.gate.status }).toEqual({ code: 3, mode: 'url', runs: 4, status: 'inconclusive' });
    expect(night!.runs.map((r) => r.side)).toEqual(['base', 'head', 'head', 'base']);
    const ack = night!.rows.find((r) => r.metric === 'ack_ms.p50')!;
    // An unreachable MDE (Infinity) is stored as null in the history.
    expect([ack.nBase, ack.nHead, ack.mde]).toEqual([2, 2, null]);
    // Server CPU comes from /metrics when the process is not local.
    expect(night!.runs.every((r) => r.metrics['server.cpu_ms_per_1k']! > 0)).toBe(true);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.type).toBe('application/json');
    expect(posts[0]!.body.text).toMatch(/^parley nightly .*: inconclusive/);
    expect(posts[0]!.body.blocks.map((x) => x.type)).toEqual(['header', 'section']);
    const dir = path.join(out, 'nights', night!.id);
    expect(fs.readdirSync(dir).sort()).toEqual(['report.html', 'result.json', 'runs', 'summary.eml', 'summary.md']);
    expect(fs.readFileSync(path.join(out, 'index.html'), 'utf8')).toContain(`nights/${night!.id}/report.html`);
  } finally {
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    await Promise.all([a.exited, b.exited]);
    hook.close();
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 420_000);
