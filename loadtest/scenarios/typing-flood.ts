/**
 * typing-flood: people type in bursts; every keystroke burst becomes a typing signal to the peer.
 * Pairs open a 1:1 chat, then both alternate typing start/stop at a high pace; the server throttles
 * and never persists them. Gates on the latency of a signal reaching the peer. Needs `typing`.
 */
import { defineScenario } from '../api.ts';

export default defineScenario({
  name: 'typing-flood',
  story: 'Pairs in a 1:1 chat alternate typing start/stop several times a second; signals must reach the peer fast and are never stored.',
  options: {
    users: 400,
    arrivalRate: 400,
    groupSize: 2,
    duration: '30s',
    messageRate: 2,
    thresholds: {
      typing_ms: ['p(99)<250'],
      errors: ['rate<0.01'],
    },
  },
  async user(u, run) {
    await u.connect();
    await run.barrier('connected');
    // The 1:1 chat exists once its first message is acknowledged.
    if (u.isLeader) {
      await run.converse(u, { count: 1, rate: 1000 });
      await run.idle(u);
    }
    await run.barrier('chat');
    const chat = run.directChat(u);
    // The first signal is a request, so an older node's unknown_op ends the run with a clear reason.
    await u.request('typing', { chat, state: 'stop' });
    // Bursts: start, stop, start... (a repeated "start" is coalesced by the server, a change is not).
    let typing = false;
    await run.every(run.options.messageRate, (intended) => {
      typing = !typing;
      run.signal(u, 'typing', { chat, state: typing ? 'start' : 'stop' }, intended);
    });
  },
});
