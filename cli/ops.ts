/**
 * `parley ops up`: a local ops stack in one command. Writes the stack files (dashboards/stack.ts)
 * into a work dir, starts the real Prometheus and Alertmanager binaries against the local node(s),
 * and, unless --webhook names one, a tiny receiver that prints each alert Alertmanager sends.
 * Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../core/args.ts';
import { renderRules } from '../core/ops/alerts/render.ts';
import { ALERTS } from '../core/ops/alerts/rules.ts';
import { dashboardsDir } from '../dashboards/render.ts';
import { stackFiles, STACK_DEFAULTS } from '../dashboards/stack.ts';

export const OPS_HELP = `usage: parley ops up [--node HOST:PORT ...] [--load HOST:PORT] [--webhook URL]
                     [--prometheus-port 9090] [--alertmanager-port 9093] [--receiver-port 9099]
                     [--interval 15s] [--dir DIR]

Starts Prometheus (Debian: prometheus) and Alertmanager (prometheus-alertmanager) with generated
configuration in DIR (default: a new temporary dir): Prometheus scrapes each --node's ops port
(default 127.0.0.1:9464) and a running \`parley load --metrics-port\` given as --load, evaluates
parley's alert rules and sends alerts to Alertmanager, which posts them to --webhook, or to a
built-in receiver that prints them. Prints the URLs; Ctrl-C stops everything.`;

export interface OpsStack {
  readonly dir: string;
  readonly prometheusUrl: string;
  readonly alertmanagerUrl: string;
  readonly webhookUrl: string;
  stop(): Promise<void>;
}

export interface StackStart {
  nodes: string[];
  load?: string[];
  webhookUrl?: string;
  prometheusPort?: number;
  alertmanagerPort?: number;
  receiverPort?: number;
  interval?: string;
  dir?: string;
  /** Called with each alert the built-in receiver gets (default: printed). */
  onAlert?: (alert: Record<string, any>) => void;
}

/** Writes the configuration and starts Prometheus, Alertmanager and (without webhookUrl) the receiver. */
export async function startStack(s: StackStart): Promise<OpsStack> {
  const dir = s.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'parley-ops-'));
  const promPort = s.prometheusPort ?? 9090;
  const amPort = s.alertmanagerPort ?? 9093;
  let receiver: http.Server | undefined;
  let webhookUrl = s.webhookUrl;
  if (!webhookUrl) {
    const onAlert = s.onAlert ?? ((a) => console.log(`alert ${a.status}: ${a.labels.alertname} ${a.labels.instance ?? ''} ${a.annotations.summary} ${a.annotations.runbook_url}`));
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        try { for (const a of (JSON.parse(body) as { alerts: Record<string, any>[] }).alerts) onAlert(a); } catch { /* not an Alertmanager body */ }
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver!.listen(s.receiverPort ?? 9099, '127.0.0.1', r));
    webhookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/alerts`;
  }
  fs.writeFileSync(path.join(dir, 'rules.yml'), renderRules(ALERTS));
  const files = stackFiles({
    ...STACK_DEFAULTS, nodes: s.nodes, load: s.load ?? [], alertmanager: `127.0.0.1:${amPort}`, webhookUrl,
    interval: s.interval ?? '15s', rulesFile: 'rules.yml', dashboardsDir: path.join(dashboardsDir(), 'rendered'), prometheusUrl: `http://127.0.0.1:${promPort}`,
  });
  for (const [f, text] of files) { fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true }); fs.writeFileSync(path.join(dir, f), text); }
  const procs: ChildProcess[] = [];
  const start = (cmd: string, args: string[]) => {
    const p = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, `${path.basename(cmd)}.log`), 'a')] });
    procs.push(p);
    return p;
  };
  start('prometheus-alertmanager', [`--config.file=${path.join(dir, 'alertmanager.yml')}`, `--storage.path=${path.join(dir, 'am-data')}`,
    `--web.listen-address=127.0.0.1:${amPort}`, '--cluster.listen-address=', `--web.external-url=http://127.0.0.1:${amPort}`]);
  start('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'prom-data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--web.enable-lifecycle']);
  const stop = async () => {
    await Promise.all(procs.map((p) => new Promise<void>((r) => { if (p.exitCode !== null) return r(); p.once('exit', () => r()); p.kill('SIGTERM'); })));
    receiver?.close();
  };
  for (const [url, what] of [[`http://127.0.0.1:${promPort}/-/ready`, 'Prometheus'], [`http://127.0.0.1:${amPort}/-/ready`, 'Alertmanager']] as const) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(url).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline || procs.some((p) => p.exitCode !== null)) { await stop(); throw new Error(`${what} did not become ready; see ${dir}/*.log`); }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { dir, prometheusUrl: `http://127.0.0.1:${promPort}`, alertmanagerUrl: `http://127.0.0.1:${amPort}`, webhookUrl, stop };
}

export async function opsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'up') { console.error(sub ? `parley ops: unknown ops subcommand "${sub}"` : OPS_HELP); return 2; }
  // --node and --load repeat: each occurrence adds a target.
  const flags = new Map<string, string[]>();
  const known = new Set(['node', 'load', 'webhook', 'interval', 'dir', 'prometheus-port', 'alertmanager-port', 'receiver-port']);
  for (let i = 0; i < rest.length; i += 2) {
    const k = rest[i]!.replace(/^--/, '');
    if (!rest[i]!.startsWith('--') || !known.has(k) || rest[i + 1] === undefined) { console.error(`parley ops: unexpected "${rest[i]}"\n\n${OPS_HELP}`); return 2; }
    flags.set(k, [...(flags.get(k) ?? []), rest[i + 1]!]);
  }
  const one = (k: string) => flags.get(k)?.at(-1);
  const port = (k: string, d: number) => { const v = one(k); const n = v === undefined ? d : Number(v); if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError([`--${k} must be a port (0-65535), got "${v}"`]); return n; };
  let stack: OpsStack;
  try {
    stack = await startStack({
      nodes: flags.get('node') ?? ['127.0.0.1:9464'], load: flags.get('load'), webhookUrl: one('webhook'), interval: one('interval'), dir: one('dir'),
      prometheusPort: port('prometheus-port', 9090), alertmanagerPort: port('alertmanager-port', 9093), receiverPort: port('receiver-port', 9099),
    });
  } catch (err) {
    console.error(`parley ops: ${(err as Error).message}`);
    return err instanceof UsageError ? 2 : 1;
  }
  console.log(`Prometheus    ${stack.prometheusUrl}\nAlertmanager  ${stack.alertmanagerUrl}\nWebhook       ${stack.webhookUrl}\nConfiguration ${stack.dir}\nCtrl-C stops everything.`);
  await new Promise<void>((r) => { process.once('SIGINT', r); process.once('SIGTERM', r); });
  await stack.stop();
  return 0;
}
