/**
 * What every node bench shares: the repository root, pinning (server on core 0, generator on core
 * 1, via taskset), a bench session with raised scheduling weight, spawning `parley serve` or a
 * helper script and waiting for its port, stopping it, and CPU and memory readings from /proc.
 */
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TokenAuthority } from '../edge/auth.ts';
import { SUBPROTOCOL } from '../protocol.ts';
import { LoadGen, type Target } from './loadgen.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** True when the benches run from source through tsx, false when compiled to dist/. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');
/** The repository root: core/bench from source, dist/core/bench when compiled. */
export const ROOT = path.resolve(HERE, FROM_SOURCE ? '../..' : '../../..');
export const SECRET = 'bench-core-secret-that-is-at-least-32-characters';
export const SERVER_CPU = '0';
export const LOAD_CPU = '1';
/** Autogroup niceness of the bench session (itself and its servers) where permitted. */
const NICE = -10;

export const fromLabel = (): string => (FROM_SOURCE ? 'from source (tsx)' : 'compiled dist/');

export function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Raises this session's scheduling weight (its autogroup, which the servers it spawns share) when
 * permitted; returns the niceness set, or undefined when the kernel or the user does not allow it.
 */
export function raisePriority(): number | undefined {
  try {
    fs.writeFileSync('/proc/self/autogroup', String(NICE));
    return NICE;
  } catch {
    return undefined;
  }
}

/** `taskset -c <cpu>` in front of a command when pinning is possible. */
export function pinned(pin: boolean, cpu: string, argv: string[]): [string, string[]] {
  return pin ? ['taskset', ['-c', cpu, ...argv]] : [argv[0]!, argv.slice(1)];
}

/** `node <script>` from source (through tsx) or compiled (the same path under dist/). */
export function nodeArgs(script: string): string[] {
  return FROM_SOURCE ? [process.execPath, '--import', 'tsx', path.join(ROOT, script)] : [process.execPath, path.join(ROOT, script.replace(/^core\//, 'dist/core/').replace(/\.ts$/, '.js'))];
}

/** Spawns a server and resolves when `ready` finds its port in a stdout line. */
export function spawnServer<T>(cmd: [string, string[]], env: NodeJS.ProcessEnv, ready: (line: string) => T | undefined, stdio: StdioOptions = ['ignore', 'pipe', 'pipe']): Promise<{ child: ChildProcess; port: T }> {
  const child = spawn(cmd[0], cmd[1], { cwd: ROOT, env: { ...process.env, ...env }, stdio });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-20_000); });
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        const port = ready(line);
        if (port === undefined) continue;
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        child.off('exit', onExit);
        return resolve({ child, port });
      }
    };
    const onExit = (code: number | null) => reject(new Error(`${cmd[1].join(' ')} exited with ${code} before listening:\n${stderr}`));
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}

export function stopChild(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

/** A `parley serve` under test: its process, how the generator reaches it, its ops URL. */
export interface ParleyNode {
  child: ChildProcess;
  target: Target;
  port: number;
  opsPort: number;
  stop(): Promise<void>;
}

export interface ParleyOptions {
  pin: boolean;
  dataDir: string;
  /** Extra `serve` flags (settings), after the bench's defaults so they win. */
  args?: string[];
  /** Flags for node itself, before the script (e.g. --cpu-prof, --expose-gc, --import a probe). */
  nodeFlags?: string[];
  /** Open an IPC channel to the node (for a probe preloaded with nodeFlags). */
  ipc?: boolean;
}

/**
 * Starts `parley serve` on free ports with per-session send limits raised (the benches measure the
 * node, not one session's token bucket) and resolves once it listens.
 */
export async function startParley(o: ParleyOptions): Promise<ParleyNode> {
  const node = FROM_SOURCE ? [process.execPath, '--import', 'tsx', path.join(ROOT, 'cli/run.ts')] : [process.execPath, path.join(ROOT, 'bin/parley.js')];
  node.splice(1, 0, ...(o.nodeFlags ?? []));
  const args = [...node, 'serve', '--host', '127.0.0.1', '--port', '0', '--ops-port', '0', '--data-dir', o.dataDir,
    '--send-rate-per-sec', '1000000', '--send-burst', '1000000', '--abuse-limit', '1000000', '--log-level', 'info', ...(o.args ?? [])];
  const stdio: StdioOptions = o.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
  const { child, port: ports } = await spawnServer(pinned(o.pin, SERVER_CPU, args), { PARLEY_SECRET: SECRET }, (line) => {
    if (!line.includes('parley listening')) return undefined;
    const l = JSON.parse(line) as { port: number; opsPort: number };
    return { port: l.port, opsPort: l.opsPort };
  }, stdio);
  const auth = new TokenAuthority(new TextEncoder().encode(SECRET));
  return {
    child, port: ports.port, opsPort: ports.opsPort, stop: () => stopChild(child),
    target: {
      protocol: SUBPROTOCOL,
      url: async (user) => `ws://127.0.0.1:${ports.port}/ws?token=${await auth.mint(user, 3600 * 24)}`,
      hello: { frame: '{"op":"sync"}', replyOp: 'synced' },
    },
  };
}

/**
 * A node's capacity: acked 1:1 sends/s in a closed loop (`window` sends outstanding per user over
 * 2×pairs users, 2 s warmup, 5 s measured) on a fresh node with its own data dir.
 */
export async function measureCapacity(o: { pin: boolean; pairs: number; window: number; args?: string[] }): Promise<number> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-capacity-'));
  const node = await startParley({ pin: o.pin, dataDir, args: o.args });
  try {
    const gen = await LoadGen.connect(node.target, o.pairs, 'cap');
    const s = await gen.closed(o.window, 2000, 5000, 3000);
    await gen.close();
    console.log(`  capacity: closed loop, ${o.window} outstanding per user over ${o.pairs * 2} users: ${s.issuedPerSec} acked sends/s (errors ${s.errors})`);
    return s.issuedPerSec;
  } finally {
    await node.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

// ── CPU and memory from /proc ───────────────────────────────────────────────────────────────────

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on Linux). */
const CLK_TCK = 100;

/** CPU seconds used so far by a process (user + system), from /proc; taskset execs node in place, so the pid is node's. */
export function procCpuSec(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Busy CPU seconds of each core so far (everything but idle and iowait), from /proc/stat. */
export function coreBusySec(): number[] {
  return fs.readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).map((l) => {
    const [, user, nice, system, , , irq, softirq, steal] = l.split(/\s+/).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / CLK_TCK;
  });
}

/** A process's resident set now and its peak so far (VmRSS, VmHWM), in MiB; undefined once it exited. */
export function procRss(pid: number): { rssMiB: number; peakMiB: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: round(kb('VmRSS') / 1024, 1), peakMiB: round(kb('VmHWM') / 1024, 1) };
  } catch {
    return undefined;
  }
}

/** The machine a run took place on, with its load average at the start (noise). */
export function machine(dataDir: string, niceness: number | undefined): Record<string, unknown> {
  const dataFs = (() => { try { return execFileSync('df', ['--output=fstype', dataDir], { encoding: 'utf8' }).trim().split('\n').pop(); } catch { return 'unknown'; } })();
  return { niceness, cpu: os.cpus()[0]?.model ?? 'unknown', cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version, dataFs, loadavg: os.loadavg().map((l) => round(l, 2)) };
}

export const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * Re-runs the calling bench pinned to the load core (child threads inherit the affinity, unlike
 * `taskset -p` later) in a session of its own, whose weight can then be raised so other work on a
 * shared machine perturbs the run less; inside that child, runs `bench`. `script` is the bench's
 * import.meta.url. PARLEY_BENCH_PINNED tells the child whether it was pinned.
 */
export function runPinned(script: string, bench: (argv: string[]) => Promise<number>): void {
  if (process.env.PARLEY_BENCH_PINNED === undefined) {
    const canPin = os.cpus().length >= 2 && hasTaskset();
    if (!canPin) console.warn(`warning: ${os.cpus().length < 2 ? 'fewer than 2 CPUs' : 'taskset (util-linux) not found'}; running unpinned, server and load share cores`);
    const self = FROM_SOURCE ? [process.execPath, '--import', 'tsx', fileURLToPath(script)] : [process.execPath, fileURLToPath(script)];
    const [cmd, args] = pinned(canPin, LOAD_CPU, [...self, ...process.argv.slice(2)]);
    const child = spawn(cmd, args, { stdio: 'inherit', detached: true, env: { ...process.env, PARLEY_BENCH_PINNED: canPin ? '1' : '0' } });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
    child.on('exit', (code, signal) => process.exit(code ?? (signal ? 2 : 0)));
    return;
  }
  bench(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => { console.error(err instanceof Error ? err.stack : err); process.exit(2); },
  );
}

/** Prints rows as a plain aligned table; the first `left` columns align left, the rest right. */
export function printTable(head: string[], rows: string[][], left = 1): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `  | ${cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(head));
  console.log(`  |${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}
