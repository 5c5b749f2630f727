/**
 * The embedded alert evaluator: every few seconds it takes one snapshot of the live registries,
 * evaluates each rule over the retained window, and moves the rule through inactive → pending →
 * firing → resolved with Prometheus semantics (`for`, `keep_firing_for` as hysteresis). Every
 * transition is logged, reflected in `parley_alerts_firing`, and handed to the notifier.
 */
import type { Logger } from 'pino';
import type { Meter } from '../../metrics.ts';
import type { Sample } from '../registry.ts';
import { evaluate, metricsOf, type Snapshot } from './expr.ts';
import { durationMs, type AlertRule } from './rules.ts';

export type AlertStateName = 'inactive' | 'pending' | 'firing' | 'resolved';

/** What GET /alerts shows for one rule. */
export interface AlertStatus {
  readonly name: string;
  readonly severity: string;
  readonly state: AlertStateName;
  /** Latest value of the expression; null when it had none (no data, or an empty ratio). */
  readonly value: number | null;
  readonly threshold: number;
  readonly summary: string;
  readonly runbook: string;
  /** When the condition started holding (pending or firing), ISO 8601. */
  readonly activeSince?: string;
  readonly firingSince?: string;
  readonly resolvedAt?: string;
}

export interface Transition {
  readonly rule: AlertRule;
  readonly from: AlertStateName;
  readonly to: AlertStateName;
  readonly at: number;
  readonly value: number | null;
}

export interface EvaluatorOptions {
  rules: readonly AlertRule[];
  /** Reads the current samples (the live registries); not needed when snapshots are fed by `observe`. */
  source?: () => Promise<Sample[]>;
  intervalMs?: number;
  meter?: Meter;
  log?: Logger;
  /** Called with each round's transitions (the webhook notifier). */
  notify?: (transitions: readonly Transition[], firing: readonly { rule: AlertRule; since: number; value: number | null }[]) => void;
}

interface RuleState {
  state: AlertStateName;
  value: number | null;
  activeAt?: number;
  firedAt?: number;
  clearedAt?: number;
  resolvedAt?: number;
}

export class AlertEvaluator {
  readonly #rules: readonly AlertRule[];
  readonly #opts: EvaluatorOptions;
  readonly #states = new Map<string, RuleState>();
  readonly #wanted: Set<string>;
  readonly #retainMs: number;
  #history: Snapshot[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;

  constructor(opts: EvaluatorOptions) {
    this.#opts = opts;
    this.#rules = opts.rules;
    this.#wanted = new Set(opts.rules.flatMap((r) => metricsOf(r.expr)));
    const windows = opts.rules.map((r) => ('window' in r.expr ? durationMs(r.expr.window) : 0));
    this.#retainMs = Math.max(0, ...windows) + 2 * (opts.intervalMs ?? 5000);
    for (const r of opts.rules) this.#states.set(r.name, { state: 'inactive', value: null });
  }

  /** Starts periodic evaluation from the live source. */
  start(): void {
    if (this.#timer || !this.#opts.source) return;
    const round = () => { this.#running ??= this.tick().finally(() => { this.#running = undefined; }); };
    // A baseline snapshot at once: increases that happen before the first interval still count.
    round();
    this.#timer = setInterval(round, this.#opts.intervalMs ?? 5000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One round from the live source; never throws (a failed scrape is logged and skipped). */
  async tick(now = Date.now()): Promise<readonly Transition[]> {
    try {
      return this.observe(await this.#opts.source!(), now);
    } catch (err) {
      this.#opts.log?.error({ err }, 'alert evaluation failed');
      return [];
    }
  }

  /** Records one snapshot taken at `now` and evaluates every rule; returns the transitions. */
  observe(samples: readonly Sample[], now: number): readonly Transition[] {
    const t0 = performance.now();
    const byName = new Map<string, Sample[]>();
    for (const s of samples) {
      if (!this.#wanted.has(s.name)) continue;
      let list = byName.get(s.name);
      if (!list) byName.set(s.name, (list = []));
      list.push(s);
    }
    this.#history.push({ t: now, byName });
    while (this.#history.length > 2 && this.#history[0]!.t < now - this.#retainMs) this.#history.shift();
    this.#opts.meter?.inc('parley_alert_evaluations_total');

    const transitions: Transition[] = [];
    for (const rule of this.#rules) {
      const st = this.#states.get(rule.name)!;
      const value = evaluate(rule.expr, this.#history);
      st.value = value;
      const from = st.state;
      const holds = value !== null && value > rule.threshold;
      this.#step(rule, st, holds, now);
      if (st.state !== from) transitions.push({ rule, from, to: st.state, at: now, value });
    }
    for (const t of transitions) this.#report(t);
    this.#opts.meter?.observe('parley_alert_evaluation_seconds', (performance.now() - t0) / 1000);
    if (this.#opts.notify) {
      const firing = this.#rules.filter((r) => this.#states.get(r.name)!.state === 'firing')
        .map((rule) => ({ rule, since: this.#states.get(rule.name)!.firedAt!, value: this.#states.get(rule.name)!.value }));
      this.#opts.notify(transitions, firing);
    }
    return transitions;
  }

  #step(rule: AlertRule, st: RuleState, holds: boolean, now: number): void {
    if (holds) {
      st.clearedAt = undefined;
      if (st.state === 'inactive' || st.state === 'resolved') {
        st.activeAt = now;
        st.state = 'pending';
      }
      if (st.state === 'pending' && now - st.activeAt! >= durationMs(rule.for)) {
        st.state = 'firing';
        st.firedAt = now;
      }
      return;
    }
    if (st.state === 'pending') {
      st.state = 'inactive';
      st.activeAt = undefined;
    } else if (st.state === 'firing') {
      st.clearedAt ??= now;
      if (now - st.clearedAt >= durationMs(rule.keepFiringFor)) {
        st.state = 'resolved';
        st.resolvedAt = now;
        st.activeAt = undefined;
        st.clearedAt = undefined;
      }
    }
  }

  #report(t: Transition): void {
    const { log, meter } = this.#opts;
    if (t.to === 'firing' || t.from === 'firing') meter?.set('parley_alerts_firing', t.to === 'firing' ? 1 : 0, { alertname: t.rule.name });
    if (t.to === 'pending' || t.from === 'pending') meter?.set('parley_alerts_pending', t.to === 'pending' ? 1 : 0, { alertname: t.rule.name });
    const line = { alert: t.rule.name, severity: t.rule.severity, from: t.from, to: t.to, value: t.value, threshold: t.rule.threshold };
    if (t.to === 'firing') log?.warn(line, `alert firing: ${t.rule.summary}`);
    else log?.info(line, `alert ${t.to}`);
  }

  /** Whether the named rule is firing. */
  isFiring(name: string): boolean {
    return this.#states.get(name)?.state === 'firing';
  }

  /** Current status of every rule, in definition order. */
  status(): AlertStatus[] {
    const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    return this.#rules.map((r) => {
      const st = this.#states.get(r.name)!;
      const out: Record<string, unknown> = {
        name: r.name, severity: r.severity, state: st.state, value: st.value, threshold: r.threshold, summary: r.summary, runbook: r.runbook,
      };
      if (st.activeAt !== undefined) out.activeSince = iso(st.activeAt);
      if (st.state === 'firing') out.firingSince = iso(st.firedAt);
      if (st.state === 'resolved') out.resolvedAt = iso(st.resolvedAt);
      return out as unknown as AlertStatus;
    });
  }
}
