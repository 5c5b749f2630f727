/**
 * Server configuration: one table of settings with defaults, units and docs. Values come from
 * `--flag value`, `--flag=value` or `PARLEY_*` variables (flags win), are validated once with every
 * problem reported together, and the result is frozen.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from './args.ts';
import { extraTypesProblem } from './attachments/sniff.ts';

type Kind = 'int' | 'string' | 'enum' | 'bool';

interface Setting {
  readonly kind: Kind;
  readonly default: string | number | boolean | undefined;
  readonly doc: string;
  readonly min?: number;
  readonly max?: number;
  readonly values?: readonly string[];
}

export const SETTINGS = {
  host: { kind: 'string', default: '0.0.0.0', doc: 'public interface to bind (WebSocket + REST)' },
  port: { kind: 'int', default: 8080, min: 0, max: 65535, doc: 'public port; 0 picks a free one' },
  opsHost: { kind: 'string', default: '127.0.0.1', doc: 'ops interface to bind (/healthz, /readyz, /metrics, /admin)' },
  opsPort: { kind: 'int', default: 9464, min: 0, max: 65535, doc: 'ops port; 0 picks a free one' },
  wsPath: { kind: 'string', default: '/ws', doc: 'WebSocket path' },
  dataDir: { kind: 'string', default: './data', doc: 'directory for the SQLite file and the generated secret' },
  store: { kind: 'string', default: 'sqlite', doc: 'message store: sqlite (a file in dataDir, one node) or a postgres:// / postgresql:// URL (PostgreSQL shared by many nodes)' },
  sqliteSync: { kind: 'enum', default: 'full', values: ['full', 'normal'], doc: 'SQLite synchronous mode: full survives power loss, normal survives process crashes' },
  bus: { kind: 'enum', default: 'local', values: ['local', 'redis'], doc: 'fan-out bus between nodes: local (one node) or redis (needs --redis); setting --redis alone selects redis' },
  redis: { kind: 'string', default: undefined, doc: 'Redis URL (redis://host:port) or comma-separated Redis Cluster seeds (host:port,...): the node joins a cluster through it (cross-node fan-out, presence directory)' },
  redisPrefix: { kind: 'string', default: 'parley', doc: 'first segment of every Redis key and channel of this deployment (letters, digits, . _ -; at most 64), so several deployments can share one Redis or Redis Cluster; every node of one deployment needs the same one' },
  gapCheckMs: { kind: 'int', default: 30_000, min: 0, max: 3_600_000, doc: 'how often each session checks its chats against the store for a last message pub/sub dropped (0: only after the bus reconnects)' },
  secret: { kind: 'string', default: undefined, doc: 'HMAC secret for access tokens (>= 32 chars); generated into dataDir when unset' },
  adminToken: { kind: 'string', default: undefined, doc: 'bearer token for /admin routes on the ops port' },
  tokenTtlSec: { kind: 'int', default: 86_400, min: 1, max: 31_536_000, doc: 'lifetime of tokens minted by `parley token`' },
  maxQueueBytes: { kind: 'int', default: 1_048_576, min: 4096, max: 1 << 30, doc: 'per-connection outbound queue bound; overflow closes with 4008 slow' },
  pingIntervalMs: { kind: 'int', default: 25_000, min: 100, max: 600_000, doc: 'server ping interval; a peer silent for two intervals is reaped' },
  sendRatePerSec: { kind: 'int', default: 50, min: 1, max: 1_000_000, doc: 'per-session token bucket refill for sends' },
  sendBurst: { kind: 'int', default: 100, min: 1, max: 1_000_000, doc: 'per-session token bucket size for sends' },
  abuseLimit: { kind: 'int', default: 200, min: 1, max: 1_000_000, doc: 'rate-limited sends within 10 s that close the connection with 4029' },
  badFrameLimit: { kind: 'int', default: 1000, min: 1, max: 10_000_000, doc: 'bad frames within 60 s that close the connection with 4503' },
  readRatePerSec: { kind: 'int', default: 20, min: 1, max: 1_000_000, doc: 'per-session token bucket refill for reads, in cost units (history: 1 per 50 messages asked, sync 4, chats 2, roster 2, others 1); over it: rate_limited' },
  readBurst: { kind: 'int', default: 60, min: 1, max: 1_000_000, doc: 'per-session token bucket size for reads, in cost units' },
  maxInflight: { kind: 'int', default: 64, min: 1, max: 100_000, doc: 'requests other than sends one connection may have unanswered (sends have their own rate limit); more are refused with busy' },
  maxDevicesPerUser: { kind: 'int', default: 10, min: 1, max: 10_000, doc: 'connections one user may hold on this node; the oldest beyond it is closed with 4509 device_limit' },
  nodeMaxInflight: { kind: 'int', default: 20_000, min: 0, max: 10_000_000, doc: 'requests in flight across the node beyond which new work is refused with overloaded and /readyz fails (0: no bound)' },
  nodeMaxQueuedBytes: { kind: 'int', default: 268_435_456, min: 0, max: 1 << 40, doc: 'outbound bytes queued across all sessions beyond which new work is refused with overloaded (0: no bound)' },
  heapWatermarkMb: { kind: 'int', default: -1, min: -1, max: 1 << 20, doc: 'heap used (MiB) beyond which new work is refused with overloaded; -1: 85% of the heap limit, 0: no bound' },
  drainTimeoutMs: { kind: 'int', default: 10_000, min: 0, max: 600_000, doc: 'bound on graceful drain after SIGTERM' },
  liveHoldMs: { kind: 'int', default: 1000, min: 0, max: 60_000, doc: 'how long live delivery waits for a fresh session to send its first frame (its sync)' },
  batchMax: { kind: 'int', default: 512, min: 1, max: 100_000, doc: 'most messages committed in one store transaction' },
  historyCacheMessages: { kind: 'int', default: 75, min: 0, max: 10_000, doc: 'last messages per chat kept to answer the first history page and resume catch-up without reading messages from the store: in memory on one node, in Redis (a sorted set per chat, shared by the nodes) on a node with --redis (0: off)' },
  historyCacheTtlMs: { kind: 'int', default: 3_600_000, min: 1000, max: 2_592_000_000, doc: 'with --redis: a chat\'s cached messages expire this long after the last write to them, so an idle chat\'s entries go away by themselves; Redis holds at most historyCacheMessages per chat written within it' },
  ephemeralLifetimeMs: { kind: 'int', default: 86_400_000, min: 1, max: 31_536_000_000, doc: 'lifetime since the last message of an ephemeral room created without one (room.create ephemeral)' },
  ephemeralMinLifetimeMs: { kind: 'int', default: 60_000, min: 1, max: 31_536_000_000, doc: 'shortest lifetime an ephemeral room may ask for (bad_field below it)' },
  ephemeralMaxLifetimeMs: { kind: 'int', default: 2_592_000_000, min: 1, max: 31_536_000_000, doc: 'longest lifetime an ephemeral room may ask for (bad_field above it)' },
  expiryCheckMs: { kind: 'int', default: 10_000, min: 0, max: 3_600_000, doc: 'how often lapsed ephemeral chats are looked for and deleted, in batches of 100 (0: never)' },
  historyCacheBytes: { kind: 'int', default: 16_777_216, min: 0, max: 1 << 40, doc: 'bound on the in-memory hot cache\'s estimated bytes across chats; the least recently used chats are evicted beyond it (a cache in Redis is bounded by historyCacheMessages and historyCacheTtlMs instead)' },
  attachmentMaxBytes: { kind: 'int', default: 10_485_760, min: 1024, max: 1 << 30, doc: 'largest attachment upload in bytes; the upload is refused with 413 attachment_too_large as soon as it passes this, nothing stored' },
  attachmentMaxPixels: { kind: 'int', default: 40_000_000, min: 1, max: 1 << 30, doc: 'most pixels (width x height, all frames) an uploaded image may declare; more is refused from the header alone with attachment_dimensions' },
  attachmentExtraTypes: { kind: 'string', default: undefined, doc: 'attachment kinds accepted besides JPEG, PNG, WebP and GIF images, comma-separated, recognised by magic bytes: pdf, zip, mp4, webm, ogg, mp3, octet-stream (anything); unset: images only' },
  attachmentMaxUploads: { kind: 'int', default: 8, min: 1, max: 1000, doc: 'uploads one node reads and processes at once (memory: this many times attachmentMaxBytes, plus decoding); more are refused with overloaded, retry after 1 s' },
  attachmentIdleMs: { kind: 'int', default: 30_000, min: 100, max: 600_000, doc: 'an upload whose body sends nothing for this long is refused with attachment_stalled and its connection closed (a stalled upload holds one of attachmentMaxUploads)' },
  attachmentThumbPx: { kind: 'int', default: 320, min: 16, max: 2048, doc: 'longest side of the WebP thumbnail made of each image attachment' },
  attachmentGraceMs: { kind: 'int', default: 3_600_000, min: 100, max: 2_592_000_000, doc: 'how long an upload no message references is kept before the sweep deletes it' },
  attachmentSweepMs: { kind: 'int', default: 60_000, min: 0, max: 3_600_000, doc: 'how often unreferenced uploads older than attachmentGraceMs are deleted, in batches of 100 (0: never)' },
  typing: { kind: 'bool', default: true, doc: 'relay typing indicators at all (off: every typing op is dropped and counted)' },
  typingThrottleMs: { kind: 'int', default: 2_000, min: 0, max: 60_000, doc: 'per user per conversation, at most one "start" relayed per this window; extras are dropped and counted' },
  typingTtlMs: { kind: 'int', default: 6_000, min: 100, max: 120_000, doc: 'a "start" not renewed or stopped within this time expires and the server relays "stop"' },
  presenceGraceMs: { kind: 'int', default: 5_000, min: 0, max: 600_000, doc: 'delay before a user whose last connection closed is announced offline; a reconnect within it announces nothing' },
  presenceCoalesceMs: { kind: 'int', default: 500, min: 0, max: 60_000, doc: 'at most one presence broadcast per user per window; the last state wins' },
  presenceBatchMs: { kind: 'int', default: 250, min: 0, max: 60_000, doc: 'presence updates for one observer are batched into one frame per window' },
  presenceNodeTtlMs: { kind: 'int', default: 30_000, min: 100, max: 3_600_000, doc: 'a node not heard from (heartbeat every third of this) for this long has its users shown offline: a crashed or drained node leaves no stale presence' },
  readByWindowMs: { kind: 'int', default: 1_000, min: 0, max: 60_000, doc: 'room "read by" counts are pushed at most once per room per window' },
  notesKeyring: { kind: 'string', default: undefined, doc: 'keyring file (JSON, mode 0600) for roster-note encryption; defaults to <dataDir>/keyring.json, created on first start' },
  notesReencrypt: { kind: 'bool', default: true, doc: 'move notes under an old key to the current key in the background (on start and after `parley keys rotate`)' },
  logLevel: { kind: 'enum', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'log level' },
  logFormat: { kind: 'enum', default: undefined, values: ['json', 'pretty'], doc: 'json: one pino JSON line per record; pretty: one readable line each; defaults to pretty when stdout is a terminal, json otherwise' },
  nodeId: { kind: 'string', default: undefined, doc: 'node name in logs, metrics and flag stickiness (nodeId); defaults to the one kept in <dataDir>/node-id, created on first start (host-random), stable across restarts' },
  faultDelayMs: { kind: 'int', default: 0, min: 0, max: 10_000, doc: 'adds processing delay to every send; for testing the release gate only' },
  faultVariantDelayMs: { kind: 'int', default: 0, min: 0, max: 10_000, doc: 'delays each delivery pass of the fanout-batched variant only (control is untouched); for testing the canary only' },
  flagsFile: { kind: 'string', default: './flags/features.json', doc: 'feature flags in Unleash client-features format; edits apply within seconds' },
  flagsPollMs: { kind: 'int', default: 1000, min: 100, max: 600_000, doc: 'polling interval of the flags file (fallback to file-change events)' },
  unleashUrl: { kind: 'string', default: undefined, doc: 'Unleash server API URL (also UNLEASH_URL); when set, flags come from it and the file is only the bootstrap' },
  unleashApiToken: { kind: 'string', default: undefined, doc: 'Unleash client API token (also UNLEASH_API_TOKEN)' },
  unleashRefreshMs: { kind: 'int', default: 15_000, min: 200, max: 3_600_000, doc: 'how often the node asks the Unleash server for flag changes (and how long a change takes to reach every node)' },
  alertIntervalMs: { kind: 'int', default: 5000, min: 100, max: 600_000, doc: 'how often the embedded evaluator checks the alert rules' },
  alertWebhookUrl: { kind: 'string', default: undefined, doc: 'Alertmanager-compatible URL (…/api/v2/alerts) that firing and resolved alerts are posted to' },
  debugMinutes: { kind: 'int', default: 15, min: 1, max: 1440, doc: 'default length of a per-session debug period' },
  debugMaxMinutes: { kind: 'int', default: 60, min: 1, max: 1440, doc: 'upper bound of any per-session debug period' },
  debugRingSize: { kind: 'int', default: 1000, min: 10, max: 1_000_000, doc: 'entries kept in each debugged session\'s ring buffer (GET /admin/debug/<session>)' },
  debugLineBudget: { kind: 'int', default: 100_000, min: 1, max: 100_000_000, doc: 'debug lines one session may write to the debug log per debug period (the ring buffer keeps recording)' },
  debugLogFile: { kind: 'string', default: undefined, doc: 'destination of per-session debug lines; defaults to <dataDir>/debug.log' },
  devLogin: { kind: 'bool', default: false, doc: 'development sign-in: the chat page asks only for a user name and POST /dev/token hands out a token for it; refused on a non-loopback --host unless --dev-login-any-host' },
  devLoginAnyHost: { kind: 'bool', default: false, doc: 'allow --dev-login on a non-loopback --host (anyone who reaches the port can sign in as anyone)' },
} as const satisfies Record<string, Setting>;

type Settings = typeof SETTINGS;
type ValueOf<S extends Setting> = S['kind'] extends 'int' ? number : S['kind'] extends 'bool' ? boolean
  : S extends { values: readonly (infer V)[] } ? V : string;
export type Config = { readonly [K in keyof Settings]: Settings[K]['default'] extends undefined ? ValueOf<Settings[K]> | undefined : ValueOf<Settings[K]> };

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (name: string) => `PARLEY_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/** PARLEY_* variables that other parley commands and scripts read; the server ignores them silently. */
const OTHER_PARLEY_VARS = new Set(['PARLEY_NIGHTLY_WEBHOOK', 'PARLEY_SMTP_URL', 'PARLEY_TARGET', 'PARLEY_USER_PREFIX', 'PARLEY_BENCH_PINNED', 'PARLEY_FUZZ_SEED']);

/** Invalid server settings: every problem at once. */
export class ConfigError extends UsageError {
  constructor(problems: string[]) {
    super(problems);
    this.name = 'ConfigError';
    this.message = `invalid configuration:\n  - ${problems.join('\n  - ')}`;
  }
}

/**
 * Builds the configuration from flags, environment and overrides (overrides win; tests use them).
 * Throws ConfigError listing every problem.
 */
export function loadConfig(
  flags: Map<string, string> = new Map(),
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Record<keyof Settings, string | number | boolean>> = {},
): Config {
  const problems: string[] = [];
  const known = new Set(Object.keys(SETTINGS).map(kebab));
  for (const flag of flags.keys()) if (!known.has(flag)) problems.push(`unknown flag --${flag}`);
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(SETTINGS) as [keyof Settings, Setting][]) {
    const raw = overrides[name] ?? flags.get(kebab(name)) ?? env[envName(name)];
    const source = overrides[name] !== undefined ? name : flags.has(kebab(name)) ? `--${kebab(name)}` : envName(name);
    if (raw === undefined) { out[name] = s.default; continue; }
    const text = String(raw);
    // An empty value is a mistake (a variable set from an unset shell variable, `--port=`), not a
    // request for the default: the default is what you get by leaving the setting out.
    if (text === '') { problems.push(`${source} is empty; leave it out to get ${s.default === undefined ? 'the built-in behaviour' : `the default (${s.default})`}`); continue; }
    switch (s.kind) {
      case 'int': {
        const n = Number(text.replace(/_/g, ''));
        if (!Number.isSafeInteger(n)) problems.push(`${source} must be an integer, got "${text}"`);
        else if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) problems.push(`${source} must be in [${s.min}, ${s.max}], got ${n}`);
        else out[name] = n;
        break;
      }
      case 'enum':
        if (!s.values!.includes(text)) problems.push(`${source} must be one of ${s.values!.join(', ')}, got "${text}"`);
        else out[name] = text;
        break;
      case 'bool':
        if (!['true', 'false', '1', '0'].includes(text)) problems.push(`${source} must be true or false, got "${text}"`);
        else out[name] = text === 'true' || text === '1';
        break;
      default:
        out[name] = text;
    }
  }
  if (typeof out.secret === 'string' && out.secret.length < 32) problems.push('secret must be at least 32 characters');
  if (typeof out.adminToken === 'string' && out.adminToken.length < 16) problems.push('adminToken must be at least 16 characters');
  if (typeof out.wsPath === 'string' && !out.wsPath.startsWith('/')) problems.push(`wsPath must start with "/", got "${out.wsPath}"`);
  if (out.devLogin === true && !isLoopback(String(out.host)) && out.devLoginAnyHost !== true) {
    problems.push(`--dev-login lets anyone sign in as anyone: it needs a loopback --host (127.0.0.1, ::1, localhost), got "${out.host}"; add --dev-login-any-host true to force it`);
  }
  if (out.bus === 'redis' && out.redis === undefined) problems.push('bus redis needs --redis (PARLEY_REDIS) with a redis:// URL or cluster seeds');
  if (typeof out.redis === 'string' && !out.redis.split(',').every((seed) => /^(rediss?:\/\/[^\s,]+|[^\s,:/]+:\d+)$/.test(seed))) problems.push(`redis must be a redis:// URL or comma-separated host:port cluster seeds, got "${out.redis.slice(0, 80)}"`);
  const prefixProblem = typeof out.redisPrefix === 'string' ? redisPrefixProblem(out.redisPrefix) : undefined;
  if (prefixProblem) problems.push(prefixProblem);
  const storeProblem = typeof out.store === 'string' ? storeUrlProblem(out.store) : undefined;
  if (storeProblem) problems.push(storeProblem);
  if (out.port !== 0 && out.port === out.opsPort && out.host === out.opsHost) problems.push('port and opsPort must differ');
  for (const name of ['host', 'opsHost'] as const) {
    const problem = hostProblem(String(out[name]));
    if (problem) problems.push(`${name} ${problem}`);
  }
  for (const name of ['alertWebhookUrl', 'unleashUrl'] as const) {
    if (typeof out[name] === 'string' && !isHttpUrl(out[name] as string)) problems.push(`${name} must be an http:// or https:// URL, got "${String(out[name]).slice(0, 80)}"`);
  }
  const typesProblem = typeof out.attachmentExtraTypes === 'string' ? extraTypesProblem(out.attachmentExtraTypes) : undefined;
  if (typesProblem) problems.push(typesProblem);
  if (problems.length) throw new ConfigError(problems);
  out.dataDir = path.resolve(String(out.dataDir));
  // Read only: loading settings writes nothing (`parley token`, `keys list`); the server keeps the id (keepNodeId).
  out.nodeId ??= storedNodeId(String(out.dataDir)) ?? `${os.hostname()}-${randomBytes(4).toString('hex')}`;
  out.notesKeyring = path.resolve(String(out.notesKeyring ?? path.join(String(out.dataDir), 'keyring.json')));
  out.logFormat ??= process.stdout.isTTY ? 'pretty' : 'json';
  return Object.freeze(out) as Config;
}

/** Whether a bind address reaches only this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * The node id kept in `<dataDir>/node-id`: a node canary (flag stickiness nodeId) needs the same
 * node in the same bucket after a restart, which host-pid is not.
 */
function storedNodeId(dataDir: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dataDir, 'node-id'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A starting node keeps its id in `<dataDir>/node-id` (private) unless one is there already. */
export function keepNodeId(dataDir: string, id: string): void {
  try {
    fs.writeFileSync(path.join(dataDir, 'node-id'), `${id}\n`, { mode: 0o600, flag: 'wx' });
  } catch {
    // there already (this id came from it, or another process wrote it first), or not writable: nothing to keep
  }
}

/**
 * What is wrong with a Redis prefix. It is one key segment: a brace would move the hash tag
 * ({u:<user>}) that places a user's keys on one slot, a colon would let one deployment's prefix
 * end where another's keys begin (`a:b` against `a` with keys `b:...`), whitespace breaks redis-cli.
 */
export function redisPrefixProblem(prefix: string): string | undefined {
  if (prefix.length > 64) return `redisPrefix must be at most 64 characters, got ${prefix.length}`;
  if (!/^[A-Za-z0-9._-]+$/.test(prefix)) return `redisPrefix must be letters, digits, ".", "_" or "-" (one key segment: no braces, colons or whitespace), got "${prefix}"`;
  return undefined;
}

/** What is wrong with a store setting: "sqlite" or a postgres:// or postgresql:// URL with a host. */
export function storeUrlProblem(store: string): string | undefined {
  if (store === 'sqlite') return undefined;
  const expected = 'store must be "sqlite" or a postgres:// or postgresql:// URL';
  if (!/^postgres(ql)?:\/\//.test(store)) return `${expected}, got "${store.slice(0, 80)}"`;
  try {
    if (!new URL(store).hostname) return `${expected} with a host, got one without`;
  } catch {
    return `${expected}, got an unparsable URL`;
  }
  return undefined;
}

/**
 * One warning per PARLEY_* variable that is no setting (a typo like PARLEY_PROT would otherwise be
 * ignored), naming the setting it most likely meant. Warnings, not errors: other tools share the prefix.
 */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv = process.env): string[] {
  const known = Object.keys(SETTINGS).map(envName);
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('PARLEY_') || known.includes(name) || OTHER_PARLEY_VARS.has(name)) continue;
    const near = known.map((k) => [k, distance(name, k)] as const).sort((a, b) => a[1] - b[1])[0]!;
    const hint = near[1] <= 3 ? ` (did you mean ${near[0]}?)` : '';
    warnings.push(`${name} is not a parley setting and is ignored${hint}`);
  }
  return warnings;
}

/** Levenshtein distance, for suggesting the setting a misspelt variable meant. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The value a flag takes, as help shows it; a long list of choices goes into the doc instead. */
const valueWord = (s: Setting) => (s.kind === 'int' ? 'N' : s.kind === 'bool' ? 'true|false' : s.kind === 'string' ? 'S'
  : s.values!.join('|').length <= 16 ? s.values!.join('|') : 'WORD');

/**
 * The settings table as help text: the flag with its value and the variable in two aligned
 * columns, the doc and default below, wrapped to `width` columns.
 */
/** Why `host` cannot be bound, as a phrase; undefined when it is an IP address or a host name. */
function hostProblem(host: string): string | undefined {
  if (net.isIP(host)) return undefined;
  // Dotted digits that are not an IPv4 address (999.1.1.1) would be looked up as a name and fail at bind.
  if (/^[\d.]+$/.test(host)) return `must be an IPv4 address, an IPv6 address or a host name, got "${host}" (not a valid IPv4 address)`;
  if (host.includes(':')) return `must be an IPv4 address, an IPv6 address or a host name, got "${host}" (not a valid IPv6 address)`;
  if (!/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host)) {
    return `must be an IPv4 address, an IPv6 address or a host name, got "${host.slice(0, 80)}"`;
  }
  return undefined;
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

export function settingsHelp(width = 100): string {
  const rows = Object.entries(SETTINGS as Record<string, Setting>).map(([name, s]) => ({
    flag: `--${kebab(name)} ${valueWord(s)}`,
    env: envName(name),
    doc: `${s.doc}${valueWord(s) === 'WORD' ? `: one of ${s.values!.join(', ')}` : ''}${s.default === undefined ? '' : ` (default ${s.default})`}`,
  }));
  const flagWidth = Math.max(...rows.map((r) => r.flag.length));
  return rows.map((r) => `  ${r.flag.padEnd(flagWidth)}  ${r.env}\n${wrap(r.doc, width - 6).map((l) => `      ${l}`).join('\n')}`).join('\n');
}

/** Splits `text` into lines of at most `width` characters at spaces. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = word; } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}
