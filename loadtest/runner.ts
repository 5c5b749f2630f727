/**
 * The parent of a load run: forks one worker per core (or runs one in-process), starts them on a
 * common clock, releases barriers when every user reached them, merges slices as they arrive,
 * aborts on an abortOnFail threshold, and assembles the result with its validity and exit code.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aggregate, splitCounters } from './aggregate.ts';
import { now } from './clock.ts';
import type { HealthSnapshot } from './health.ts';
import type { LiveRun } from './metrics-server.ts';
import type { LoadOptions } from './options.ts';
import { buildPlan, segmentGroups } from './plan.ts';
import { EXIT_CODES, RESULT_SCHEMA_VERSION, type ExitCode, type LoadResult, type WorkerHealth } from './result.ts';
import type { ParentMessage, WorkerMessage } from './messages.ts';
import { Runtime } from './runtime.ts';
import type { Scenario } from './api.ts';
import { evaluate, observe, parseThresholds, passes, type Threshold } from './thresholds.ts';
import type { TokenSource } from './tokens.ts';

export interface RunInput {
  scenario: Scenario;
  scenarioFile: string;
  options: LoadOptions;
  tokens: TokenSource;
  /** Run the single worker inside this process (tests, benchmarks, debugging). */
  inProcess?: boolean;
  /** Called about once a second with running totals. */
  onProgress?: (p: Progress) => void;
  /** Aborting ends the schedule early (e.g. Ctrl-C); the drain and the result still happen. */
  signal?: AbortSignal;
  /** Filled and updated while the run goes on (the --metrics-port server reads it). */
  live?: LiveRun;
}

export interface Progress {
  elapsedMs: number;
  totals: Record<string, number>;
  p99AckMs: number | null;
  p99DeliverMs: number | null;
}

interface Worker {
  post(m: ParentMessage): void;
  kill(): void;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const EXT = path.extname(fileURLToPath(import.meta.url));

function forkWorker(onMessage: (m: WorkerMessage) => void, onExit: (code: number | null) => void): Worker {
  const execArgv = EXT === '.ts' ? ['--import', 'tsx'] : [];
  const child: ChildProcess = fork(path.join(HERE, `worker${EXT}`), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('message', (m) => onMessage(m as WorkerMessage));
  child.on('exit', (code) => onExit(code));
  return { post: (m) => child.send(m), kill: () => child.kill('SIGKILL') };
}

function gitSha(): string | null {
  try { return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: HERE, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { return null; }
}

/** Runs a scenario to completion and returns its result (never throws for target failures). */
export async function runLoad(input: RunInput): Promise<LoadResult> {
  const { options: o, scenario } = input;
  const thresholds = parseThresholds(o.thresholds);
  const plan = buildPlan({ users: o.users, groupSize: o.groupSize, arrivalRate: o.arrivalRate, arrival: o.arrival, seed: o.seed });
  const segUsers = segmentGroups(plan.groups, o.segment).reduce((n, g) => n + g.members.length, 0);
  const workerCount = input.inProcess ? 1 : Math.max(1, Math.min(o.workers, Math.ceil(segUsers / 2) || 1));
  const agg = new Aggregate();
  const infra: string[] = [];
  const invalid: string[] = [];
  const health = new Map<number, HealthSnapshot & { users: number }>();
  const totals = new Map<number, Record<string, number>>();
  const barriers = new Map<string, { reached: Map<number, number>; released: boolean; timer: NodeJS.Timeout }>();
  let aborted: LoadResult['aborted'] = null;
  const startedAt = new Date();
  let startAt = 0;
  let finished = 0;
  let resolveDone!: () => void;
  const allDone = new Promise<void>((r) => (resolveDone = r));
  const workers: Worker[] = [];
  let up = 0;
  let resolveUp!: () => void;
  const allUp = new Promise<void>((r) => (resolveUp = r));
  let ready = 0;
  let resolveReady!: () => void;
  const allReady = new Promise<void>((r) => (resolveReady = r));
  const live = input.live ? Object.assign(input.live, { aggregate: agg, totals, workers: workerCount, users: segUsers, phase: 'starting' }) : undefined;

  const broadcast = (m: ParentMessage) => { for (const w of workers) w.post(m); };
  const release = (name: string) => {
    const b = barriers.get(name);
    if (!b || b.released) return;
    b.released = true;
    clearTimeout(b.timer);
    broadcast({ type: 'release', name, at: now() + 20 });
  };
  const abortable = thresholds.filter((t) => t.abortOnFail);
  const checkAbort = () => {
    if (aborted || !abortable.length) return;
    const elapsed = now() - startAt;
    const n = agg.length;
    for (const t of abortable) {
      if (elapsed < t.delayAbortEvalMs) continue;
      const span = t.windowMs === undefined ? n : Math.ceil(t.windowMs / o.sliceMs);
      const sample = agg.sample(Math.max(0, n - span), n);
      if (!passes(t, observe(t, sample))) {
        aborted = { reason: `threshold ${t.metric}: ${t.expression} failed${t.windowMs ? ` over the last ${t.windowMs} ms` : ''}`, atMs: Math.round(elapsed) };
        broadcast({ type: 'abort', reason: aborted.reason });
        if (live) live.phase = 'aborting';
        return;
      }
    }
  };

  const onMessage = (m: WorkerMessage) => {
    switch (m.type) {
      case 'up':
        if (++up === workerCount) resolveUp();
        return;
      case 'ready':
        if (++ready === workerCount) resolveReady();
        return;
      case 'slice':
        agg.add(m.slice.index, m.slice.hdr, m.slice.counters);
        totals.set(m.worker, m.totals);
        checkAbort();
        return;
      case 'barrier': {
        let b = barriers.get(m.name);
        if (!b) {
          const timer = setTimeout(() => {
            const reached = [...b!.reached.values()].reduce((a, x) => a + x, 0);
            invalid.push(`barrier "${m.name}" timed out after ${o.barrierTimeoutMs} ms with ${reached}/${segUsers} users`);
            release(m.name);
          }, o.barrierTimeoutMs);
          barriers.set(m.name, (b = { reached: new Map(), released: false, timer }));
        }
        b.reached.set(m.worker, m.reached);
        if ([...b.reached.values()].reduce((a, x) => a + x, 0) >= segUsers) release(m.name);
        return;
      }
      case 'fatal':
        infra.push(`worker ${m.worker}: ${m.message.split('\n')[0]}`);
        // A worker that failed before the start would hold the others forever.
        if (!startAt && ++ready === workerCount) resolveReady();
        return;
      case 'done':
        agg.add(m.final.index, m.final.hdr, m.final.counters);
        totals.set(m.worker, m.totals);
        health.set(m.worker, { ...m.health, users: m.users });
        if (++finished === workerCount) resolveDone();
        return;
    }
  };

  if (input.inProcess) {
    let rt: Runtime | undefined;
    workers.push({
      post: (m) => {
        if (m.type === 'start') {
          rt = new Runtime(m.start, onMessage);
          void rt.prepare().then(() => onMessage({ type: 'ready', worker: 0 }));
        } else if (m.type === 'go') void rt!.run(input.scenario, m.at).catch((err: Error) => onMessage({ type: 'fatal', worker: 0, message: err.message }));
        else if (m.type === 'release') rt?.release(m.name, m.at);
        else if (m.type === 'abort') rt?.abort();
      },
      kill: () => {},
    });
    resolveUp();
  } else {
    for (let w = 0; w < workerCount; w++) {
      workers.push(forkWorker(onMessage, (code) => {
        if (!health.has(w)) {
          infra.push(`worker ${w} exited with ${code} before reporting`);
          if (++finished === workerCount) resolveDone();
        }
      }));
    }
  }
  input.signal?.addEventListener('abort', () => {
    if (aborted) return;
    aborted = { reason: 'interrupted', atMs: Math.round(now() - startAt) };
    broadcast({ type: 'abort', reason: 'interrupted' });
    if (live) live.phase = 'aborting';
  }, { once: true });
  await allUp;
  workers.forEach((w, i) => w.post({ type: 'start', scenarioFile: input.scenarioFile, start: { options: o, tokens: input.tokens, worker: i, workers: workerCount } }));
  await allReady;
  startAt = now() + 50;
  if (live) Object.assign(live, { startAt, phase: 'running' });
  if (infra.length) { for (const w of workers) w.kill(); resolveDone(); } else broadcast({ type: 'go', at: startAt });

  const progressTimer = setInterval(() => {
    const sum: Record<string, number> = {};
    for (const t of totals.values()) for (const [k, v] of Object.entries(t)) sum[k] = (sum[k] ?? 0) + v;
    const ack = agg.whole('ack_ms');
    const del = agg.whole('deliver_ms');
    input.onProgress?.({
      elapsedMs: now() - startAt, totals: sum,
      p99AckMs: ack?.totalCount ? ack.getValueAtPercentile(99) / 1000 : null,
      p99DeliverMs: del?.totalCount ? del.getValueAtPercentile(99) / 1000 : null,
    });
  }, 1000);
  await allDone;
  if (live) live.phase = 'done';
  clearInterval(progressTimer);
  for (const b of barriers.values()) clearTimeout(b.timer);
  const endedAt = new Date();

  const workerHealth: WorkerHealth[] = [...health].sort(([a], [b]) => a - b).map(([w, h]) => ({ worker: `${o.segment.index}/${o.segment.count}#${w}`, ...h }));
  for (const h of workerHealth) {
    if (h.scheduleLagP99Ms > o.maxLagMs) invalid.push(`generator ${h.worker} fell behind: schedule lag p99 ${h.scheduleLagP99Ms} ms > ${o.maxLagMs} ms`);
    const worst = h.scheduleLagWorstSliceP99Ms ?? 0;
    if (worst > o.maxSliceLagMs) invalid.push(`generator ${h.worker} stalled: schedule lag p99 ${worst} ms in its worst ${o.sliceMs} ms slice > ${o.maxSliceLagMs} ms`);
    if (h.cpuPercent > o.maxCpuPercent) invalid.push(`generator ${h.worker} ran at ${h.cpuPercent.toFixed(0)}% CPU > ${o.maxCpuPercent}%`);
  }
  const { counters, errorsByCode } = splitCounters(agg.counters());
  if (scenario.user && segUsers > 0 && (counters.connects ?? 0) === 0) infra.push(`no simulated user could connect to ${o.target} (${Object.entries(errorsByCode).map(([k, v]) => `${k}: ${v}`).join(', ') || 'no answer'})`);
  const partial: Pick<LoadResult, 'metrics' | 'counters' | 'errorsByCode' | 'slices'> = {
    metrics: agg.metrics(), counters, errorsByCode, slices: { sliceMs: o.sliceMs, items: agg.slices(o.sliceMs) },
  };
  return finalize({
    schemaVersion: RESULT_SCHEMA_VERSION,
    tool: 'parley-load',
    scenario: scenario.name,
    target: o.target,
    options: { ...o, segment: `${o.segment.index}/${o.segment.count}`, workers: workerCount },
    segments: [`${o.segment.index}/${o.segment.count}`],
    seed: o.seed,
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    durationMs: endedAt.getTime() - startedAt.getTime(),
    environment: { host: os.hostname(), node: process.version, platform: `${process.platform}-${process.arch}`, cpus: os.availableParallelism(), gitSha: gitSha() },
    validity: { valid: invalid.length === 0, reasons: invalid },
    health: { workers: workerHealth },
    ...partial,
    thresholds: [],
    aborted,
    exitCode: EXIT_CODES.pass,
    exitReason: '',
  }, thresholds, infra);
}

/** Evaluates thresholds and decides the exit code: infrastructure > invalid > thresholds > pass. */
export function finalize(r: LoadResult, thresholds: readonly Threshold[], infra: readonly string[] = []): LoadResult {
  r.thresholds = evaluate(thresholds, r);
  const failed = r.thresholds.filter((t) => !t.passed);
  let code: ExitCode = EXIT_CODES.pass;
  let reason = 'all thresholds passed';
  if (infra.length) { code = EXIT_CODES.infrastructure; reason = `infrastructure failure: ${infra.join('; ')}`; }
  else if (!r.validity.valid) { code = EXIT_CODES.invalid; reason = `invalid run: ${r.validity.reasons.join('; ')}`; }
  else if (failed.length) { code = EXIT_CODES.thresholds; reason = `thresholds failed: ${failed.map((t) => `${t.metric} ${t.expression}${t.windowMs ? ` (window ${t.windowMs} ms)` : ''}`).join(', ')}`; }
  r.exitCode = code;
  r.exitReason = reason;
  return r;
}
