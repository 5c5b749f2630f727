/** Deploying a build: a fresh pinned server that answers /readyz, stopped by the teardown with its data dir. */
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { requires } from '../../core/test/env.ts';
import { ROOT } from '../../core/test/helpers.ts';
import { deploy, pinPrefix, Teardown } from '../deploy.ts';
import { procSample, scrapeMetrics } from '../scrape.ts';

it('starts a server from a build on free loopback ports, pinned to its CPU, and the teardown stops it', async (ctx) => {
  requires(ctx, 'the compiled CLI (npm run build)', fs.existsSync(path.join(ROOT, 'dist/cli/main.js')));
  const teardown = new Teardown();
  const d = await deploy({ buildDir: ROOT, secret: 'x'.repeat(32), cpu: 1, teardown });
  try {
    expect(d.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    expect((await fetch(`${d.opsUrl}/readyz`)).status).toBe(200);
    expect(procSample(d.pid!)!.peakRssMb).toBeGreaterThan(10);
    if (pinPrefix(1).length) expect(fs.readFileSync(`/proc/${d.pid}/status`, 'utf8')).toMatch(/Cpus_allowed_list:\s+1\n/);
    // /metrics may not exist in every build: the scrape answers undefined, never throws.
    await scrapeMetrics(d.opsUrl);
  } finally {
    await teardown.run();
  }
  expect(procSample(d.pid!)).toBeUndefined();
  expect(() => process.kill(d.pid!, 0)).toThrow();
});
