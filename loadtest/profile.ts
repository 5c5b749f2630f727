/**
 * `parley profile <scenario>`: starts a fresh node under clinic (doctor or flame, when installed;
 * it is optional and unmaintained) or under `node --cpu-prof`, drives the scenario against it,
 * stops the node and prints where the report is.
 */
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, UsageError } from '../core/args.ts';
import { PACKAGE_ROOT, selfCommand } from '../core/paths.ts';
import { resolveOptions } from './options.ts';
import { summaryTable } from './report.ts';
import { EXIT_CODES } from './result.ts';
import { runLoad } from './runner.ts';
import { loadScenario, scenarioFile } from './scenario.ts';

const LOCAL_CLINIC = path.join(PACKAGE_ROOT, 'node_modules/.bin/clinic');

export const PROFILE_HELP = `usage: parley profile <scenario> [--tool auto|cpu-prof|clinic-doctor|clinic-flame] [--out-dir DIR]
                      [--users N --duration D --rate R ...] [--serve-arg "--flag value"]

Starts a fresh parley node (temporary data dir) under a profiler, runs the scenario against it,
stops the node and prints the report path. --tool auto uses clinic doctor when \`clinic\` is on the
PATH (run with NO_INSIGHT=1), otherwise node --cpu-prof (a .cpuprofile for Chrome DevTools).
Load options are those of \`parley load\`. Exit code: the load run's, or 98 if the node failed.`;

const TOOLS = ['auto', 'cpu-prof', 'clinic-doctor', 'clinic-flame'] as const;
type Tool = (typeof TOOLS)[number];

function which(cmd: string): string | undefined {
  try { return execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || undefined; } catch { return undefined; }
}

export interface ProfileRun { exitCode: number; report: string | undefined; tool: 'cpu-prof' | 'clinic-doctor' | 'clinic-flame' }

/** Runs the profile; used by the CLI and by tests. */
export async function profile(argv: string[], log: (line: string) => void = (l) => console.error(l)): Promise<ProfileRun> {
  const { flags, rest } = parseArgs(argv);
  if (rest.length !== 1) throw new UsageError([`expected one <scenario>, got ${rest.length ? rest.join(' ') : 'none'}`]);
  const tool = (flags.get('tool') ?? 'auto') as Tool;
  if (!TOOLS.includes(tool)) throw new UsageError([`--tool must be one of ${TOOLS.join(', ')}, got "${tool}"`]);
  const clinic = which('clinic') ?? (fs.existsSync(LOCAL_CLINIC) ? LOCAL_CLINIC : undefined);
  if (tool.startsWith('clinic') && !clinic) {
    throw new UsageError([`${tool} needs clinic, which is not installed (npm install -g clinic); use --tool cpu-prof for a .cpuprofile instead`]);
  }
  const chosen: ProfileRun['tool'] = tool === 'auto' ? (clinic ? 'clinic-doctor' : 'cpu-prof') : tool;
  const outDir = path.resolve(flags.get('out-dir') ?? 'profiles');
  fs.mkdirSync(outDir, { recursive: true });
  const file = scenarioFile(rest[0]!);
  const scenario = await loadScenario(file);
  const secret = randomBytes(32).toString('base64url');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-profile-'));
  const nodeArgs = [...selfCommand().slice(1), 'serve', '--port', '0', '--ops-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, ...(flags.get('serve-arg')?.split(/\s+/).filter(Boolean) ?? [])];
  const [cmd, args] = chosen === 'cpu-prof'
    ? [process.execPath, ['--cpu-prof', `--cpu-prof-dir=${outDir}`, ...nodeArgs]]
    : [clinic!, [chosen === 'clinic-doctor' ? 'doctor' : 'flame', '--dest', outDir, '--', process.execPath, ...nodeArgs]];
  log(`profile: starting the node under ${chosen}`);
  const child = spawn(cmd, args, { env: { ...process.env, PARLEY_SECRET: secret, PARLEY_LOG_LEVEL: 'info', NO_INSIGHT: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number | undefined>((resolve) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = /"port":(\d+).*parley listening|parley listening.*"port":(\d+)/.exec(output);
      if (m) resolve(Number(m[1] ?? m[2]));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    void exited.then(() => resolve(undefined));
  });
  if (port === undefined) {
    log(`profile: the node exited before listening:\n${output.slice(-2000)}`);
    return { exitCode: EXIT_CODES.infrastructure, report: undefined, tool: chosen };
  }
  const options = resolveOptions(scenario.options, new Map([...flags, ['target', `ws://127.0.0.1:${port}/ws`]]));
  const result = await runLoad({ scenario, scenarioFile: file, options, tokens: { kind: 'secret', secret } });
  log(summaryTable(result));
  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 120_000).unref())]);
  if (code === null && child.exitCode === null) child.kill('SIGKILL');
  let report: string | undefined;
  if (chosen === 'cpu-prof') {
    const profiles = fs.readdirSync(outDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(outDir, f));
    report = profiles.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  } else {
    report = /(\S+\.html)/.exec(output)?.[1] ?? outDir;
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  log(report ? `profile: report written to ${report}` : 'profile: the profiler wrote no report');
  return { exitCode: report ? result.exitCode : EXIT_CODES.infrastructure, report, tool: chosen };
}

/** The CLI entry: prints the report path on stdout. */
export async function profileCommand(argv: string[]): Promise<number> {
  const r = await profile(argv);
  if (r.report) console.log(r.report);
  return r.exitCode;
}
