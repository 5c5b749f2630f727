/**
 * Unleash's admin API, for the few things parley does there: read a project's flags as
 * client-features data (pull), make the project match a flags file (push, idempotent, with the
 * diff as a list of changes), and set one flag's rollout percentage (the canary's widen and roll back).
 */
import { isDeepStrictEqual } from 'node:util';
import type { FeaturesFile } from '../core/ops/flags/flags.ts';
import { CONTEXT_FIELDS } from '../core/ops/flags/names.ts';

export interface AdminOptions {
  /** The API root, e.g. http://unleash:4242/api/ (UNLEASH_URL). */
  url: string;
  /** An admin API token (or personal access token). */
  token: string;
  project?: string;
  environment?: string;
}

interface Strategy { id?: string; name: string; parameters?: Record<string, string>; constraints?: unknown[]; variants?: unknown[] }
interface FileFeature { name: string; type?: string; description?: string; enabled?: boolean; impressionData?: boolean; strategies: Strategy[]; variants?: unknown[] }
interface AdminFeature {
  name: string; type: string; description: string | null; impressionData: boolean;
  environments: { name: string; enabled: boolean; strategies: Strategy[]; variants?: unknown[] }[];
}

/** One change push makes (or would make, in a dry run). */
export interface Change { flag: string; what: string; apply: () => Promise<void> }

/** Strategies the client evaluates that a fresh Unleash 7 no longer defines, with their list parameters. */
const CLASSIC_STRATEGIES: Record<string, string[]> = { userWithId: ['userIds'], remoteAddress: ['IPs'], applicationHostname: ['hostNames'] };

const ROLLOUT_PARAM: Record<string, string> = { flexibleRollout: 'rollout', gradualRolloutUserId: 'percentage', gradualRolloutSessionId: 'percentage', gradualRolloutRandom: 'percentage' };

/** An error answer of the admin API, with its status. */
export class UnleashApiError extends Error {
  constructor(readonly status: number, method: string, route: string, body: string) {
    super(`unleash ${method} ${route} answered ${status}: ${body.slice(0, 300)}`);
    this.name = 'UnleashApiError';
  }
}

/** The comparable part of a strategy: what a client evaluates. */
function shape(s: Strategy): unknown {
  return { name: s.name, parameters: s.parameters ?? {}, constraints: s.constraints ?? [], variants: s.variants ?? [] };
}

export class UnleashAdmin {
  readonly #base: string;
  readonly #token: string;
  readonly project: string;
  readonly environment: string;

  constructor(opts: AdminOptions) {
    this.#base = opts.url.replace(/\/+$/, '').replace(/\/api$/, '');
    this.#token = opts.token;
    this.project = opts.project ?? 'default';
    this.environment = opts.environment ?? 'development';
  }

  async #call<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.#base}/api/admin${route}`, {
      method, headers: { authorization: this.#token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new UnleashApiError(res.status, method, route, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  #feature(name: string): string {
    return `/projects/${encodeURIComponent(this.project)}/features/${encodeURIComponent(name)}`;
  }

  async #get(name: string): Promise<AdminFeature | undefined> {
    try {
      return await this.#call<AdminFeature>('GET', this.#feature(name));
    } catch (err) {
      if (err instanceof UnleashApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** The project's flags in the environment, as client-features data (what `flags pull` writes). */
  async pull(): Promise<FeaturesFile> {
    const list = await this.#call<{ features: { name: string }[] }>('GET', `/projects/${encodeURIComponent(this.project)}/features`);
    const features: FileFeature[] = [];
    for (const { name } of [...list.features].sort((a, b) => a.name.localeCompare(b.name))) {
      const f = (await this.#get(name))!;
      const env = f.environments.find((e) => e.name === this.environment);
      const out: FileFeature = {
        name, type: f.type, description: f.description ?? '', enabled: env?.enabled ?? false,
        strategies: (env?.strategies ?? []).map((s) => {
          const o: Strategy = { name: s.name, parameters: s.parameters ?? {} };
          if (s.constraints?.length) o.constraints = s.constraints;
          if (s.variants?.length) o.variants = s.variants;
          return o;
        }),
      };
      if (f.impressionData) out.impressionData = true;
      if (env?.variants?.length) out.variants = env.variants;
      features.push(out);
    }
    return { version: 2, features: features as unknown as Record<string, unknown>[] };
  }

  /** The changes that make the project match `state`; nothing when it already does. */
  async plan(state: FeaturesFile): Promise<Change[]> {
    const changes: Change[] = [];
    const env = this.environment;
    const fields = new Set<string>();
    for (const f of state.features as unknown as FileFeature[]) for (const s of f.strategies) if (s.parameters?.stickiness) fields.add(s.parameters.stickiness);
    for (const field of [...fields].filter((n) => Object.hasOwn(CONTEXT_FIELDS, n)).sort()) {
      const have = await this.#call<unknown>('GET', `/context/${encodeURIComponent(field)}`).then(() => true, (err: unknown) => {
        if (err instanceof UnleashApiError && err.status === 404) return false;
        throw err;
      });
      if (!have) {
        changes.push({
          flag: `context:${field}`, what: `create context field ${field} (stickiness)`,
          apply: () => this.#call('POST', '/context', { name: field, description: CONTEXT_FIELDS[field as keyof typeof CONTEXT_FIELDS], stickiness: true }),
        });
      }
    }
    // Unleash 7 ships only default and flexibleRollout; the client still evaluates the classic
    // ones, which the server accepts once defined as strategy types.
    const known = new Set((await this.#call<{ strategies: { name: string }[] }>('GET', '/strategies')).strategies.map((x) => x.name));
    const used = new Set<string>();
    for (const f of state.features as unknown as FileFeature[]) for (const s of f.strategies) used.add(s.name);
    for (const name of [...used].sort()) {
      if (known.has(name)) continue;
      const params = CLASSIC_STRATEGIES[name];
      if (!params) throw new Error(`strategy "${name}" is unknown to the Unleash server and to parley; define it in Unleash first`);
      changes.push({
        flag: `strategy:${name}`, what: `define strategy type ${name}(${params.join(', ')})`,
        apply: () => this.#call('POST', '/strategies', { name, description: `${name} (defined by parley flags push)`, parameters: params.map((p) => ({ name: p, type: 'list', required: false, description: '' })) }),
      });
    }
    for (const f of state.features as unknown as FileFeature[]) {
      const route = this.#feature(f.name);
      const have = await this.#get(f.name);
      const type = f.type ?? 'release';
      const description = f.description ?? '';
      if (!have) {
        changes.push({ flag: f.name, what: `create (${type}): ${description}`, apply: () => this.#call('POST', `/projects/${encodeURIComponent(this.project)}/features`, { name: f.name, type, description, impressionData: Boolean(f.impressionData) }) });
      } else {
        const patch: { op: 'replace'; path: string; value: unknown }[] = [];
        if (have.type !== type) patch.push({ op: 'replace', path: '/type', value: type });
        if ((have.description ?? '') !== description) patch.push({ op: 'replace', path: '/description', value: description });
        if (have.impressionData !== Boolean(f.impressionData)) patch.push({ op: 'replace', path: '/impressionData', value: Boolean(f.impressionData) });
        if (patch.length) changes.push({ flag: f.name, what: `set ${patch.map((p) => `${p.path.slice(1)}=${JSON.stringify(p.value)}`).join(' ')}`, apply: () => this.#call('PATCH', route, patch) });
      }
      const envHave = have?.environments.find((e) => e.name === env);
      const current = envHave?.strategies ?? [];
      const sroute = `${route}/environments/${encodeURIComponent(env)}/strategies`;
      f.strategies.forEach((s, i) => {
        const body = { name: s.name, parameters: s.parameters ?? {}, constraints: s.constraints ?? [], variants: s.variants ?? [] };
        const old = current[i];
        if (!old) changes.push({ flag: f.name, what: `add strategy ${describe(s)}`, apply: () => this.#call('POST', sroute, body) });
        else if (!isDeepStrictEqual(shape(old), shape(s))) changes.push({ flag: f.name, what: `strategy ${describe(old)} → ${describe(s)}`, apply: () => this.#call('PUT', `${sroute}/${old.id}`, body) });
      });
      for (const old of current.slice(f.strategies.length)) changes.push({ flag: f.name, what: `remove strategy ${describe(old)}`, apply: () => this.#call('DELETE', `${sroute}/${old.id}`) });
      const enabled = f.enabled !== false;
      if ((envHave?.enabled ?? false) !== enabled) {
        changes.push({ flag: f.name, what: `${enabled ? 'enable' : 'disable'} in ${env}`, apply: () => this.#call('POST', `${route}/environments/${encodeURIComponent(env)}/${enabled ? 'on' : 'off'}`) });
      }
    }
    return changes;
  }

  /** Makes the project match `state`; returns what it changed (nothing the second time). */
  async push(state: FeaturesFile, dryRun = false): Promise<Change[]> {
    const changes = await this.plan(state);
    if (!dryRun) for (const c of changes) await c.apply();
    return changes;
  }

  /** The flag's rollout percentage in the environment, or undefined when it has no rollout strategy. */
  async rollout(flag: string): Promise<number | undefined> {
    const f = await this.#get(flag);
    const s = f?.environments.find((e) => e.name === this.environment)?.strategies.find((x) => x.name in ROLLOUT_PARAM);
    return s ? Number(s.parameters?.[ROLLOUT_PARAM[s.name]!]) : undefined;
  }

  /** Sets the percentage of the flag's rollout strategy in the environment. */
  async setRollout(flag: string, percent: number): Promise<void> {
    const f = await this.#get(flag);
    if (!f) throw new Error(`flag "${flag}" is not in Unleash project ${this.project}`);
    const s = f.environments.find((e) => e.name === this.environment)?.strategies.find((x) => x.name in ROLLOUT_PARAM);
    if (!s) throw new Error(`flag "${flag}" has no flexibleRollout or gradualRollout strategy in ${this.environment}`);
    const body = { name: s.name, parameters: { ...s.parameters, [ROLLOUT_PARAM[s.name]!]: String(percent) }, constraints: s.constraints ?? [], variants: s.variants ?? [] };
    await this.#call('PUT', `${this.#feature(flag)}/environments/${encodeURIComponent(this.environment)}/strategies/${s.id}`, body);
  }
}

function describe(s: Strategy): string {
  const p = Object.entries(s.parameters ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
  return p ? `${s.name}(${p})` : s.name;
}
