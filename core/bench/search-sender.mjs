// bench:search's sender: a separate process, so the bench process's CPU is the node's alone.
// argv: wsUrl token count seed. Sends `count` messages to one peer with 64 in flight, then exits 0.
import WebSocket from 'ws';

const [url, token, countArg, seedArg] = process.argv.slice(2);
const count = Number(countArg);
let a = Number(seedArg) >>> 0;
const rand = () => {
  a = (a + 0x6d2b79f5) >>> 0;
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const SYL = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'to', 'vi', 'ze', 'po', 'da', 'fe', 'gu', 'hi', 'jo', 'qu'];
const word = () => { let w = ''; for (let n = Math.floor(1 / (rand() + 1e-4)); n > 0; n = Math.floor(n / SYL.length)) w += SYL[n % SYL.length]; return w; };
const bodies = Array.from({ length: count }, () => Array.from({ length: 4 + Math.floor(rand() * 20) }, word).join(' '));

const ws = new WebSocket(url, 'parley.v1', { headers: { authorization: `Bearer ${token}` } });
let sent = 0;
let acked = 0;
const send = () => { ws.send(JSON.stringify({ op: 'send', id: sent, to: 'peer', cmid: `c${sent}`, body: bodies[sent] })); sent++; };
ws.on('message', (data) => {
  const f = JSON.parse(data.toString());
  if (f.op === 'welcome') {
    process.send?.('start');
    for (let i = 0; i < 64 && sent < count; i++) send();
  } else if (f.op === 'ack') {
    if (++acked === count) { process.send?.('done'); ws.close(); return; }
    if (sent < count) send();
  } else if (f.op === 'error') {
    console.error(JSON.stringify(f));
    process.exit(1);
  }
});
ws.on('close', () => process.exit(0));
