/**
 * Entry of a forked worker process: waits for its start message, runs its share of the plan and
 * reports slices and the final summary to the parent over IPC.
 */
import { Runtime, type ParentMessage, type WorkerMessage } from './runtime.ts';
import { loadScenario } from './scenario.ts';

const post = (m: WorkerMessage): void => { process.send?.(m); };
let runtime: Runtime | undefined;

process.on('message', (m: ParentMessage) => {
  if (m.type === 'start') {
    void (async () => {
      try {
        const scenario = await loadScenario(m.scenarioFile);
        runtime = new Runtime(m.start, post);
        await runtime.run(scenario);
      } catch (err) {
        post({ type: 'fatal', worker: m.start.worker, message: (err as Error).stack ?? String(err) });
      }
      process.disconnect?.();
    })();
  } else if (m.type === 'release') runtime?.release(m.name, m.at);
  else if (m.type === 'abort') runtime?.abort();
});

post({ type: 'up' });
