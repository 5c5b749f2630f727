/**
 * The benchmark's raw ws sink (a separate process, so its sockets do not count against the
 * generator's file limit): welcome on connect, synced on sync, ack on send; nothing persisted.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, handleProtocols: () => 'parley.v1', backlog: 4096 });
wss.on('connection', (ws) => {
  ws.send('{"op":"welcome","session":"s","user":"u","protocol":1,"heartbeatMs":25000,"limits":{}}');
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('{"op":"send"')) {
      // The frame is built by the generator with id == cmid first: cut it out without parsing JSON.
      const from = text.indexOf('"id":"') + 6;
      const cmid = text.slice(from, text.indexOf('"', from));
      ws.send(`{"op":"ack","id":"${cmid}","chat":"d:a:b","seq":1,"cmid":"${cmid}","ts":0}`);
    } else if (text.includes('"op":"sync"')) {
      const id = /"id":(\d+)/.exec(text)?.[1];
      ws.send(`{"op":"synced","id":${id},"chats":{}}`);
    }
  });
});
wss.on('listening', () => process.send?.({ port: (wss.address() as AddressInfo).port }));
