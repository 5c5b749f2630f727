/** The command line's bad-input answers, and the server-side scraping on real input. */
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { UsageError } from '../../core/args.ts';
import { nightly } from '../cli.ts';
import { parsePrometheus, procSample, sumOf } from '../scrape.ts';

describe('parley nightly arguments', () => {
  it('lists every problem of a bad command line at once', async () => {
    const err = await nightly(['--battery', 'huge', '--blocks', '0', '--alpha', '2', '--frob', 'x', 'extra']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).problems).toEqual([
      'unexpected argument "extra"',
      'unknown flag --frob (see parley nightly --help)',
      '--battery must be one of smoke, nightly, got "huge"',
      '--blocks must be an integer in [1, 50], got "0"',
      '--alpha must be in (0, 0.5), got "2"',
    ]);
  });
  it('requires all four URLs and a secret when comparing running environments, and no refs', async () => {
    const err = await nightly(['--base-url', 'ws://127.0.0.1:1/ws', '--head', 'HEAD']).catch((e: unknown) => e) as UsageError;
    const saved = process.env.PARLEY_SECRET;
    expect(err.problems).toEqual([
      '--head-url is required when comparing running environments',
      '--base-ops-url is required when comparing running environments',
      '--head-ops-url is required when comparing running environments',
      '--base/--head (refs) and --base-url/--head-url (environments) exclude each other',
      ...(saved ? [] : ['--secret (or PARLEY_SECRET) is required to mint tokens for running environments']),
    ]);
  });
  it('names a bad deployment mode, PostgreSQL or Redis URL, and refuses --deploy for running environments', async () => {
    const err = await nightly(['--deploy', 'swarm', '--pg', 'mysql://x', '--redis', '127.0.0.1:6379']).catch((e: unknown) => e) as UsageError;
    expect(err.problems).toEqual([
      '--deploy must be one of single, cluster, got "swarm"',
      '--pg must be a postgres:// or postgresql:// URL, got "mysql://x"',
      '--redis must be a redis:// or rediss:// URL, got "127.0.0.1:6379"',
    ]);
    const url = await nightly(['--base-url', 'ws://a/ws', '--head-url', 'ws://b/ws', '--base-ops-url', 'http://a', '--head-ops-url', 'http://b', '--secret', 's', '--deploy', 'cluster'])
      .catch((e: unknown) => e) as UsageError;
    expect(url.problems).toEqual(['--deploy applies to builds; running environments (--base-url/--head-url) are deployed already']);
  });
  it('names a bad design, and refuses pairs of clusters or of one environment given twice', async () => {
    const err = await nightly(['--design', 'triple']).catch((e: unknown) => e) as UsageError;
    expect(err.problems).toEqual(['--design must be one of serial, paired, got "triple"']);
    const clusters = await nightly(['--deploy', 'cluster', '--design', 'paired']).catch((e: unknown) => e) as UsageError;
    expect(clusters.problems).toEqual(['--design paired cannot run with --deploy cluster: two clusters at once would share two cores; clusters run serially']);
    const env = ['--base-url', 'ws://a/ws', '--head-url', 'ws://a/ws', '--base-ops-url', 'http://a', '--head-ops-url', 'http://a', '--secret', 's'];
    const twice = await nightly([...env, '--design', 'paired']).catch((e: unknown) => e) as UsageError;
    expect(twice.problems).toEqual(["--design paired needs two environments: --base-ops-url and --head-ops-url are the same, so each run's server CPU would count both loads"]);
  });
  it('answers a usage error with exit 2 through the parley CLI', async () => {
    expect(await main(['nightly', '--battery', 'nope'])).toBe(2);
  });
});

describe('server-side figures', () => {
  it('parses Prometheus text and sums a histogram over its labels', () => {
    const m = parsePrometheus('# HELP x\nprocess_cpu_seconds_total 1.5\nnodejs_gc_duration_seconds_sum{kind="minor"} 0.25\nnodejs_gc_duration_seconds_sum{kind="major"} 0.5\n');
    expect(m.get('process_cpu_seconds_total')).toBe(1.5);
    expect(sumOf(m, 'nodejs_gc_duration_seconds_sum')).toBe(0.75);
    expect(sumOf(m, 'absent')).toBeUndefined();
  });
  it('reads CPU time and peak RSS of a live process from /proc', () => {
    const s = procSample(process.pid)!;
    expect(s.cpuSeconds).toBeGreaterThan(0);
    expect(s.peakRssMb).toBeGreaterThan(10);
    expect(procSample(2 ** 30)).toBeUndefined();
  });
});
