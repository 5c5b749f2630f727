/**
 * Pages without Prometheus: posts alerts to an Alertmanager-compatible endpoint in the
 * `POST /api/v2/alerts` format (a JSON array of postable alerts). Firing alerts are re-sent
 * every `repeatMs`, as Alertmanager expects from a client; a resolution carries `endsAt`.
 */
import type { Meter } from '../../metrics.ts';
import type { Logger } from 'pino';
import type { AlertRule } from './rules.ts';
import type { Transition } from './evaluator.ts';

/** One element of the body of Alertmanager's POST /api/v2/alerts. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL: string;
}

export interface WebhookOptions {
  /** Full URL, e.g. http://alertmanager:9093/api/v2/alerts. */
  url: string;
  /** Added to every alert's labels (node, service). */
  labels: Record<string, string>;
  generatorURL: string;
  repeatMs?: number;
  timeoutMs?: number;
  log?: Logger;
  /** Counts posts by outcome (parley_alert_notifications_total). */
  meter?: Meter;
}

export class AlertWebhook {
  readonly #opts: WebhookOptions;
  #lastFullSend = 0;
  #inFlight = new Set<Promise<void>>();

  constructor(opts: WebhookOptions) {
    this.#opts = opts;
  }

  #alert(rule: AlertRule, startsAt: number, value: number | null, endsAt?: number): PostableAlert {
    const a: PostableAlert = {
      labels: { alertname: rule.name, severity: rule.severity, ...this.#opts.labels },
      annotations: { summary: rule.summary, runbook_url: rule.runbook, value: value === null ? '' : String(value) },
      startsAt: new Date(startsAt).toISOString(),
      generatorURL: this.#opts.generatorURL,
    };
    if (endsAt !== undefined) a.endsAt = new Date(endsAt).toISOString();
    return a;
  }

  /** The evaluator's notify hook: sends transitions to and from firing, and repeats firing alerts. */
  notify = (transitions: readonly Transition[], firing: readonly { rule: AlertRule; since: number; value: number | null }[], now = Date.now()): void => {
    const body: PostableAlert[] = [];
    const repeat = now - this.#lastFullSend >= (this.#opts.repeatMs ?? 60_000);
    if (repeat || transitions.some((t) => t.to === 'firing')) {
      for (const f of firing) body.push(this.#alert(f.rule, f.since, f.value));
      if (firing.length) this.#lastFullSend = now;
    }
    for (const t of transitions) if (t.from === 'firing') body.push(this.#alert(t.rule, t.at, t.value, t.at));
    if (body.length) this.#track(this.post(body));
  };

  #track(p: Promise<void>): void {
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p));
  }

  /** Posts alerts; failures are logged, never thrown (paging must not break the server). */
  async post(alerts: readonly PostableAlert[]): Promise<void> {
    try {
      const res = await fetch(this.#opts.url, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts),
        signal: AbortSignal.timeout(this.#opts.timeoutMs ?? 5000),
      });
      await res.arrayBuffer();
      this.#opts.meter?.inc('parley_alert_notifications_total', { result: res.ok ? 'ok' : 'error' });
      if (!res.ok) this.#opts.log?.error({ status: res.status, url: this.#opts.url }, 'alert webhook refused the alerts');
    } catch (err) {
      this.#opts.meter?.inc('parley_alert_notifications_total', { result: 'error' });
      this.#opts.log?.error({ err, url: this.#opts.url }, 'alert webhook failed');
    }
  }

  /** Resolves when every post in flight has finished. */
  async idle(): Promise<void> {
    await Promise.all([...this.#inFlight]);
  }
}
