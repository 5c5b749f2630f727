/**
 * The night's report: one self-contained report.html (inline CSS and SVG, no script, no external
 * request), summary.md (the email / PR-comment text) and the machine-readable result.json.
 */
import { badness, type Row } from './compare.ts';
import { dotPlot, esc, lineChart, SPECTRUM_TICKS, spectrumX, trendChart, type Line } from './charts.ts';
import type { ChangePoint } from './changepoint.ts';
import { fmtPct, type GateResult } from './gate.ts';
import type { DiscardedRun, NightRecord, RunRecord } from './history.ts';
import { designOf } from './trends.ts';
import { SPECTRUM_PERCENTILES, type WithinRun } from './within.ts';

export interface Trend {
  scenario: string;
  metric: string;
  unit: string;
  points: { night: string; commit: string; value: number }[];
  changePoints: (ChangePoint & { commit: string; night: string })[];
}

export interface ReportInput {
  night: NightRecord;
  gate: GateResult;
  trends: Trend[];
  /** A/A nights in the history with any regression, over A/A nights (the observed false-alarm rate). */
  aaAlarms: { alarms: number; sessions: number };
  builds: { side: string; ref: string; commit: string; subject?: string; cached?: boolean; warnings?: string[]; buildMs?: number }[];
  /** Spectra and time series read back from the kept runs' result files (absent: the report says so). */
  within?: WithinRun;
}

const STATUS_TEXT: Record<GateResult['status'], string> = {
  pass: 'PASS: no regression',
  regression: 'REGRESSION',
  inconclusive: 'INCONCLUSIVE: too noisy to decide',
  infrastructure: 'INFRASTRUCTURE FAILURE',
  baseline: 'BASELINE RECORDED: first night, nothing to compare yet',
};

const num = (v: number, digits = 3) => (Number.isFinite(v) ? Number(v.toPrecision(digits)).toString() : 'n/a');
const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'not reachable');

function rowHtml(r: Row): string {
  const cls = r.verdict;
  const worse = badness(r.ratio, r.better);
  return `<tr class="${cls}"><td>${esc(r.scenario)}</td><td>${esc(r.label)}${r.gate ? ' <span class="tag">primary</span>' : ''}${Number.isFinite(r.threshold) && r.mde > r.threshold ? ' <span class="tag">MDE above threshold: add blocks</span>' : ''}<br><code>${esc(r.metric)}</code></td>`
    + `<td>${num(r.baseMedian)} ${esc(r.unit)}</td><td>${num(r.headMedian)} ${esc(r.unit)}</td><td title="${worse > 1 ? 'worse' : 'better or equal'}">${fmtPct(r.ratio)}</td>`
    + `<td>${fmtPct(r.ci.lo)} .. ${fmtPct(r.ci.hi)}</td><td>${num(r.p, 2)}</td><td>${num(r.q, 2)}</td><td>${num(r.cliffsDelta, 2)}</td>`
    + `<td>${r.design === 'paired' ? `${r.nBase} pairs` : `${r.nBase}/${r.nHead}`}</td><td>${pct(r.threshold)}</td><td>${pct(r.mde)}</td><td><b>${r.verdict}</b></td></tr>`;
}

const TABLE_HEAD = '<tr><th>scenario</th><th>metric</th><th>base median</th><th>head median</th><th>change</th><th>95% CI</th><th>p</th><th>q (BH)</th><th>Cliff δ</th><th>runs</th><th>threshold</th><th>MDE</th><th>verdict</th></tr>';

/** What each column means, under the tables, so the page reads without the docs. */
const COLUMNS = `<details open><summary>What the columns mean</summary><dl>
<dt>base / head median</dt><dd>median over the runs of each side (one fresh server per run).</dd>
<dt>runs</dt><dd><i>N pairs</i>: base and head ran at the same time on the same CPU, each with its own load generator, and are compared pair by pair, so the machine's speed of the moment cancels; <i>B/H</i>: runs of each side made one after another.</dd>
<dt>change</dt><dd>paired: the Hodges-Lehmann estimate of head / base over the pairs − 1; otherwise head median / base median − 1. For throughput "worse" is lower.</dd>
<dt>95% CI</dt><dd>paired: the interval the signed-rank test inverts; otherwise a seeded percentile bootstrap of the ratio of medians. The night recomputed gives the same interval.</dd>
<dt>p, q (BH)</dt><dd>exact two-sided test: Wilcoxon signed-rank on the pairs' log ratios, or Mann-Whitney U for runs made one after another; q is Benjamini-Hochberg adjusted, primaries and secondaries as separate families.</dd>
<dt>Cliff δ</dt><dd>how far the runs overlap: 0 the same, ±1 every head run above (below) every base run.</dd>
<dt>threshold</dt><dd>smallest change that matters (the battery's or the A/A calibration's, whichever is larger).</dd>
<dt>MDE</dt><dd>smallest change this night could call a regression with 80% power at its run counts and noise. <b>MDE above threshold: add blocks</b> means a change as large as the threshold could go unseen tonight; run more blocks (<code>--blocks</code>/<code>--max-blocks</code>) or quiet the machine.</dd>
<dt>verdict</dt><dd>regression or improvement: q ≤ α and beyond the threshold; unchanged: the whole interval within ± threshold, from run counts that could have shown a regression; inconclusive: anything else (a primary adds blocks, then exits 3).</dd>
</dl></details>`;

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:16px;color:#222}
.banner{padding:14px 18px;border-radius:6px;color:#fff;font-size:20px;font-weight:600}
.banner.pass{background:#2e7d32}.banner.regression{background:#c62828}.banner.inconclusive{background:#ef6c00}.banner.infrastructure{background:#6a1b9a}.banner.baseline{background:#455a64}
table{border-collapse:collapse;width:100%;margin:8px 0 20px}th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}
tr.regression td{background:#ffebee}tr.improvement td{background:#e8f5e9}tr.inconclusive td{background:#fff8e1}tr.missing td{color:#888}
.tag{font-size:10px;background:#37474f;color:#fff;border-radius:3px;padding:0 4px}code{font-size:11px;color:#555}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{margin:0;border:1px solid #eee;padding:6px}figcaption{font-size:12px}
svg .base{fill:#1565c0}svg .head{fill:#e65100}svg .median{stroke:#333;stroke-width:1.5}svg .trend{fill:none;stroke:#e65100;stroke-width:1.5}
svg .change{stroke:#c62828;stroke-dasharray:4 3}svg .axis,svg .label{font-size:10px;fill:#555}ul.reasons{margin:6px 0}
svg .line-base{fill:none;stroke:#1565c0;stroke-width:1.2;opacity:.8}svg .line-head{fill:none;stroke:#e65100;stroke-width:1.2;opacity:.8}
svg .grid{stroke:#eee}svg .axisline{stroke:#999}.key .base{color:#1565c0}.key .head{color:#e65100}nav a{margin-right:12px}
dl{font-size:13px}dt{font-weight:600}dd{margin:0 0 4px 16px}`;

/** The whole report page. */
const LATENCY_LABEL: Record<string, string> = { deliver_ms: 'delivery', ack_ms: 'ack', connect_ms: 'connect', sync_ms: 'sync', first_msg_ms: 'first message', catchup_ms: 'offline catch-up', reconnect_ms: 'reconnect', presence_ms: 'presence', typing_ms: 'typing', http_ms: 'REST' };

/** Percentile spectra (all runs of a side merged) and the series within each run, per scenario. */
function withinHtml(within: WithinRun | undefined): string {
  if (!within) return '<h2>Latency spectra and time series</h2><p>Not available: the runs\' result files were not read for this report.</p>';
  const key = '<p class="key"><b class="base">base</b> and <b class="head">head</b>; hover a line for its run.</p>';
  const spectra = within.spectra.map((sp) => {
    const lines: Line[] = (['base', 'head'] as const).flatMap((side) => {
      const v = sp[side];
      return v ? [{ cls: side, dots: true, title: `${side}: ${v.count} samples; ${SPECTRUM_PERCENTILES.map((p, i) => `${p === 0 ? 'min' : p === 100 ? 'max' : `p${p}`} ${num(v.ms[i]!)}`).join(', ')} ms`, points: SPECTRUM_PERCENTILES.map((p, i): [number, number] => [spectrumX(p), v.ms[i]!]) }] : [];
    });
    const title = `${sp.scenario}: ${LATENCY_LABEL[sp.metric] ?? sp.metric} latency by percentile`;
    return `<figure>${lineChart({ lines, title, unit: 'ms', xLabel: 'percentile', xTicks: [...SPECTRUM_TICKS] })}<figcaption>${esc(sp.scenario)}: <code>${esc(sp.metric)}</code> (base ${sp.base?.count ?? 0}, head ${sp.head?.count ?? 0} samples)</figcaption></figure>`;
  }).join('');
  const series = within.timelines.map((tl) => {
    const chart = (what: string, unit: string, pick: (r: WithinRun['timelines'][number]['runs'][number]) => number[]) => {
      const lines: Line[] = tl.runs.map((r) => ({ cls: r.side, title: `run ${r.index} (${r.side})`, points: r.t.map((t, i): [number, number] => [t, pick(r)[i]!]) }));
      return `<figure>${lineChart({ lines, title: `${tl.scenario}: ${what}`, unit, xLabel: 'seconds into the run' })}<figcaption>${esc(tl.scenario)}: ${esc(what)}</figcaption></figure>`;
    };
    return chart('acknowledged sends per second', '1/s', (r) => r.ackedPerSec)
      + chart(`${LATENCY_LABEL[tl.latency] ?? tl.latency} latency p99 per slice`, 'ms', (r) => r.p99Ms)
      + chart('connections made so far', 'connections', (r) => r.connections);
  }).join('');
  const unreadable = within.unreadable.length ? `<p>Runs not drawn (result file unreadable): ${within.unreadable.map(esc).join('; ')}</p>` : '';
  return `<h2>Latency spectra</h2><p>Every latency of every run of a side, merged from the runs' HDR histograms (never averaged percentiles); the x axis counts nines.</p>${key}`
    + `${spectra ? `<div class="charts">${spectra}</div>` : '<p>No latency was recorded.</p>'}`
    + `<h2>Within the runs</h2><p>One line per run, per slice of the run.</p>${series ? `<div class="charts">${series}</div>` : '<p>No run to draw.</p>'}${unreadable}`;
}

export function renderReport(input: ReportInput): string {
  const { night, gate } = input;
  const gating = night.rows.filter((r) => r.gate || r.verdict === 'regression');
  const others = night.rows.filter((r) => !gating.includes(r));
  const dots = night.rows.filter((r) => r.verdict !== 'missing').map((r) => {
    const pick = (side: string) => night.runs.filter((x) => x.scenario === r.scenario && x.side === side && r.metric in x.metrics).map((x) => x.metrics[r.metric]!);
    return `<figure>${dotPlot(pick('base'), pick('head'), r.unit, `${r.scenario} ${r.label}`)}<figcaption>${esc(r.scenario)}: ${esc(r.label)} (${fmtPct(r.ratio)}, ${r.verdict})</figcaption></figure>`;
  }).join('');
  const trends = input.trends.filter((t) => t.points.length >= 2).map((t) => {
    const at = t.changePoints.map((c) => c.index);
    const notes = t.changePoints.map((c) => `change ${fmtPct(c.ratio)} first seen at ${esc(c.commit.slice(0, 10))} (night ${esc(c.night)}, p=${num(c.p, 2)})`).join('; ');
    return `<figure>${trendChart(t.points.map((p) => ({ label: p.commit.slice(0, 7), value: p.value })), at, t.unit, `${t.scenario} ${t.metric} trend`)}<figcaption>${esc(t.scenario)} ${esc(t.metric)}${notes ? `<br>${notes}` : ''}</figcaption></figure>`;
  }).join('');
  const health = night.runs.map((r) => `<tr><td>${r.file ? `<a href="runs/${encodeURIComponent(r.file)}">${r.index}</a>` : r.index}</td><td>${r.block + 1}</td><td>${r.side}</td><td>${esc(r.scenario)}</td><td>${esc(r.startedAt)}</td><td>${num(r.health.scheduleLagP99Ms ?? NaN)}</td><td>${num(r.health.generatorCpuPercent ?? NaN)}</td><td>${num(r.health.loadavg1)}</td><td>${num(r.health.stealPercent ?? NaN, 2)}</td></tr>`).join('');
  const nodes = nodesHtml(night.runs);
  const env = Object.entries(night.environment).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`).join('');
  const builds = input.builds.map((b) => `<tr><th>${b.side}</th><td>${esc(b.ref)}</td><td><code>${esc(b.commit)}</code></td><td>${esc(b.subject ?? '')}</td><td>${b.cached === undefined ? '' : b.cached ? 'cached' : `built in ${((b.buildMs ?? 0) / 1000).toFixed(1)} s`}${b.warnings?.length ? `<br>${esc(b.warnings.join('; '))}` : ''}</td></tr>`).join('');
  const reasons = gate.reasons.length ? `<ul class="reasons">${gate.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>` : '';
  const waived = gate.waived.length ? `<h2>Waived regressions</h2><ul>${gate.waived.map((w) => `<li>${esc(w.scenario)} ${esc(w.metric)}: ${esc(w.reason)}</li>`).join('')}</ul>` : '';
  const expired = gate.expiredWaivers.length ? `<p><b>Expired waivers</b> (renew or delete): ${gate.expiredWaivers.map((w) => `${esc(w.scenario)} ${esc(w.metric)} (expired ${esc(w.expires)})`).join(', ')}</p>` : '';
  const discarded = night.discarded.length
    ? `<h3>Discarded runs (${night.discarded.length})</h3><ul>${groupDiscarded(night.discarded).map((g) => `<li>${g.count} &times; ${esc(g.side)} ${esc(g.scenario)}: ${esc(g.reason)}${g.tail.length ? `<pre>${esc(g.tail.join('\n'))}</pre>` : ''}</li>`).join('')}</ul>`
    : '<p>No run was discarded.</p>';
  // When runs could not be made, why is the first thing the reader needs.
  const atTop = night.discarded.length > 0 && gate.status === 'infrastructure';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>parley nightly ${esc(night.id)}: ${gate.status}</title><style>${CSS}</style></head>
<body>
<nav><a href="../../index.html">← all nights</a><a href="result.json">result.json</a><a href="summary.md">summary.md</a><a href="#runs">per-run result files</a></nav>
<div class="banner ${gate.status}">${STATUS_TEXT[gate.status]} · exit ${gate.exitCode} · ${esc(night.base.commit.slice(0, 10))} → ${esc(night.head.commit.slice(0, 10))}</div>
${reasons}
${atTop ? discarded : ''}
<p>Battery <b>${esc(night.battery)}</b>, ${night.blocks} block(s) of ${designOf(night) === 'paired' ? 'two pairs (base and head at once)' : 'A B B A'}, ${night.runs.length} runs kept, ${night.discarded.length} discarded; ${esc(night.at)}${night.aa ? '; <b>A/A session</b> (same build on both sides)' : ''}. Observed A/A false-alarm rate in the history: ${input.aaAlarms.alarms}/${input.aaAlarms.sessions}.</p>
<h2>Builds</h2>${builds ? `<table>${builds}</table><p>Commit range: <code>git log --oneline ${esc(night.base.commit.slice(0, 12))}..${esc(night.head.commit.slice(0, 12))}</code>. How to read this page: docs/nightly.md in the repository.</p>` : `<p>Running environments: base ${esc(night.base.ref)}, head ${esc(night.head.ref)}.</p>`}
<h2>Gate</h2><p>Primary metrics (they decide the gate) and any regression.</p><table>${TABLE_HEAD}${gating.map(rowHtml).join('')}</table>
${waived}${expired}
<h2>Secondary metrics</h2>${others.length ? `<table>${TABLE_HEAD}${others.map(rowHtml).join('')}</table>` : '<p>None beyond the table above.</p>'}
${COLUMNS}
<h2>Runs</h2><p>Each dot is one run's value of the metric; the bar is the side's median.</p><div class="charts">${dots}</div>
${withinHtml(input.within)}
<h2>Trends over recent nights</h2>${trends ? `<div class="charts">${trends}</div>` : '<p>Not enough nights in the history yet.</p>'}
<h2 id="runs">Environment and generator health</h2><table>${env}</table>
<table><tr><th>run</th><th>block</th><th>side</th><th>scenario</th><th>started</th><th>schedule lag p99 (ms)</th><th>generator CPU %</th><th>load avg</th><th>steal %</th></tr>${health}</table>${nodes}
${atTop ? '' : discarded}
</body></html>
`;
}

const NODE_COLUMNS: [string, string][] = [['cpu_ms', 'CPU (ms)'], ['cpu_percent', 'CPU %'], ['rss_peak_mb', 'peak RSS (MiB)'], ['gc_ms', 'GC (ms)'],
  ['logins', 'logins'], ['messages_stored', 'messages stored'], ['deliveries', 'deliveries'], ['bus_received', 'bus events received']];

/** Cluster runs, node by node: how the run's work and cost split over the nodes (empty for one server). */
function nodesHtml(runs: readonly RunRecord[]): string {
  const rows = runs.flatMap((r) => Object.entries(r.nodes ?? {}).map(([id, f]) => `<tr><td>${r.index}</td><td>${r.side}</td><td>${esc(r.scenario)}</td><td>${esc(id)}</td>${NODE_COLUMNS.map(([k]) => `<td>${num(f[k] ?? NaN)}</td>`).join('')}</tr>`));
  if (!rows.length) return '';
  return `\n<h3>Nodes</h3><p>Each cluster run node by node (the compared server figures are these summed; event-loop lag is the worst node's).</p>`
    + `<table><tr><th>run</th><th>side</th><th>scenario</th><th>node</th>${NODE_COLUMNS.map(([, label]) => `<th>${label}</th>`).join('')}</tr>${rows.join('')}</table>`;
}

/** Discarded runs with the same side, scenario, reason and output, counted once each. */
export function groupDiscarded(list: readonly DiscardedRun[]): { side: string; scenario: string; reason: string; tail: string[]; count: number }[] {
  const groups = new Map<string, { side: string; scenario: string; reason: string; tail: string[]; count: number }>();
  for (const d of list) {
    const key = JSON.stringify([d.side, d.scenario, d.reason, d.tail ?? []]);
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { side: d.side, scenario: d.scenario, reason: d.reason, tail: d.tail ?? [], count: 1 });
  }
  return [...groups.values()];
}

/** The email / PR-comment text. */
export function renderSummary(input: ReportInput, reportLink = 'report.html'): string {
  const { night, gate } = input;
  const interesting = night.rows.filter((r) => r.gate || r.verdict === 'regression' || r.verdict === 'improvement');
  const lines = [
    `## parley nightly ${night.id}: ${STATUS_TEXT[gate.status]} (exit ${gate.exitCode})`,
    '',
    `${night.battery} battery, ${night.base.ref} \`${night.base.commit.slice(0, 10)}\` → ${night.head.ref} \`${night.head.commit.slice(0, 10)}\`${night.head.subject ? ` (${night.head.subject})` : ''}; ${night.runs.length} runs kept, ${night.discarded.length} discarded.`,
    '',
    ...gate.reasons.map((r) => `- ${r}`),
    ...(gate.reasons.length ? [''] : []),
    '| scenario | metric | base | head | change | 95% CI | q | MDE | verdict |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...interesting.map((r) => `| ${r.scenario} | ${r.metric}${r.gate ? ' (gate)' : ''} | ${num(r.baseMedian)} | ${num(r.headMedian)} | ${fmtPct(r.ratio)} | ${fmtPct(r.ci.lo)}..${fmtPct(r.ci.hi)} | ${num(r.q, 2)} | ${pct(r.mde)} | **${r.verdict}** |`),
    '',
  ];
  const creeping = input.trends.flatMap((t) => t.changePoints.map((c) => `- ${t.scenario} ${t.metric}: ${fmtPct(c.ratio)} since \`${c.commit.slice(0, 10)}\` (night ${c.night})`));
  if (creeping.length) lines.push('Change points in the history:', ...creeping, '');
  if (night.discarded.length) {
    lines.push(`Discarded runs (${night.discarded.length}):`);
    for (const g of groupDiscarded(night.discarded)) {
      lines.push(`- ${g.count} × ${g.side} ${g.scenario}: ${g.reason}`);
      if (g.tail.length) lines.push('  ```', ...g.tail.map((l) => `  ${l.replaceAll('```', "'''")}`), '  ```');
    }
    lines.push('');
  }
  if (gate.waived.length) lines.push(`Waived: ${gate.waived.map((w) => `${w.scenario} ${w.metric} (${w.reason})`).join('; ')}`, '');
  lines.push(`Full report: ${reportLink}`, '');
  return lines.join('\n');
}

/** The email's HTML part: the verdict banner, its reasons and the gate table, with a link to the report. */
export function renderEmailHtml(input: ReportInput, reportLink: string): string {
  const { night, gate } = input;
  const gating = night.rows.filter((r) => r.gate || r.verdict === 'regression');
  const reasons = gate.reasons.length ? `<ul>${gate.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>` : '';
  return `<!doctype html><html><body style="font:14px system-ui,sans-serif">
<p style="font-size:18px"><b>${STATUS_TEXT[gate.status]}</b> (exit ${gate.exitCode}), ${esc(night.battery)} battery, ${esc(night.base.commit.slice(0, 10))} → ${esc(night.head.commit.slice(0, 10)) }</p>
${reasons}<table style="border-collapse:collapse" border="1" cellpadding="4">${TABLE_HEAD}${gating.map(rowHtml).join('')}</table>
<p>${night.runs.length} runs kept, ${night.discarded.length} discarded. Full report: <a href="${esc(reportLink)}">${esc(reportLink)}</a> (also attached).</p>
</body></html>
`;
}
