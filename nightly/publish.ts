/**
 * Publishing a night: the files (report.html, summary.md, result.json) under nights/<id>/, the
 * index page over all nights, an email (SMTP via nodemailer when configured, otherwise an .eml
 * file written by nodemailer's stream transport) and a Slack-compatible webhook POST.
 */
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { esc, trendChart } from './charts.ts';
import type { NightRecord } from './history.ts';
import { renderEmailHtml, renderReport, renderSummary, type ReportInput } from './report.ts';
import { trendsOf } from './trends.ts';

export const RESULT_SCHEMA_VERSION = 1;

export interface Delivery {
  /** smtp(s)://user:pass@host:port; when unset an .eml file is written instead. */
  smtpUrl?: string;
  emailTo?: string;
  emailFrom?: string;
  /** Slack-compatible incoming webhook URL. */
  webhookUrl?: string;
  /** Base URL where the output folder is served (`--report-url`); links point there. */
  reportUrl?: string;
}

export interface Published {
  dir: string;
  report: string;
  summary: string;
  result: string;
  eml?: string;
  emailed?: string;
  webhook?: number;
  warnings: string[];
}

/** Writes the night's files and the index, then delivers. Delivery problems are warnings, not failures. */
export async function publish(outDir: string, input: ReportInput, nights: readonly NightRecord[], delivery: Delivery = {}): Promise<Published> {
  const dir = path.join(outDir, 'nights', input.night.id);
  fs.mkdirSync(dir, { recursive: true });
  const report = path.join(dir, 'report.html');
  const summary = path.join(dir, 'summary.md');
  const result = path.join(dir, 'result.json');
  const html = renderReport(input);
  // --report-url: where the team serves the output folder; the night's report is under it.
  const link = delivery.reportUrl ? `${delivery.reportUrl.replace(/\/+$/, '')}/nights/${input.night.id}/report.html`
    : delivery.smtpUrl || delivery.webhookUrl ? `nights/${input.night.id}/report.html` : report;
  const md = renderSummary(input, link);
  fs.writeFileSync(report, html);
  fs.writeFileSync(summary, md);
  fs.writeFileSync(result, `${JSON.stringify({
    schemaVersion: RESULT_SCHEMA_VERSION, id: input.night.id, at: input.night.at, battery: input.night.battery, base: input.night.base, head: input.night.head,
    gate: input.gate, rows: input.night.rows, blocks: input.night.blocks, runs: input.night.runs.length, discarded: input.night.discarded,
    changePoints: input.trends.flatMap((t) => t.changePoints.map((c) => ({ scenario: t.scenario, metric: t.metric, ...c }))),
  }, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  fs.writeFileSync(path.join(outDir, 'index.html'), renderIndex(nights, (id) => fs.existsSync(path.join(outDir, 'nights', id, 'report.html'))));
  const out: Published = { dir, report, summary, result, warnings: [] };
  const subject = `parley nightly ${input.night.id}: ${input.gate.status} (${input.night.head.commit.slice(0, 10)})`;
  const message = {
    from: delivery.emailFrom ?? 'parley-nightly@localhost', to: delivery.emailTo ?? 'release@localhost', subject, text: md, html: renderEmailHtml(input, link),
    attachments: [{ filename: 'report.html', content: html, contentType: 'text/html' }],
  };
  try {
    if (delivery.smtpUrl) {
      await nodemailer.createTransport(delivery.smtpUrl).sendMail(message);
      out.emailed = message.to;
    } else {
      const info = await nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }).sendMail(message);
      out.eml = path.join(dir, 'summary.eml');
      fs.writeFileSync(out.eml, info.message as Buffer);
    }
  } catch (err) {
    out.warnings.push(`email not sent: ${(err as Error).message}`);
  }
  if (delivery.webhookUrl) {
    try {
      const res = await fetch(delivery.webhookUrl, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(slackPayload(subject, md)), signal: AbortSignal.timeout(10_000),
      });
      out.webhook = res.status;
      if (!res.ok) out.warnings.push(`webhook answered ${res.status}`);
    } catch (err) {
      out.warnings.push(`webhook failed: ${(err as Error).message}`);
    }
  }
  return out;
}

/** Slack incoming-webhook body (also accepted by Mattermost, Rocket.Chat and Discord's /slack endpoint). */
export function slackPayload(subject: string, markdown: string): { text: string; blocks: unknown[] } {
  const body = markdown.split('\n').filter((l) => !l.startsWith('## ')).join('\n').slice(0, 2900);
  return {
    text: subject,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: subject.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: body } },
    ],
  };
}

/** The primary metrics of the newest compared night over recent nights, change points marked. */
function indexTrends(nights: readonly NightRecord[]): string {
  const last = [...nights].reverse().find((n) => !n.aa && n.rows.length > 0);
  if (!last) return '<p>No compared night yet.</p>';
  const figures = trendsOf(nights, last.rows.filter((r) => r.gate), last).filter((t) => t.points.length >= 2).map((t) => {
    const notes = t.changePoints.map((c) => `change ${((c.ratio - 1) * 100).toFixed(1)}% from ${esc(c.commit.slice(0, 10))} (night ${esc(c.night)})`).join('; ');
    const title = `${t.scenario} ${t.metric}: head median per night`;
    return `<figure>${trendChart(t.points.map((p) => ({ label: p.commit.slice(0, 7), value: p.value })), t.changePoints.map((c) => c.index), t.unit, title)}<figcaption>${esc(t.scenario)} <code>${esc(t.metric)}</code> (${esc(t.unit)})${notes ? `<br>${notes}` : ''}</figcaption></figure>`;
  }).join('');
  return figures ? `<div class="charts">${figures}</div>` : '<p>Fewer than two compared nights: no trend yet.</p>';
}

/** The index page: every night, newest first, linking its report while it is kept (--keep-nights); the primary metrics' trends on top. */
export function renderIndex(nights: readonly NightRecord[], hasReport: (id: string) => boolean = () => true): string {
  const rows = [...nights].reverse().map((n) => `<tr class="${n.gate.status}"><td>${hasReport(n.id) ? `<a href="nights/${encodeURIComponent(n.id)}/report.html">${esc(n.id)}</a>` : `${esc(n.id)} (pruned)`}</td><td>${esc(n.battery)}</td>`
    + `<td>${esc(n.base.ref)} <code>${esc(n.base.commit.slice(0, 10))}</code></td><td>${esc(n.head.ref)} <code>${esc(n.head.commit.slice(0, 10))}</code></td><td><b>${n.gate.status}</b>${n.aa ? ' (A/A)' : ''}</td>`
    + `<td>${n.rows.filter((r) => r.verdict === 'regression').length}</td><td>${n.runs.length}</td></tr>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>parley nightly</title><style>
body{font:14px system-ui,sans-serif;max-width:1000px;margin:0 auto;padding:16px}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left}
tr.regression td{background:#ffebee}tr.inconclusive td{background:#fff8e1}tr.infrastructure td{background:#f3e5f5}tr.baseline td{background:#eceff1}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{margin:0;border:1px solid #eee;padding:6px}figcaption{font-size:12px}
svg .head{fill:#e65100}svg .trend{fill:none;stroke:#e65100;stroke-width:1.5}svg .change{stroke:#c62828;stroke-dasharray:4 3}svg .axis,svg .label{font-size:10px;fill:#555}</style></head><body>
<h1>parley nightly</h1><h2>Primary metrics over recent nights</h2>${indexTrends(nights)}<h2>Nights</h2><table><tr><th>night</th><th>battery</th><th>base</th><th>head</th><th>gate</th><th>regressions</th><th>runs</th></tr>${rows}</table></body></html>
`;
}
