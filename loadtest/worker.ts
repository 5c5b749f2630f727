/**
 * Entry of a forked worker process: waits for its start message, runs its share of the plan and
 * reports slices and the final summary to the parent over IPC.
 */
import type { ParentMessage, WorkerMessage } from './messages.ts';
import { Runtime } from './runtime.ts';
import { loadScenario, type Scenario } from './scenario.ts';

const post = (m: WorkerMessage): void => { process.send?.(m); };
let runtime: Runtime | undefined;
let scenario: Scenario | undefined;

process.on('message', (m: ParentMessage) => {
  if (m.type === 'start') {
    void (async () => {
      try {
        scenario = await loadScenario(m.scenarioFile);
        runtime = new Runtime(m.start, post);
        await runtime.prepare();
        post({ type: 'ready', worker: m.start.worker });
      } catch (err) {
        post({ type: 'fatal', worker: m.start.worker, message: (err as Error).stack ?? String(err) });
        process.disconnect?.();
      }
    })();
  } else if (m.type === 'go' && runtime && scenario) {
    const worker = runtime;
    worker.run(scenario, m.at).catch((err: Error) => post({ type: 'fatal', worker: 0, message: err.stack ?? String(err) })).finally(() => process.disconnect?.());
  } else if (m.type === 'release') runtime?.release(m.name, m.at);
  else if (m.type === 'abort') runtime?.abort();
});

post({ type: 'up' });
