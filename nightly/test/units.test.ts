/** History, change points, calibration, verdicts and the gate on literal inputs. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { calibrate, loadThresholds, saveCalibration } from '../calibrate.ts';
import { changePoints } from '../changepoint.ts';
import { compareBattery, verdictOf, type Row } from '../compare.ts';
import { decideGate, GATE_EXIT, validateWaivers } from '../gate.ts';
import { appendNight, historyFile, previousBuild, readHistory, type NightRecord } from '../history.ts';
import { METRIC_SPECS } from '../metrics.ts';
import { keyLine, lastLines } from '../battery.ts';
import { pruneOutput } from '../prune.ts';
import { renderIndex } from '../publish.ts';
import { groupDiscarded } from '../report.ts';
import { combineSpans, nodeFigures, serverFigures, type ServerSpan } from '../scrape.ts';
import { blockOrder } from '../session.ts';
import { nodeCpu } from '../cluster.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'parley-nightly-'));
const p50 = METRIC_SPECS.find((s) => s.key === 'deliver_ms.p50')!;

function row(over: Partial<Row>): Row {
  return {
    scenario: 'chat', metric: 'deliver_ms.p50', label: 'x', unit: 'ms', better: 'lower', gate: true, nBase: 8, nHead: 8, baseMedian: 10, headMedian: 10,
    ratio: 1, ci: { lo: 0.98, hi: 1.02 }, p: 1, q: 1, cliffsDelta: 0, threshold: 0.1, mde: 0.12, design: 'independent', verdict: 'unchanged', ...over,
  };
}

function night(i: number, over: Partial<NightRecord> = {}): NightRecord {
  return {
    schemaVersion: 1, id: `n${i}`, at: `2026-11-${String(i + 1).padStart(2, '0')}T02:00:00Z`, battery: 'smoke', mode: 'build', aa: false,
    base: { ref: 'a', commit: `c${i - 1}` }, head: { ref: 'b', commit: `c${i}` }, blocks: 4, runs: [], discarded: [], rows: [row({})],
    gate: { status: 'pass', exitCode: 0, reasons: [] }, environment: {}, ...over,
  };
}

describe('verdicts', () => {
  it('calls a significant 20% slowdown of a lower-is-better metric a regression', () => {
    expect(verdictOf(1.2, { lo: 1.15, hi: 1.25 }, 0.001, 0.1, 'lower', 0.05)).toBe('regression');
  });
  it('calls a significant 20% drop of a higher-is-better metric a regression', () => {
    expect(verdictOf(0.8, { lo: 0.75, hi: 0.85 }, 0.001, 0.1, 'higher', 0.05)).toBe('regression');
  });
  it('calls a significant change smaller than the threshold neither regression nor improvement', () => {
    expect(verdictOf(1.04, { lo: 1.02, hi: 1.06 }, 0.001, 0.1, 'lower', 0.05)).toBe('unchanged');
    expect(verdictOf(1.04, { lo: 0.95, hi: 1.15 }, 0.001, 0.1, 'lower', 0.05)).toBe('inconclusive');
  });
  it('compares a clearly separated sample pair as a regression with the exact p and Cliff delta of 1', () => {
    const [r] = compareBattery([{ scenario: 'chat', spec: p50, base: [10, 10.2, 9.9, 10.1, 10, 9.8, 10.3, 10.1], head: [13, 13.2, 12.9, 13.1, 13, 12.8, 13.3, 13.1] }], { seed: 'x' });
    expect(r!.verdict).toBe('regression');
    expect(r!.p).toBeCloseTo(2 / 12870, 12);
    expect(r!.cliffsDelta).toBe(1);
    expect(r!.ratio).toBeCloseTo(13.05 / 10.05, 12);
  });
  it('never calls a metric unchanged from run counts that could not have shown a regression (CI: two tight runs a side passed the gate)', () => {
    // Two runs a side: the exact test's smallest p is 1/3, so no regression can ever be significant.
    const tight = { scenario: 'chat', spec: p50, base: [10, 10.05], head: [10.02, 10.04] };
    const [few] = compareBattery([tight], { seed: 'x' });
    expect({ verdict: few!.verdict, mde: few!.mde }).toEqual({ verdict: 'inconclusive', mde: Infinity });
    expect(decideGate([few!], [], '2026-12-02').exitCode).toBe(3);
    // Six a side can reach significance: the same tightness is now a decision.
    const [enough] = compareBattery([{ ...tight, base: [10, 10.05, 10.01, 10.03, 9.99, 10.02], head: [10.02, 10.04, 10, 10.03, 10.01, 10.02] }], { seed: 'x' });
    expect(enough!.verdict).toBe('unchanged');
    expect(verdictOf(1.01, { lo: 1, hi: 1.02 }, 1, 0.1, 'lower', 0.05, false)).toBe('inconclusive');
  });
  it('compares pairs by their log ratios: a 4% change under a 30% swing of the machine is called, and the same data unpaired cannot decide', () => {
    // The machine's speed moves both runs of a pair; within a pair head is 4% (+-0.5%) slower.
    const speed = [1, 1.3, 0.8, 1.1, 0.7, 1.25, 0.9, 1.05, 1.2, 0.75];
    const base = speed.map((v) => 100 * v);
    const head = speed.map((v, i) => 100 * v * (1.04 + (i % 3 - 1) * 0.005));
    const cpu = { ...p50, key: 'server.cpu_ms_per_1k', threshold: 0.02 };
    const [paired] = compareBattery([{ scenario: 'chat', spec: cpu, base, head, paired: true }], { seed: 'x' });
    expect(paired!.design).toBe('paired');
    expect(paired!.p).toBeCloseTo(2 / 2 ** 10, 12);
    expect(paired!.ratio).toBeGreaterThan(1.035);
    expect(paired!.ratio).toBeLessThan(1.045);
    expect(paired!.ci.lo).toBeGreaterThan(1.03);
    expect(paired!.verdict).toBe('regression');
    const [unpaired] = compareBattery([{ scenario: 'chat', spec: cpu, base, head }], { seed: 'x' });
    expect(unpaired!.design).toBe('independent');
    expect(unpaired!.verdict).toBe('inconclusive');
  });
  it('calls a paired metric unchanged when its pairs come out equal (a count that reproduces exactly)', () => {
    const frames = { ...p50, key: 'signal_frames_per_user', threshold: 0.05 };
    const same = [40, 41, 40, 42, 40, 41, 40, 40, 41, 40];
    const [equal] = compareBattery([{ scenario: 'presence', spec: frames, base: same, head: [...same], paired: true }], { seed: 'x' });
    expect({ verdict: equal!.verdict, ci: equal!.ci, finite: Number.isFinite(equal!.mde) }).toEqual({ verdict: 'unchanged', ci: { lo: 1, hi: 1 }, finite: true });
    // Six of ten pairs equal, the rest within 2.5%: still a decision, not extra blocks up to the cap.
    const [most] = compareBattery([{ scenario: 'presence', spec: frames, base: same, head: same.map((v, i) => (i < 4 ? v * (i % 2 ? 1.025 : 0.98) : v)), paired: true }], { seed: 'x' });
    expect(most!.verdict).toBe('unchanged');
  });
  it('falls back to the two-sample test for a paired metric with a zero (a count has no log ratio)', () => {
    const [r] = compareBattery([{ scenario: 'chat', spec: p50, base: [0, 1, 2, 1, 0, 1], head: [1, 0, 1, 2, 1, 0], paired: true }], { seed: 'x' });
    expect(r!.design).toBe('independent');
    expect(r!.verdict).not.toBe('regression');
  });
  it('marks a metric with fewer than two runs a side as missing', () => {
    expect(compareBattery([{ scenario: 'chat', spec: p50, base: [1], head: [1, 2] }])[0]!.verdict).toBe('missing');
  });
  it('alternates blocks A B B A and B A A B', () => {
    expect([blockOrder(0), blockOrder(1)]).toEqual([['base', 'head', 'head', 'base'], ['head', 'base', 'base', 'head']]);
  });
});

describe('the gate', () => {
  it('passes unchanged rows with exit 0', () => {
    expect(decideGate([row({})], [], '2026-11-28').exitCode).toBe(GATE_EXIT.pass);
  });
  it('fails a regression with exit 1 unless a live waiver names it', () => {
    const reg = row({ verdict: 'regression', ratio: 1.3, q: 0.001 });
    expect(decideGate([reg], [], '2026-11-28')).toMatchObject({ status: 'regression', exitCode: 1 });
    const waiver = { scenario: 'chat', metric: 'deliver_ms.p50', reason: 'accepted cost of durable writes', expires: '2026-12-31' };
    expect(decideGate([reg], [waiver], '2026-11-28')).toMatchObject({ status: 'pass', waived: [{ scenario: 'chat', metric: 'deliver_ms.p50', reason: waiver.reason }] });
    expect(decideGate([reg], [{ ...waiver, expires: '2026-11-01' }], '2026-11-28')).toMatchObject({ status: 'regression', expiredWaivers: [{ expires: '2026-11-01' }] });
  });
  it('reports an inconclusive gating metric with exit 3 and ignores inconclusive non-gating ones', () => {
    expect(decideGate([row({ verdict: 'inconclusive' })], [], '2026-11-28').exitCode).toBe(3);
    expect(decideGate([row({ verdict: 'inconclusive', gate: false })], [], '2026-11-28').exitCode).toBe(0);
  });
  it('reports an infrastructure failure with exit 4 whatever the rows say', () => {
    expect(decideGate([row({ verdict: 'regression' })], [], '2026-11-28', 'build of head failed')).toMatchObject({ exitCode: 4, reasons: ['build of head failed'] });
  });
  it('passes a first night recorded as the baseline with exit 0 whatever its A/A rows say, unless it failed', () => {
    const rows = [row({ verdict: 'inconclusive' })];
    expect(decideGate(rows, [], '2026-01-01', undefined, 'first night')).toMatchObject({ status: 'baseline', exitCode: 0, reasons: ['first night'] });
    expect(decideGate(rows, [], '2026-01-01', 'build failed', 'first night').status).toBe('infrastructure');
  });
  it('rejects a waivers file naming every bad field', () => {
    expect(() => validateWaivers({ waivers: [{ scenario: 'chat', metric: '', reason: 'r', expires: '31/12/2026' }] })).toThrow(
      'waivers: invalid waivers:\n  waivers[0].metric must be a non-empty string\n  waivers[0].expires must be YYYY-MM-DD, got "31/12/2026"');
  });
});

describe('history', () => {
  it('appends nights as JSON lines, reads them back and skips lines of another schema', () => {
    const dir = tmp();
    appendNight(dir, night(1, { rows: [row({ mde: Infinity })] }));
    fs.appendFileSync(historyFile(dir), '{"schemaVersion":99}\nnot json\n');
    appendNight(dir, night(2));
    const { nights, skipped } = readHistory(dir);
    expect(nights.map((n) => n.id)).toEqual(['n1', 'n2']);
    expect(nights[0]!.rows[0]!.mde).toBeNull();
    expect(skipped).toBe(2);
  });
  it('ends a torn last line before appending, so the torn line is skipped and the new night is read', () => {
    const dir = tmp();
    appendNight(dir, night(1));
    fs.appendFileSync(historyFile(dir), '{"schemaVersion":1,"id":"torn","ru');
    appendNight(dir, night(2));
    expect(readHistory(dir)).toMatchObject({ nights: [{ id: 'n1' }, { id: 'n2' }], skipped: 1 });
    expect(fs.readdirSync(dir)).toEqual(['history.jsonl']);
  });
  it('takes the head of the latest built night as the previous build, skipping url-mode and failed nights', () => {
    expect(previousBuild([night(1), night(2, { mode: 'url' }), night(3, { gate: { status: 'infrastructure', exitCode: 4, reasons: [] } })])).toEqual({ ref: 'b', commit: 'c1' });
  });
});

describe('change points', () => {
  it('finds a 6% step at the first point after it and names nothing in flat noise', () => {
    const noise = [0.3, -0.5, 0.1, 0.6, -0.2, -0.4, 0.2, 0.5, -0.1, 0, -0.3, 0.4];
    const xs = [...noise.map((e) => 100 + e), ...noise.map((e) => 106 + e)];
    const cps = changePoints(xs);
    expect(cps.map((c) => c.index)).toEqual([12]);
    expect(cps[0]!.ratio).toBeCloseTo(106 / 100, 2);
    expect(changePoints([...noise, ...noise].map((e) => 100 + e))).toEqual([]);
  });
  it('finds slow creep of 1% a night only as a change, not per night', () => {
    const xs = Array.from({ length: 24 }, (_, i) => 100 * (i < 12 ? 1 : 1.01 ** (i - 11)) + [0.2, -0.2][i % 2]!);
    expect(changePoints(xs).length).toBeGreaterThanOrEqual(1);
  });
});

describe('calibration', () => {
  it('raises a threshold to three A/A spreads and stores it', () => {
    const ratios = [1.03, 0.97, 1.05, 0.95, 1.02, 0.98];
    const nights = ratios.map((r, i) => night(i, { aa: true, rows: [row({ ratio: r })] }));
    const cal = calibrate([...nights, night(9, { rows: [row({ ratio: 2 })] })], 'paired');
    expect(cal.sessions).toBe(6);
    const spread = cal.metrics['deliver_ms.p50']!.spread;
    expect(cal.metrics['deliver_ms.p50']!.threshold).toBeCloseTo(Math.expm1(3 * spread), 12);
    expect(spread).toBeGreaterThan(0.025);
    const dir = tmp();
    saveCalibration(dir, cal);
    expect(loadThresholds(dir, 'paired')).toEqual({ 'deliver_ms.p50': cal.metrics['deliver_ms.p50']!.threshold });
    // A pair's spread is not a serial run's: each design keeps its own thresholds.
    expect(loadThresholds(dir, 'serial')).toEqual({});
    saveCalibration(dir, calibrate(nights.slice(0, 3), 'serial'));
    expect(fs.readdirSync(dir).sort()).toEqual(['calibration-paired.json', 'calibration.json']);
    expect(loadThresholds(dir, 'paired')).toEqual({ 'deliver_ms.p50': cal.metrics['deliver_ms.p50']!.threshold });
  });
});

describe('pruning (--keep-nights)', () => {
  it('keeps the newest N night folders and the builds they used, and the index lists pruned nights without a link', () => {
    const out = tmp();
    const ids = ['2026-01-01T02-17-00Z', '2026-01-02T02-17-00Z', '2026-01-03T02-17-00Z'];
    for (const id of ids) fs.mkdirSync(path.join(out, 'nights', id, 'runs'), { recursive: true });
    fs.writeFileSync(path.join(out, 'nights', ids[2]!, 'report.html'), '');
    const commit = (c: string) => c.repeat(40);
    for (const c of ['a', 'b', 'c']) fs.mkdirSync(path.join(out, 'cache/builds', commit(c)), { recursive: true });
    const history = ids.map((id, i) => ({ ...night(i), id, base: { ref: 'x', commit: commit('abc'[i === 0 ? 0 : i - 1]!) }, head: { ref: 'y', commit: commit('abc'[i]!) } }));
    const pruned = pruneOutput(out, 1, history, { cacheDir: path.join(out, 'cache'), repo: out });
    expect(pruned).toEqual({ nights: ids.slice(0, 2), builds: [commit('a')] });
    expect(fs.readdirSync(path.join(out, 'nights'))).toEqual([ids[2]]);
    expect(fs.readdirSync(path.join(out, 'cache/builds')).sort()).toEqual([commit('b'), commit('c')]);
    const index = renderIndex(history, (id) => fs.existsSync(path.join(out, 'nights', id, 'report.html')));
    expect(index).toContain(`<a href="nights/${ids[2]}/report.html">`);
    expect(index).toContain(`${ids[0]} (pruned)`);
  });
});

describe('why a run was discarded', () => {
  it('keeps the telling lines of a crashed load and names its error', () => {
    const stderr = `node:internal/modules/cjs/loader:1228
  throw err;
  ^

Error: Cannot find module '/srv/parley/dist/dist/cli/main.js'
    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)
    at node:internal/main/run_main_module:28:49 {
  code: 'MODULE_NOT_FOUND',
  requireStack: []
}

Node.js v20.20.2
`;
    const tail = lastLines(stderr, 'ignored');
    expect(tail).toEqual(['  ^', "Error: Cannot find module '/srv/parley/dist/dist/cli/main.js'", "  code: 'MODULE_NOT_FOUND',", '  requireStack: []', '}']);
    expect(keyLine(tail)).toBe("Error: Cannot find module '/srv/parley/dist/dist/cli/main.js'");
    expect(lastLines('', 'a\n\nb\n')).toEqual(['a', 'b']);
  });
  it('counts identical discards once with their number', () => {
    const d = { side: 'base', scenario: 'dm', reason: 'r', tail: ['x'] };
    expect(groupDiscarded([d, d, { ...d, side: 'head' }])).toEqual([{ ...d, count: 2 }, { ...d, side: 'head', count: 1 }]);
  });
});

describe('a cluster as one server', () => {
  const node = (over: Partial<ServerSpan>): ServerSpan => ({ cpuSeconds: 1, elapsedS: 10, rssPeakMb: 100, lagP99Ms: 5, gcMs: 20, counters: { logins: 10 }, ...over });

  it('sums CPU, GC, peak RSS and counters over the nodes and keeps the worst event-loop lag', () => {
    const both = combineSpans([node({}), node({ cpuSeconds: 3, elapsedS: 11, rssPeakMb: 120, lagP99Ms: 9, gcMs: 40, counters: { logins: 12, bus_received: 4 } })]);
    expect(both).toEqual({ cpuSeconds: 4, elapsedS: 11, rssPeakMb: 220, lagP99Ms: 9, gcMs: 60, counters: { logins: 22, bus_received: 4 } });
    // 4 s of CPU for 2000 acknowledged sends: 2000 ms per 1k; over 11 s: 36.36% of one CPU.
    expect(serverFigures(both, 2000)).toEqual({
      'server.cpu_ms_per_1k': 2000, 'server.cpu_percent': 400 / 11, 'server.rss_peak_mb': 220, 'server.eventloop_lag_p99_ms': 9, 'server.gc_ms': 60, 'server.gc_ms_per_1k': 30,
    });
  });

  it('leaves out a figure that some node lacks instead of understating it', () => {
    const both = combineSpans([node({}), node({ cpuSeconds: undefined, rssPeakMb: undefined, lagP99Ms: undefined })]);
    expect(serverFigures(both, 1000)).toEqual({ 'server.eventloop_lag_p99_ms': 5, 'server.gc_ms': 40, 'server.gc_ms_per_1k': 40 });
  });

  it('keeps each node\'s own CPU time, share, memory, GC and counters for the report', () => {
    expect(nodeFigures(node({ cpuSeconds: 0.5 }))).toEqual({ cpu_ms: 500, cpu_percent: 5, rss_peak_mb: 100, gc_ms: 20, logins: 10 });
  });

  it('puts the nodes on the CPUs the load generator (CPU 0) does not use, sharing them when there are few', () => {
    expect([0, 1].map((i) => nodeCpu(i, 2))).toEqual([1, 1]);
    expect([0, 1].map((i) => nodeCpu(i, 4))).toEqual([1, 2]);
    expect([0, 1, 2].map((i) => nodeCpu(i, 3))).toEqual([1, 2, 1]);
  });
});
