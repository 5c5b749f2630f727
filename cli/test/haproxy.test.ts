/**
 * The HAProxy configuration of cli/haproxy.ts: what docs/cluster.md shows, what `haproxy -c`
 * accepts, and what the real haproxy does with it in front of real nodes: only a node whose
 * /readyz answers 200 gets traffic, a draining node leaves the pool within 2 s and comes back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hasCommand, requires } from '../../core/test/env.ts';
import { connect, freePort, ROOT, tempDir, testServer, until } from '../../core/test/helpers.ts';
import type { ParleyServer } from '../../core/server.ts';
import type { ParleyClient } from '../../core/client/index.ts';
import { backendProblems, checkConfig, haproxyConfig, HAPROXY_DEFAULTS, serverStates, startHaproxy, type Backend, type HaproxyProcess } from '../haproxy.ts';

const HAVE_HAPROXY = hasCommand('haproxy');
const THREE: Backend[] = [11, 12, 13].map((i, n) => ({ name: `n${n + 1}`, host: `10.0.0.${i}`, port: 8080, opsPort: 9464 }));

let servers: ParleyServer[] = [];
let clients: ParleyClient[] = [];
let proxy: HaproxyProcess | undefined;
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await proxy?.stop();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  clients = [];
  proxy = undefined;
});

/** HAProxy in front of `nodes` on a free port, with its runtime socket; returns where clients connect. */
async function front(nodes: Backend[]): Promise<{ port: number; socket: string }> {
  const dir = tempDir('parley-haproxy-');
  const port = await freePort();
  const socket = path.join(dir, 'haproxy.sock');
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(file, haproxyConfig({ ...HAPROXY_DEFAULTS, nodes, bind: `127.0.0.1:${port}`, log: 'stderr format short local0 notice', maxconn: 1024, statsSocket: socket }));
  proxy = await startHaproxy(file, path.join(dir, 'haproxy.log'), port);
  return { port, socket };
}

const backend = (name: string, s: ParleyServer): Backend => ({ name, host: '127.0.0.1', port: s.port, opsPort: s.opsPort });
const state = async (socket: string, name: string) => (await serverStates(socket)).get(name);

describe('the HAProxy configuration', () => {
  it('is in docs/cluster.md exactly as `parley cluster haproxy` prints it for three nodes', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs/cluster.md'), 'utf8');
    const block = /<!-- generated: parley cluster haproxy[^\n]*-->\n```haproxy\n([\s\S]*?)```/.exec(doc);
    expect(block, 'the generated block in docs/cluster.md').not.toBeNull();
    expect(block![1]).toBe(haproxyConfig({ ...HAPROXY_DEFAULTS, nodes: THREE, stats: '127.0.0.1:8404' }));
  });

  it('checks each node once, on its ops port, with the readiness probe, and sends upgrades on /ws to leastconn', () => {
    const cfg = haproxyConfig({ ...HAPROXY_DEFAULTS, nodes: THREE });
    expect(cfg).toContain('    server n2 10.0.0.12:8080 check port 9464\n');
    expect(cfg).toContain('    server n2 10.0.0.12:8080 track parley_ws/n2\n');
    expect(cfg.match(/ check port /g)).toHaveLength(3);
    expect(cfg).toMatch(/backend parley_ws\n(?:    #.*\n)*    balance leastconn\n/);
    expect(cfg).toContain('    option httpchk GET /readyz\n    http-check expect status 200\n');
    expect(cfg).toContain('    default-server inter 500ms fastinter 500ms downinter 500ms fall 2 rise 2\n');
    expect(cfg).toContain('    acl websocket path /ws\n');
    expect(cfg).toContain('    timeout tunnel 1h\n');
    expect(cfg).not.toContain('listen stats');
  });

  it('names every problem of a node list at once', () => {
    expect(backendProblems([])).toEqual(['at least one node is needed']);
    expect(backendProblems([
      { name: 'n 1', host: '10.0.0.1', port: 8080, opsPort: 9464 },
      { name: 'a', host: '10.0.0.2', port: 0, opsPort: 70_000 },
      { name: 'a', host: 'x y', port: 8080, opsPort: 9464 },
    ])).toEqual([
      'node name must be 1-64 of A-Z a-z 0-9 _ . -, got "n 1"',
      'node a: port must be 1-65535, got 0',
      'node a: opsPort must be 1-65535, got 70000',
      'node name "a" is used twice',
      'node a: host must be an address or a name, got "x y"',
    ]);
    expect(() => haproxyConfig({ ...HAPROXY_DEFAULTS, nodes: [] })).toThrow('cannot write an HAProxy configuration: at least one node is needed');
  });

  it.for<[string, Backend[], string | undefined]>([
    ['one node', THREE.slice(0, 1), undefined],
    ['three nodes and a stats page', THREE, '127.0.0.1:8404'],
    ['an IPv6 node', [{ name: 'v6', host: '::1', port: 8080, opsPort: 9464 }], undefined],
  ])('is accepted by haproxy -c for %s', async ([, nodes, stats], ctx) => {
    requires(ctx, 'haproxy (Debian package)', HAVE_HAPROXY);
    const file = path.join(tempDir('parley-haproxy-'), 'haproxy.cfg');
    fs.writeFileSync(file, haproxyConfig({ ...HAPROXY_DEFAULTS, nodes, stats }));
    expect(await checkConfig(file)).toBe('');
  });

  it('is refused by haproxy -c when broken (the check can fail)', async (ctx) => {
    requires(ctx, 'haproxy (Debian package)', HAVE_HAPROXY);
    const file = path.join(tempDir('parley-haproxy-'), 'haproxy.cfg');
    fs.writeFileSync(file, haproxyConfig({ ...HAPROXY_DEFAULTS, nodes: THREE }).replace('balance leastconn', 'balance fewest'));
    expect(await checkConfig(file)).toMatch(/^config : parsing \[.*haproxy\.cfg:\d+\] : balance only supports 'roundrobin'/);
  });
});

describe('real haproxy in front of real nodes', () => {
  it('sends every socket and REST request to the node whose /readyz answers 200, none to one that answers 503 (overloaded)', async (ctx) => {
    requires(ctx, 'haproxy (Debian package)', HAVE_HAPROXY);
    const ready = await testServer();
    // A heap bound of 1 MiB is always exceeded: the node refuses work and /readyz answers 503.
    const over = await testServer({ heapWatermarkMb: 1 });
    servers.push(ready, over);
    expect((await fetch(`${over.opsUrl}/readyz`)).status).toBe(503);
    const { port, socket } = await front([backend('ready', ready), backend('over', over)]);
    // HAProxy starts with every server up: the first two checks take the overloaded one out.
    await until(async () => (await state(socket, 'over')) === 'DOWN', 'HAProxy marks the overloaded node down', 3_000);
    expect(await state(socket, 'ready')).toBe('UP');
    for (let i = 0; i < 6; i++) {
      const c = await connect(ready, `user${i}`, { url: `ws://127.0.0.1:${port}/ws` });
      clients.push(c);
    }
    expect(ready.hub.size).toBe(6);
    expect(over.hub.size).toBe(0);
    const token = await ready.auth.mint('user0', 60);
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/chats`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    }
  });

  it('takes a draining node out of the pool within 2 s and puts it back within 2 s of its restart', async (ctx) => {
    requires(ctx, 'haproxy (Debian package)', HAVE_HAPROXY);
    const [port, opsPort] = [await freePort(), await freePort()];
    const a = await testServer({ port, opsPort });
    const b = await testServer();
    servers.push(b);
    const { socket } = await front([backend('a', a), backend('b', b)]);
    await until(async () => [...(await serverStates(socket)).values()].every((s) => s === 'UP'), 'both nodes up', 5_000);
    const t0 = Date.now();
    await a.close();
    await until(async () => (await state(socket, 'a')) === 'DOWN', 'HAProxy marks the drained node down', 2_000);
    const left = Date.now() - t0;
    const again = await testServer({ port, opsPort });
    servers.push(again);
    const t1 = Date.now();
    await until(async () => (await state(socket, 'a')) === 'UP', 'HAProxy marks the restarted node up', 2_000);
    expect(left).toBeLessThan(2_000);
    expect(Date.now() - t1).toBeLessThan(2_000);
  });
});
