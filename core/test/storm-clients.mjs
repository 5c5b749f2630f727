// Worker thread for presence-storm.test.ts: holds the storm's 1,000 client sockets on its own
// thread (as real clients would be on other machines), so the server's thread is measured alone.
import { parentPort } from 'node:worker_threads';
import WebSocket from 'ws';

let sockets = [];

function open(url, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'parley.v1', { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.once('message', () => resolve(ws));
    ws.once('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

parentPort.on('message', async (msg) => {
  try {
    if (msg.cmd === 'connect') {
      for (let i = 0; i < msg.tokens.length; i += 100) sockets.push(...(await Promise.all(msg.tokens.slice(i, i + 100).map((t) => open(msg.url, t)))));
      parentPort.postMessage({ cmd: 'connected' });
    } else if (msg.cmd === 'storm') {
      // Every connection drops at once; user i is back after i * spreadMs / n ms. backAt: ms after the drop.
      const t0 = Date.now();
      for (const ws of sockets) ws.terminate();
      sockets = [];
      const n = msg.tokens.length;
      const backAt = new Array(n).fill(-1);
      await Promise.all(msg.tokens.map((t, i) => sleep((i * msg.spreadMs) / n).then(() => open(msg.url, t)).then((ws) => { sockets.push(ws); backAt[i] = Date.now() - t0; })));
      parentPort.postMessage({ cmd: 'back', t0, backAt });
    } else if (msg.cmd === 'close') {
      for (const ws of sockets) ws.terminate();
      parentPort.postMessage({ cmd: 'closed' });
    }
  } catch (err) {
    parentPort.postMessage({ cmd: 'error', message: String(err) });
  }
});
