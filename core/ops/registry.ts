/**
 * The metrics layer: builds the application registry from the catalog, pre-creating every label
 * combination, and offers the small `Meter` interface the hot path bumps. Node runtime metrics live
 * in a separate registry so the application's own series can be linted on their own.
 */
import client from 'prom-client';
import { METRICS, type CounterName, type GaugeName, type HistogramName, type Labels, type Meter, type MetricDef, type MetricName } from '../metrics.ts';

type LabelValues = Record<string, string>;

/** One sample as Prometheus would scrape it: full series name (with _bucket/_sum/_count), labels, value. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricsOptions {
  /** Collect Node runtime metrics (event-loop lag, GC, heap, handles) into the runtime registry. */
  runtime?: boolean;
  version?: string;
}

function combinations(labels: Readonly<Record<string, readonly string[]>>): LabelValues[] {
  let out: LabelValues[] = [{}];
  for (const [name, values] of Object.entries(labels)) {
    out = out.flatMap((partial) => values.map((v) => ({ ...partial, [name]: v })));
  }
  return out;
}

export class Metrics implements Meter {
  /** The application's own series (`parley_*`); this is what `promtool check metrics` lints. */
  readonly registry = new client.Registry();
  /** Node runtime series from prom-client's default collectors. */
  readonly runtime = new client.Registry();
  readonly #counters = new Map<string, client.Counter>();
  readonly #gauges = new Map<string, client.Gauge>();
  readonly #histograms = new Map<string, client.Histogram>();
  /** Per metric, per label: the allowed values; only labels that have an "other" bucket are checked. */
  readonly #bounded = new Map<string, [string, Set<string>][]>();
  readonly #readers = new Map<string, () => number>();
  /**
   * Counter increments accumulate in plain cells (one Map lookup on the hot path) and are folded
   * into prom-client at scrape time: prom-client hashes the label set on every inc.
   */
  readonly #cells = new Map<string, Map<string, { labels: LabelValues | undefined; n: number }>>();
  /** The common case, one label: cells keyed by its value, no key to build. */
  readonly #single = new Map<string, { label: string; allowed: Set<string> | undefined; cells: Map<string, { labels: LabelValues | undefined; n: number }> }>();
  /** Counters kept by other modules (plain numbers), mirrored into the registry at scrape time. */
  readonly #mirrors = new Map<string, { labels: LabelValues | undefined; read: () => number; last: number }[]>();

  constructor(opts: MetricsOptions = {}) {
    for (const [name, def] of Object.entries(METRICS) as [MetricName, MetricDef][]) this.#define(name, def);
    this.set('parley_build_info', 1, { version: 'current' });
    if (opts.version) {
      this.#gauges.get('parley_build_info')!.reset();
      this.#gauges.get('parley_build_info')!.set({ version: opts.version }, 1);
    }
    if (opts.runtime !== false) client.collectDefaultMetrics({ register: this.runtime });
  }

  #define(name: string, def: MetricDef): void {
    const labelNames = Object.keys(def.labels ?? {});
    const combos = def.labels ? combinations(def.labels) : [];
    const checks = Object.entries(def.labels ?? {}).filter(([, v]) => v.includes('other')).map(([k, v]) => [k, new Set(v)] as [string, Set<string>]);
    if (checks.length) this.#bounded.set(name, checks);
    const common = { name, help: def.help, labelNames, registers: [this.registry] };
    if (def.type === 'counter') {
      const mirrors = this.#mirrors;
      const cells = new Map<string, { labels: LabelValues | undefined; n: number }>();
      this.#cells.set(name, cells);
      if (labelNames.length === 1) this.#single.set(name, { label: labelNames[0]!, allowed: def.labels![labelNames[0]!]!.includes('other') ? new Set(def.labels![labelNames[0]!]) : undefined, cells });
      const c = new client.Counter({
        ...common,
        collect(this: client.Counter) {
          for (const cell of cells.values()) {
            if (cell.n === 0) continue;
            if (cell.labels) this.inc(cell.labels, cell.n); else this.inc(cell.n);
            cell.n = 0;
          }
          for (const m of mirrors.get(name) ?? []) {
            const now = m.read();
            if (now > m.last) { if (m.labels) this.inc(m.labels, now - m.last); else this.inc(now - m.last); }
            m.last = Math.max(m.last, now);
          }
        },
      });
      for (const l of combos) c.inc(l, 0);
      this.#counters.set(name, c);
    } else if (def.type === 'gauge') {
      const readers = this.#readers;
      const g = new client.Gauge({
        ...common,
        // A gauge with a reader is sampled at scrape time instead of being kept up to date.
        collect(this: client.Gauge) { const read = readers.get(name); if (read) this.set(read()); },
      });
      for (const l of combos) g.set(l, 0);
      this.#gauges.set(name, g);
    } else {
      const h = new client.Histogram({ ...common, buckets: [...(def.buckets ?? client.exponentialBuckets(0.001, 2, 12))] });
      if (combos.length) for (const l of combos) h.zero(l);
      this.#histograms.set(name, h);
    }
  }

  /** Maps label values outside a label's closed set to "other", so label sets stay bounded. */
  #bound(name: string, labels: LabelValues | undefined): LabelValues | undefined {
    const checks = labels && this.#bounded.get(name);
    if (!checks) return labels;
    let out = labels;
    for (const [k, allowed] of checks) {
      const v = labels[k];
      if (v !== undefined && !allowed.has(v)) out = { ...out, [k]: 'other' };
    }
    return out;
  }

  inc<N extends CounterName>(name: N, labels?: Labels<N>, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`counter ${name} cannot be incremented by ${by}`);
    const single = labels && this.#single.get(name);
    if (single) {
      let v = (labels as LabelValues)[single.label];
      if (v !== undefined) {
        if (single.allowed && !single.allowed.has(v)) v = 'other';
        const cell = single.cells.get(v);
        if (cell) cell.n += by;
        else single.cells.set(v, { labels: { [single.label]: v }, n: by });
        return;
      }
    }
    const l = this.#bound(name, labels as LabelValues | undefined);
    let key = '';
    if (l) for (const k in l) key += `${k}\u0000${l[k]}\u0001`;
    const cells = this.#cells.get(name)!;
    const cell = cells.get(key);
    if (cell) cell.n += by;
    else cells.set(key, { labels: l ? { ...l } : undefined, n: by });
  }

  add<N extends GaugeName>(name: N, delta: number, labels?: Labels<N>): void {
    const l = this.#bound(name, labels as LabelValues | undefined);
    if (l) this.#gauges.get(name)!.inc(l, delta);
    else this.#gauges.get(name)!.inc(delta);
  }

  set<N extends GaugeName>(name: N, value: number, labels?: Labels<N>): void {
    const l = this.#bound(name, labels as LabelValues | undefined);
    if (l) this.#gauges.get(name)!.set(l, value);
    else this.#gauges.get(name)!.set(value);
  }

  observe<N extends HistogramName>(name: N, value: number, labels?: Labels<N>): void {
    const l = this.#bound(name, labels as LabelValues | undefined);
    if (l) this.#histograms.get(name)!.observe(l, value);
    else this.#histograms.get(name)!.observe(value);
  }

  /** Makes an unlabelled gauge read its value from `read` at scrape time. */
  read(name: GaugeName, read: () => number): void {
    this.#readers.set(name, read);
  }

  /** Mirrors a counter another module keeps as a plain, only-growing number (read at scrape time). */
  mirror<N extends CounterName>(name: N, labels: Labels<N> | undefined, read: () => number): void {
    let list = this.#mirrors.get(name);
    if (!list) this.#mirrors.set(name, (list = []));
    list.push({ labels: labels as LabelValues | undefined, read, last: 0 });
  }

  /** The application registry alone, in the Prometheus text format. */
  appText(): Promise<string> {
    return this.registry.metrics();
  }

  /** What GET /metrics serves: the application registry followed by the runtime registry. */
  async exposition(): Promise<string> {
    const [app, rt] = await Promise.all([this.registry.metrics(), this.runtime.metrics()]);
    return `${app}\n${rt}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every current sample of both registries, as a scrape would see them. */
  async samples(): Promise<Sample[]> {
    const out: Sample[] = [];
    for (const reg of [this.registry, this.runtime]) {
      for (const m of await reg.getMetricsAsJSON()) {
        for (const v of m.values) {
          const labels: Record<string, string> = {};
          for (const [k, x] of Object.entries(v.labels)) labels[k] = String(x);
          out.push({ name: (v as { metricName?: string }).metricName ?? m.name, labels, value: v.value });
        }
      }
    }
    return out;
  }
}
