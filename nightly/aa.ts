/**
 * Measures what the gate can decide on this machine: runs N real A/A sessions (the same build on
 * both sides) of a battery, then simulates sessions from the measured per-run noise through the
 * same compare and adaptive rounds, with and without a shift of the primary metrics. Writes the
 * real pass rate, per-metric spread, simulated A/A pass rate and power to a JSON file, and the
 * spread with each metric's reachable MDE as a markdown table (aa-<battery>.md).
 *
 *   npm run nightly:calibrate -- --sessions 10 --battery smoke --out aa-smoke [--ref HEAD] [--simulate 20] [--shift 0.05]
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BATTERIES, DESIGNS, type Battery, type Design } from './batteries.ts';
import { pairedValues, samplesOf, scenarioSpecs } from './battery.ts';
import { nightly } from './cli.ts';
import { compareBattery, logRatios, type Row, type Sample } from './compare.ts';
import { decideGate } from './gate.ts';
import { readHistory, type NightRecord } from './history.ts';
import type { MetricSpec } from './metrics.ts';
import { adaptiveSession, blockOrder, PAIRS_PER_BLOCK } from './session.ts';
import { designOf } from './trends.ts';
import { sd } from './stats/describe.ts';
import { pairedMinimumDetectableEffect, pairedStandardError } from './stats/mde.ts';
import { mulberry32, normal } from './stats/prng.ts';

/**
 * Per scenario x metric: the spread of log run values within a side, pooled over sessions, and for
 * paired nights the spread of the pairs' log ratios log(head / base), the noise a paired verdict
 * sees (what both runs of a pair share cancels in it).
 */
export interface Spread {
  scenario: string; metric: string; primary: boolean; runs: number; sigmaLog: number; cvPercent: number;
  /** Pairs measured, and the SD of their log ratios (pooled over nights around each night's mean); absent for serial nights. */
  pairs?: number; pairSigmaLog?: number;
}

/** Pooled within-side SD of log run values of every metric of the given A/A nights. */
export function measuredSpread(nights: readonly NightRecord[], battery: Battery): Spread[] {
  const out: Spread[] = [];
  for (const sc of battery.scenarios) for (const spec of scenarioSpecs(sc)) {
    let ss = 0;
    let dof = 0;
    let runs = 0;
    for (const n of nights) for (const side of ['base', 'head'] as const) {
      const logs = n.runs.filter((r) => r.scenario === sc.name && r.side === side && r.metrics[spec.key]! > 0).map((r) => Math.log(r.metrics[spec.key]!));
      if (logs.length < 2) continue;
      ss += sd(logs) ** 2 * (logs.length - 1);
      dof += logs.length - 1;
      runs += logs.length;
    }
    if (dof === 0) continue;
    const sigmaLog = Math.sqrt(ss / dof);
    let pss = 0;
    let pdof = 0;
    let pairs = 0;
    for (const n of nights) {
      // As the comparison takes them: a night with a zero in this metric was not compared pair by pair.
      const d = logRatios({ ...pairedValues(n.runs, sc.name, spec.key), paired: true });
      if (!d || d.length < 2) continue;
      pss += sd(d) ** 2 * (d.length - 1);
      pdof += d.length - 1;
      pairs += d.length;
    }
    out.push({
      scenario: sc.name, metric: spec.key, primary: spec.gate, runs, sigmaLog, cvPercent: 100 * Math.sqrt(Math.exp(sigmaLog ** 2) - 1),
      ...(pdof ? { pairs, pairSigmaLog: Math.sqrt(pss / pdof) } : {}),
    });
  }
  return out;
}

/**
 * A recorded night judged again with the battery as defined now (its primaries, thresholds and
 * design), from the runs it kept: the gate's exit code and the rows. How a change of the primary
 * split is checked against nights already measured.
 */
export function rejudge(night: NightRecord, battery: Battery): { exitCode: number; rows: Row[] } {
  const rows = compareBattery(samplesOf(night.runs, battery, designOf(night) === 'paired'), { seed: `${night.base.commit}|${night.head.commit}` });
  return { exitCode: decideGate(rows, [], '2000-01-01').exitCode, rows };
}

/** The battery's spec of a spread's scenario and metric. */
function specLookup(battery: Battery): (s: Pick<Spread, 'scenario' | 'metric'>) => MetricSpec {
  const specs = new Map(battery.scenarios.map((sc) => [sc.name, scenarioSpecs(sc)]));
  return (s) => specs.get(s.scenario)!.find((x) => x.key === s.metric)!;
}

/**
 * One simulated session of `battery` with lognormal runs of the measured spread; `shift` makes the
 * head's primary metrics (or those `shifted` picks) worse by that fraction. Returns the gate's exit code and the rows. A paired
 * battery draws each pair as a shared level (the within-side spread) times a per-pair log ratio of
 * the measured pair spread, and is compared pair by pair as the pipeline does.
 */
export async function simulatedSession(battery: Battery, spread: readonly Spread[], seed: number, shift = 0, shifted: (s: Spread) => boolean = (s) => s.primary) {
  const rand = mulberry32(seed);
  const data = new Map(spread.map((s) => [`${s.scenario}|${s.metric}`, { base: [] as number[], head: [] as number[] }]));
  const specOf = specLookup(battery);
  const paired = battery.design === 'paired';
  const missing = spread.filter((s) => s.pairSigmaLog === undefined).map((s) => `${s.scenario} ${s.metric}`);
  if (paired && missing.length) throw new Error(`a paired battery needs the pair spread of every metric; none measured for ${missing.join(', ')}`);
  const worseOf = (s: Spread) => {
    const spec = specOf(s);
    return shifted(s) ? (spec.better === 'lower' ? 1 + shift : 1 / (1 + shift)) : 1;
  };
  const runBlock = (b: number) => {
    if (paired) {
      for (let p = 0; p < PAIRS_PER_BLOCK; p++) for (const s of spread) {
        const level = s.sigmaLog * normal(rand);
        const d = s.pairSigmaLog! * normal(rand);
        const x = data.get(`${s.scenario}|${s.metric}`)!;
        x.base.push(100 * Math.exp(level - d / 2));
        x.head.push(100 * Math.exp(level + d / 2) * worseOf(s));
      }
      return;
    }
    for (const side of blockOrder(b)) {
      for (const s of spread) data.get(`${s.scenario}|${s.metric}`)![side].push(100 * Math.exp(s.sigmaLog * normal(rand)) * (side === 'head' ? worseOf(s) : 1));
    }
  };
  const evaluate = () => compareBattery(spread.map((s): Sample => ({ scenario: s.scenario, spec: specOf(s), ...data.get(`${s.scenario}|${s.metric}`)!, paired })), { resamples: 1000, seed: String(seed) });
  const { rows } = await adaptiveSession(battery.plan, runBlock, evaluate);
  return { exitCode: decideGate(rows, [], '2000-01-01').exitCode, rows };
}

/**
 * The spread as a markdown table: per metric its role and threshold, the within-side spread, the
 * pair spread and the MDE the battery's first blocks reach with it, and whether the metric is
 * precise enough to gate at its threshold here: an A/A night leaves it `unchanged` (its whole
 * 95% interval within the threshold) in at least 99 of 100 nights, i.e. the threshold is at least
 * (1.96 + 2.33) standard errors of the paired estimate.
 */
export function spreadTable(battery: Battery, spread: readonly Spread[], alpha = 0.05): string {
  const specOf = specLookup(battery);
  const family = (primary: boolean) => spread.filter((s) => s.primary === primary).length;
  const pairs = battery.plan.initialBlocks * PAIRS_PER_BLOCK;
  const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'n/a' : `${(100 * v).toFixed(1)}%`);
  const lines = [
    `| scenario | metric | role | threshold | spread per run (CV) | pair spread (SD of log ratio) | MDE at ${pairs} pairs | gates at its threshold |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const s of spread) {
    const { threshold } = specOf(s);
    const mde = s.pairSigmaLog === undefined ? NaN : pairedMinimumDetectableEffect({ pairs, sigmaLog: s.pairSigmaLog, threshold, alpha, tests: family(s.primary) });
    const precise = s.pairSigmaLog === undefined ? undefined : Math.log1p(threshold) >= (1.96 + 2.33) * pairedStandardError(s.pairSigmaLog, pairs);
    lines.push(`| ${s.scenario} | \`${s.metric}\` | ${s.primary ? 'primary' : 'secondary'} | ${pct(threshold)} | ${s.cvPercent.toFixed(1)}% | ${pct(s.pairSigmaLog)} | ${pct(mde)} | ${precise === undefined ? 'n/a' : precise ? 'yes' : 'no'} |`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: false,
    options: { sessions: { type: 'string', default: '10' }, battery: { type: 'string', default: 'smoke' }, out: { type: 'string', default: 'nightly-aa' }, ref: { type: 'string', default: 'HEAD' }, simulate: { type: 'string', default: '20' }, shift: { type: 'string', default: '0.05' } },
  });
  const battery = BATTERIES[String(values.battery)];
  if (!battery) { console.error(`--battery must be one of ${Object.keys(BATTERIES).join(', ')}`); return 2; }
  // The design the sessions run with (a --design passed on to parley nightly, else the battery's):
  // only A/A nights of that design are pooled, and the simulation replays that design.
  const passed = positionals.map(String);
  const at = passed.indexOf('--design');
  const design = (at >= 0 ? passed[at + 1] : battery.design ?? 'serial') as Design;
  if (!DESIGNS.includes(design)) { console.error(`--design must be one of ${DESIGNS.join(', ')}`); return 2; }
  const measured: Battery = { ...battery, design };
  const out = path.resolve(String(values.out));
  const sessions = Number(values.sessions);
  const codes: number[] = [];
  for (let i = 0; i < sessions; i++) {
    console.error(`A/A session ${i + 1} of ${sessions} (${battery.name})`);
    codes.push(await nightly(['--base', String(values.ref), '--head', String(values.ref), '--battery', battery.name, '--out', out, ...passed]));
  }
  const nights = readHistory(out).nights.filter((n) => n.aa && n.battery === battery.name && n.gate.status !== 'infrastructure' && designOf(n) === design);
  const spread = measuredSpread(nights, measured);
  const simulate = Number(values.simulate);
  const shift = Number(values.shift);
  const sim = { aaPass: 0, caught: 0 };
  for (let s = 0; s < simulate; s++) {
    if ((await simulatedSession(measured, spread, 1000 + s)).exitCode === 0) sim.aaPass++;
    if ((await simulatedSession(measured, spread, 5000 + s, shift)).exitCode === 1) sim.caught++;
  }
  const rejudged = nights.map((n) => rejudge(n, measured).exitCode);
  const report = {
    battery: battery.name, design, at: new Date().toISOString(), ref: values.ref,
    real: {
      sessions, exitCodes: codes, passed: codes.filter((c) => c === 0).length, aaNightsInHistory: nights.length,
      // Every A/A night of the history judged with the battery as defined now.
      rejudgedExitCodes: rejudged, rejudgedPassed: rejudged.filter((c) => c === 0).length,
    },
    spread,
    simulated: { sessions: simulate, aaPassed: sim.aaPass, shift, caught: sim.caught },
  };
  fs.writeFileSync(path.join(out, `aa-${battery.name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(path.join(out, `aa-${battery.name}.md`), spreadTable(measured, spread));
  console.log(`real A/A: ${report.real.passed}/${sessions} passed (all ${nights.length} A/A nights judged now: ${report.real.rejudgedPassed} pass); simulated A/A: ${sim.aaPass}/${simulate} passed; simulated +${(shift * 100).toFixed(0)}% on primaries: ${sim.caught}/${simulate} caught; ${path.join(out, `aa-${battery.name}.json`)}`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main(process.argv.slice(2));
