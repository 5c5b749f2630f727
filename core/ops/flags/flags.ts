/**
 * The flag layer: unleash-client evaluating flags/features.json as bootstrap data (no server, no
 * polling, no backup files), reloaded when the file changes; or, with UNLEASH_URL, a real Unleash
 * server, its last answer kept in the data dir (backup.ts) and the file as the first-start seed.
 * Evaluation never throws: anything unknown or broken answers the flag's documented default.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { InMemStorageProvider, Unleash, type Context } from 'unleash-client';
import type { Meter } from '../../metrics.ts';
import { BackupStorage } from './backup.ts';
import { FLAGS, isFlagName } from './names.ts';

/** Unleash client-features format (version 2): what flags/features.json holds. */
export interface FeaturesFile {
  version: number;
  features: Record<string, unknown>[];
  segments?: Record<string, unknown>[];
}

/** Per-session evaluation context; node id and version are added as properties by the layer. */
export interface FlagContext {
  userId?: string;
  sessionId?: string;
  remoteAddress?: string;
  properties?: Record<string, string>;
}

export interface Variant {
  name: string;
  enabled: boolean;
  /** Whether the flag itself is on (a flag can be on with no variants). */
  featureEnabled: boolean;
  payload?: { type: string; value: string };
}

/**
 * Where the definitions in force came from: the flags file, the Unleash server, the backup of the
 * server's last answer, the flags file as the seed of a node that never reached the server, or
 * nothing (every flag answers its default). `stale` is true while the server cannot be reached
 * (or has not answered yet) and the node evaluates what it knew before.
 */
export interface FlagStatus {
  source: 'file' | 'unleash' | 'backup' | 'bootstrap' | 'defaults';
  stale: boolean;
  /** The last successful fetch from the server (ISO time), when there was one. */
  fetchedAt?: string;
  /** The last fetch error while stale. */
  error?: string;
}

/** What the core sees of feature flags. */
export interface Flags {
  isEnabled(name: string, ctx?: FlagContext): boolean;
  variant(name: string, ctx?: FlagContext): Variant;
  /** Called after each change of definitions (file edit, reload, server update). Returns an unsubscribe. */
  onChange(fn: () => void): () => void;
  /** Re-reads the definitions now; rejects with a message on a broken file (the old ones stay). */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export interface FlagOptions {
  /** Path of the client-features file; ignored when `state` is given. */
  file?: string;
  /** Definitions given directly (tests, the client specification). */
  state?: FeaturesFile;
  /** A real Unleash server (`UNLEASH_URL`) with its client token. */
  unleashUrl?: string;
  apiToken?: string;
  /** Polling interval against the Unleash server. */
  refreshMs?: number;
  /** How often evaluation counts are posted to the Unleash server (default 60 s). */
  metricsMs?: number;
  /**
   * Where the server's last answer is kept (the node's data dir), so a restart while the server
   * is down still serves the last known flags. Without it, nothing is kept across restarts.
   */
  backupDir?: string;
  appName?: string;
  environment?: string;
  /** Added to every context's properties (nodeId, version). */
  properties?: Record<string, string>;
  /** Watch the file and reload on change (fs.watch plus polling every pollMs as a fallback). */
  watch?: boolean;
  pollMs?: number;
  meter?: Meter;
  log?: Logger;
  /** Observes every evaluation (the debug log uses it). */
  onEvaluate?: (name: string, ctx: FlagContext | undefined, result: string) => void;
}

/** Reads and checks a client-features file; throws an Error naming what is wrong. */
export function readFeatures(file: string): FeaturesFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`flags file ${file}: ${(err as Error).message}`);
  }
  const f = parsed as FeaturesFile;
  if (typeof f !== 'object' || f === null || !Array.isArray(f.features)) throw new Error(`flags file ${file}: expected {"version": 2, "features": [...]}`);
  for (const [i, feat] of f.features.entries()) {
    if (typeof feat?.name !== 'string' || !Array.isArray(feat.strategies)) throw new Error(`flags file ${file}: features[${i}] needs a string "name" and a "strategies" array`);
  }
  return f;
}

async function ready(u: Unleash, timeoutMs: number): Promise<void> {
  if (u.isSynchronized()) return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`flags not ready within ${timeoutMs} ms`)), timeoutMs);
    u.once('synchronized', () => { clearTimeout(t); resolve(); });
  });
}

export class FlagLayer implements Flags {
  readonly #opts: FlagOptions;
  readonly #events = new EventEmitter();
  readonly #base: Record<string, string>;
  #unleash: Unleash | undefined;
  #storage: BackupStorage | undefined;
  #status: FlagStatus = { source: 'defaults', stale: false };
  #hash = '';
  #watcher: fs.FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #closed = false;
  #reloading: Promise<void> = Promise.resolve();

  private constructor(opts: FlagOptions) {
    this.#opts = opts;
    this.#base = opts.properties ?? {};
  }

  /** Opens the layer and waits until the first definitions are loaded. */
  static async open(opts: FlagOptions): Promise<FlagLayer> {
    const layer = new FlagLayer(opts);
    if (opts.unleashUrl) await layer.#connect();
    else await layer.reload();
    if (opts.watch && opts.file && !opts.unleashUrl) layer.#watch(opts.file);
    return layer;
  }

  #create(state: FeaturesFile | undefined, remote: boolean, storage?: BackupStorage): Unleash {
    const o = this.#opts;
    const u = new Unleash({
      appName: o.appName ?? 'parley',
      environment: o.environment ?? 'default',
      url: remote ? o.unleashUrl! : 'http://127.0.0.1:1/api/',
      // Without a server: no polling, no metrics posts, no backup files in the temp dir.
      refreshInterval: remote ? (o.refreshMs ?? 15_000) : 0,
      disableMetrics: !remote,
      metricsInterval: o.metricsMs ?? 60_000,
      // Remote: the seed and the server's answers go through the backup, never through bootstrap
      // (a bootstrap is saved like a server answer and would overwrite the backup).
      storageProvider: storage ?? new InMemStorageProvider(),
      skipInstanceCountWarning: true,
      customHeaders: remote && o.apiToken ? { Authorization: o.apiToken } : {},
      bootstrap: state && !remote ? { data: state.features as never, segments: (state.segments ?? []) as never } : undefined,
    } as ConstructorParameters<typeof Unleash>[0]);
    u.on('error', (err: unknown) => this.#opts.log?.warn({ err }, 'unleash error'));
    u.on('warn', (msg: unknown) => this.#opts.log?.debug({ msg }, 'unleash warning'));
    return u;
  }

  async #connect(): Promise<void> {
    const file = this.#opts.file;
    const seed = this.#opts.state ?? (file && fs.existsSync(file) ? readFeatures(file) : undefined);
    const storage = new BackupStorage({ dir: this.#opts.backupDir, seed, log: this.#opts.log });
    this.#storage = storage;
    this.#status = { source: storage.source, stale: true };
    this.#publish();
    storage.onSaved = () => this.#fresh();
    const u = this.#create(undefined, true, storage);
    u.on('changed', () => this.#events.emit('change'));
    u.on('unchanged', () => this.#fresh());
    const down = (error: string) => {
      this.#opts.meter?.inc('parley_flag_fetches_total', { result: 'error' });
      this.#status = { ...this.#status, stale: true, error };
      this.#publish();
    };
    u.on('error', (err: Error) => down(err.message));
    // 5xx, 404 and 429 answers come as warnings ("... responded 503. Backing off").
    u.on('warn', (msg: unknown) => { if (typeof msg === 'string' && / responded /.test(msg)) down(msg); });
    this.#unleash = u;
    // Ready on the first server answer; with the server down, as soon as the backup or seed is in.
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, 10_000);
      function done(): void { clearTimeout(t); resolve(); }
      u.once('synchronized', done);
      u.on('error', () => { if (storage.loaded) done(); });
    });
    if (this.#status.stale) this.#opts.log?.warn({ source: this.#status.source, error: this.#status.error }, 'unleash server not reachable yet; serving the last known flags');
  }

  /** The Unleash server answered (new definitions saved, or unchanged). */
  #fresh(): void {
    this.#opts.meter?.inc('parley_flag_fetches_total', { result: 'ok' });
    this.#status = { source: 'unleash', stale: false, fetchedAt: new Date().toISOString() };
    this.#publish();
  }

  #publish(): void {
    this.#opts.meter?.set('parley_flags_stale', this.#status.stale ? 1 : 0);
  }

  /** Where the definitions in force came from, and whether they may be out of date. */
  status(): FlagStatus {
    if (this.#opts.unleashUrl) return { ...this.#status };
    return { source: this.#unleash ? 'file' : 'defaults', stale: false };
  }

  reload(): Promise<void> {
    const run = this.#reloading.then(() => this.#load());
    this.#reloading = run.catch(() => {});
    return run;
  }

  async #load(): Promise<void> {
    if (this.#closed) return;
    if (this.#opts.unleashUrl) return;
    let state: FeaturesFile;
    let hash: string;
    try {
      if (this.#opts.state) state = this.#opts.state;
      else if (this.#opts.file && !fs.existsSync(this.#opts.file)) {
        // A node started outside the repository still runs: documented defaults until the file appears.
        if (!this.#unleash && this.#hash === '') this.#opts.log?.warn({ file: this.#opts.file }, 'flags file not found; every flag answers its documented default');
        state = { version: 2, features: [] };
      } else if (this.#opts.file) state = readFeatures(this.#opts.file);
      else state = { version: 2, features: [] };
      hash = createHash('sha256').update(JSON.stringify(state)).digest('hex');
    } catch (err) {
      this.#opts.meter?.inc('parley_flag_reloads_total', { result: 'error' });
      this.#opts.log?.error({ err: (err as Error).message }, 'flags reload failed; keeping the previous definitions');
      throw err;
    }
    if (hash === this.#hash) return;
    // unleash-client never becomes ready on empty bootstrap data; no definitions means defaults.
    const next = state.features.length ? this.#create(state, false) : undefined;
    if (next) await ready(next, 5_000);
    const prev = this.#unleash;
    this.#unleash = next;
    this.#hash = hash;
    prev?.destroy();
    this.#opts.meter?.inc('parley_flag_reloads_total', { result: 'ok' });
    this.#opts.log?.info({ flags: state.features.length, file: this.#opts.file }, 'flags loaded');
    if (prev) this.#events.emit('change');
  }

  #watch(file: string): void {
    const schedule = () => {
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => void this.reload().catch(() => {}), 100);
      this.#debounce.unref();
    };
    try {
      // The directory is watched, not the file: editors replace files by renaming.
      this.#watcher = fs.watch(path.dirname(file), (_event, name) => { if (!name || name === path.basename(file)) schedule(); });
      this.#watcher.on('error', () => {});
      this.#watcher.unref();
    } catch {
      this.#watcher = undefined;
    }
    fs.watchFile(file, { interval: this.#opts.pollMs ?? 1000, persistent: false }, schedule);
  }

  #context(ctx: FlagContext | undefined): Context {
    return { ...ctx, properties: { ...this.#base, ...ctx?.properties } } as Context;
  }

  #record(name: string, ctx: FlagContext | undefined, result: string, enabled: boolean): void {
    this.#opts.meter?.inc('parley_flag_evaluations_total', { flag: name, result: enabled ? 'enabled' : 'disabled' });
    this.#opts.onEvaluate?.(name, ctx, result);
  }

  isEnabled(name: string, ctx?: FlagContext): boolean {
    const fallback = isFlagName(name) ? FLAGS[name].default : false;
    let on = fallback;
    try {
      const u = this.#unleash;
      if (u) on = u.isEnabled(name, this.#context(ctx), fallback);
    } catch (err) {
      this.#opts.log?.warn({ err, flag: name }, 'flag evaluation failed; using the default');
      on = fallback;
    }
    this.#record(name, ctx, String(on), on);
    return on;
  }

  variant(name: string, ctx?: FlagContext): Variant {
    let v: Variant = { name: 'disabled', enabled: false, featureEnabled: false };
    try {
      const u = this.#unleash;
      if (u) {
        const got = u.getVariant(name, this.#context(ctx));
        v = { name: got.name, enabled: got.enabled, featureEnabled: Boolean(got.feature_enabled) };
        if (got.payload) v.payload = { type: String(got.payload.type), value: String(got.payload.value) };
      }
    } catch (err) {
      this.#opts.log?.warn({ err, flag: name }, 'flag variant evaluation failed; using disabled');
    }
    this.#record(name, ctx, `variant:${v.name}`, v.enabled);
    return v;
  }

  onChange(fn: () => void): () => void {
    this.#events.on('change', fn);
    return () => this.#events.off('change', fn);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#debounce);
    this.#watcher?.close();
    if (this.#opts.file) fs.unwatchFile(this.#opts.file);
    await this.#reloading;
    this.#unleash?.destroy();
    this.#unleash = undefined;
  }
}
