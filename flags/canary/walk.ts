/**
 * `parley canary`: observe a flag's rollout step, judge, then widen (a pass), hold (not enough
 * evidence: observe one more interval, up to maxHolds), or roll back to 0% at once (a fail), in the
 * flags file or in Unleash. Every decision is printed with its evidence and posted to the nightly's
 * webhook and email.
 */
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { slackPayload, type Delivery } from '../../nightly/publish.ts';
import { rolloutText } from '../../cli/flags.ts';
import { readFeatures } from '../../core/ops/flags/flags.ts';
import type { UnleashAdmin } from '../unleash.ts';
import type { Guard } from './guards.ts';
import { evidenceTable, judge, type JudgeOptions, type Judgement } from './judge.ts';
import type { MetricsSource, Snapshot } from './source.ts';

/** Exit codes of `parley canary`. */
export const CANARY_EXIT = { widened: 0, rolledBack: 1, usage: 2, stopped: 3, infrastructure: 4 } as const;

/** Where the rollout percentage lives. */
export interface RolloutTarget {
  readonly describe: string;
  get(flag: string): Promise<number | undefined>;
  set(flag: string, percent: number): Promise<void>;
}

/** The flags file every node reads (shared path or synced copy): edited in place, renamed whole. */
export function fileTarget(file: string): RolloutTarget {
  return {
    describe: `flags file ${file}`,
    async get(flag) {
      const f = readFeatures(file).features.find((x) => x.name === flag) as { strategies: { name: string; parameters?: Record<string, string> }[] } | undefined;
      const s = f?.strategies.find((x) => x.name === 'flexibleRollout' || x.name.startsWith('gradualRollout'));
      return s ? Number(s.parameters?.rollout ?? s.parameters?.percentage) : undefined;
    },
    async set(flag, percent) {
      const next = rolloutText(fs.readFileSync(file, 'utf8'), flag, percent);
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, next);
      fs.renameSync(tmp, file);
    },
  };
}

export function unleashTarget(admin: UnleashAdmin): RolloutTarget {
  return { describe: `Unleash project ${admin.project} (${admin.environment})`, get: (f) => admin.rollout(f), set: (f, p) => admin.setRollout(f, p) };
}

export interface WalkOptions {
  guard: Guard;
  source: MetricsSource;
  /** Where to widen and roll back; without it the canary only judges (no --steps). */
  target?: RolloutTarget;
  /** Rollout percentages, ascending, the last one 100; empty: judge the current rollout once. */
  steps: number[];
  /** Observation per judgement. */
  intervalMs: number;
  /** Length of one sample (non-overlapping). */
  sampleMs: number;
  /** Skipped after each change, while the nodes follow it. */
  settleMs: number;
  /** Extra intervals a step may hold before the canary stops. */
  maxHolds: number;
  judge: JudgeOptions;
  delivery?: Delivery;
  /** Where .eml files go when there is no SMTP server. */
  outDir?: string;
  print?: (line: string) => void;
  signal?: AbortSignal;
}

export interface WalkResult { code: number; final: string; decisions: { step: number; outcome: string; reason: string }[] }

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

async function observe(o: WalkOptions, ms: number): Promise<Snapshot[]> {
  const snaps: Snapshot[] = [await o.source.snapshot(o.guard)];
  const end = Date.now() + ms;
  while (Date.now() < end && !o.signal?.aborted) {
    await sleep(Math.min(o.sampleMs, end - Date.now()), o.signal);
    snaps.push(await o.source.snapshot(o.guard));
  }
  return snaps;
}

async function post(o: WalkOptions, subject: string, text: string): Promise<string[]> {
  const warnings: string[] = [];
  const d = o.delivery ?? {};
  if (d.webhookUrl) {
    try {
      const res = await fetch(d.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(slackPayload(subject, text)), signal: AbortSignal.timeout(10_000) });
      if (!res.ok) warnings.push(`webhook answered ${res.status}`);
    } catch (err) {
      warnings.push(`webhook failed: ${(err as Error).message}`);
    }
  }
  const message = { from: d.emailFrom ?? 'parley-canary@localhost', to: d.emailTo ?? 'release@localhost', subject, text };
  try {
    if (d.smtpUrl) await nodemailer.createTransport(d.smtpUrl).sendMail(message);
    else if (o.outDir) {
      const info = await nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }).sendMail(message);
      fs.mkdirSync(o.outDir, { recursive: true });
      fs.writeFileSync(path.join(o.outDir, `canary-${o.guard.flag}-${Date.now()}.eml`), info.message as Buffer);
    }
  } catch (err) {
    warnings.push(`email not sent: ${(err as Error).message}`);
  }
  return warnings;
}

function report(flag: string, step: number, j: Judgement, action: string): string {
  return `*${flag}* at ${step}%: **${j.outcome}** — ${j.reason}\n${action}\n\n\`\`\`\n${evidenceTable(j)}\n\`\`\``;
}

/** Runs the canary; resolves with the exit code and every decision taken. */
export async function runCanary(o: WalkOptions): Promise<WalkResult> {
  const print = o.print ?? ((l: string) => console.log(l));
  const flag = o.guard.flag;
  const decisions: WalkResult['decisions'] = [];
  const decide = async (step: number, j: Judgement, action: string) => {
    decisions.push({ step, outcome: j.outcome, reason: j.reason });
    const text = report(flag, step, j, action);
    print(`${flag} at ${step}%: ${j.outcome}: ${j.reason}\n${evidenceTable(j)}\n${action}`);
    for (const w of await post(o, `parley canary ${flag}: ${j.outcome} at ${step}%`, text)) print(`warning: ${w}`);
  };
  print(`canary ${flag}: ${o.source.describe}; ${o.target ? `rollout in ${o.target.describe}` : 'judging only'}`);
  if (!o.steps.length) {
    const current = (await o.target?.get(flag)) ?? NaN;
    const j = judge(await observe(o, o.intervalMs), o.guard, o.judge, `${current}`);
    await decide(current, j, 'judged only: nothing changed');
    return { code: j.outcome === 'widen' ? CANARY_EXIT.widened : j.outcome === 'rollback' ? CANARY_EXIT.rolledBack : CANARY_EXIT.stopped, final: j.outcome, decisions };
  }
  for (const step of o.steps) {
    await o.target!.set(flag, step);
    print(`${flag}: rollout set to ${step}%`);
    if (step >= 100) {
      print(`${flag}: widened to 100%`);
      return { code: CANARY_EXIT.widened, final: 'widened', decisions };
    }
    await sleep(o.settleMs, o.signal);
    let snaps = await observe(o, o.intervalMs);
    for (let holds = 0; ; holds++) {
      if (o.signal?.aborted) return { code: CANARY_EXIT.stopped, final: 'stopped', decisions };
      const j = judge(snaps, o.guard, o.judge, `${step}`);
      if (j.outcome === 'rollback') {
        await o.target!.set(flag, 0);
        await decide(step, j, `rolled back: ${flag} set to 0% in ${o.target!.describe}`);
        return { code: CANARY_EXIT.rolledBack, final: 'rolled back', decisions };
      }
      if (j.outcome === 'widen') {
        await decide(step, j, `widening to the next step`);
        break;
      }
      if (holds >= o.maxHolds) {
        await decide(step, j, `stopped: held ${holds + 1} intervals without a verdict; ${flag} left at ${step}%`);
        return { code: CANARY_EXIT.stopped, final: 'stopped', decisions };
      }
      await decide(step, j, `holding at ${step}% for another interval`);
      // The new interval extends the evidence of this step: the last snapshot starts it.
      snaps = [...snaps, ...(await observe(o, o.intervalMs)).slice(1)];
    }
  }
  return { code: CANARY_EXIT.stopped, final: 'stopped', decisions };
}
