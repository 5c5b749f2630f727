/**
 * `parley flags list | eval <flag> --user <id> | rollout <flag> <percent>` over the flags file.
 * `rollout` rewrites the percentage of the flag's flexibleRollout (or legacy gradualRollout*)
 * strategy in place; a running server picks the edit up within seconds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseArgs, UsageError } from '../core/args.ts';
import { FlagLayer, readFeatures, type FeaturesFile } from '../core/ops/flags/flags.ts';
import { FLAGS, isFlagName } from '../core/ops/flags/names.ts';
import { UnleashAdmin } from '../flags/unleash.ts';
import { setJsonString } from './json-edit.ts';

export const FLAGS_HELP = `usage: parley flags <list | eval | rollout | push | pull> [--file FILE]

  list                       every flag in the file with its strategies, and the flags the core
                             obeys with their documented defaults
  eval <flag> --user ID      evaluates one flag for a user as the server would
    [--session S]            the session id (for session stickiness)
    [--node ID]              the node id (for nodeId stickiness; default cli)
  rollout <flag> <percent>   sets the rollout percentage (0-100) of the flag's flexibleRollout or
                             gradualRollout strategy; the rest of the file is left as it is
  push [--dry-run]           makes the Unleash project match the file: creates missing flags, the
                             custom context fields their stickiness needs and classic strategy
                             types, sets type, description, strategies and on/off; prints each
                             change (a second push changes nothing); --dry-run only prints them
  pull [--dry-run]           writes the project's flags into the file (client-features data);
                             --dry-run prints what would change
    --unleash URL            the Unleash API (default UNLEASH_URL), with --admin-token T (default
    --project P              UNLEASH_ADMIN_TOKEN), project (default) and environment
    --environment E          (development)

--file defaults to PARLEY_FLAGS_FILE or ./flags/features.json.`;

/** The flags each subcommand takes. */
const UNLEASH_OPTIONS = ['file', 'unleash', 'admin-token', 'project', 'environment', 'dry-run'];
const OPTIONS: Record<string, readonly string[]> = { list: ['file'], eval: ['file', 'user', 'session', 'node'], rollout: ['file'], push: UNLEASH_OPTIONS, pull: UNLEASH_OPTIONS };

function admin(flags: Map<string, string>, env: NodeJS.ProcessEnv): UnleashAdmin {
  const url = flags.get('unleash') ?? env.UNLEASH_URL;
  const token = flags.get('admin-token') ?? env.UNLEASH_ADMIN_TOKEN;
  const missing = [...(url ? [] : ['--unleash URL (or UNLEASH_URL)']), ...(token ? [] : ['--admin-token T (or UNLEASH_ADMIN_TOKEN)'])];
  if (missing.length) throw new UsageError([`flags push/pull need ${missing.join(' and ')}`]);
  return new UnleashAdmin({ url: url!, token: token!, project: flags.get('project'), environment: flags.get('environment') });
}

type Strategy = { name: string; parameters?: Record<string, string> };
type Feature = { name: string; enabled?: boolean; strategies: Strategy[] };

const ROLLOUT_PARAM: Record<string, string> = {
  flexibleRollout: 'rollout', gradualRolloutUserId: 'percentage', gradualRolloutSessionId: 'percentage', gradualRolloutRandom: 'percentage',
};

function describeStrategy(s: Strategy): string {
  const p = Object.entries(s.parameters ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
  return p ? `${s.name}(${p})` : s.name;
}

function read(file: string): FeaturesFile {
  try {
    return readFeatures(file);
  } catch (err) {
    throw new UsageError([(err as Error).message]);
  }
}

/** Where the rollout percentage of `flag` sits in the file; throws UsageError naming what is wrong. */
export function rolloutPath(state: FeaturesFile, flag: string): [string, number, string, number, string, string] {
  const features = state.features as unknown as Feature[];
  const fi = features.findIndex((f) => f.name === flag);
  if (fi < 0) throw new UsageError([`flag "${flag}" is not in the file`]);
  const strategies = features[fi]!.strategies;
  const si = strategies.findIndex((s) => s.name in ROLLOUT_PARAM);
  if (si < 0) throw new UsageError([`flag "${flag}" has no flexibleRollout or gradualRollout strategy to change (it has: ${strategies.map((s) => s.name).join(', ') || 'none'})`]);
  return ['features', fi, 'strategies', si, 'parameters', ROLLOUT_PARAM[strategies[si]!.name]!];
}

/** Sets the rollout percentage of `flag` in `state`; throws UsageError naming what is wrong. */
export function setRollout(state: FeaturesFile, flag: string, percent: number): FeaturesFile {
  const [, fi, , si, , param] = rolloutPath(state, flag);
  const strategy = (state.features as unknown as Feature[])[fi]!.strategies[si]!;
  strategy.parameters = { ...strategy.parameters, [param]: String(percent) };
  return state;
}

/**
 * The file's text with the percentage changed and every other byte kept (a one-line diff); a
 * file the in-place edit cannot handle is written out whole instead.
 */
export function rolloutText(text: string, flag: string, percent: number): string {
  const state = JSON.parse(text) as FeaturesFile;
  const at = rolloutPath(state, flag);
  const want = setRollout(structuredClone(state), flag, percent);
  try {
    const next = setJsonString(text, at, String(percent));
    if (isDeepStrictEqual(JSON.parse(next), want)) return next;
  } catch {
    // fall through to the whole-file rewrite
  }
  return `${JSON.stringify(want, null, 2)}\n`;
}

/** Runs the `flags` command; returns the exit code. */
export async function flagsCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { flags, rest } = parseArgs(argv);
  const file = path.resolve(flags.get('file') ?? env.PARLEY_FLAGS_FILE ?? './flags/features.json');
  const [sub, ...args] = rest;
  for (const name of flags.keys()) {
    if (sub && OPTIONS[sub] && !OPTIONS[sub].includes(name)) throw new UsageError([`unknown flag --${name} for flags ${sub} (see parley flags --help)`]);
  }
  switch (sub) {
    case 'list': {
      const state = read(file);
      const inFile = new Set<string>();
      for (const f of state.features as unknown as Feature[]) {
        inFile.add(f.name);
        const known = isFlagName(f.name) ? '' : '  (not obeyed by the core)';
        console.log(`${f.name.padEnd(22)} ${f.enabled === false ? 'off' : 'on '}  ${f.strategies.map(describeStrategy).join(' | ')}${known}`);
      }
      for (const [name, spec] of Object.entries(FLAGS)) {
        if (!inFile.has(name)) console.log(`${name.padEnd(22)} -    missing from the file: default ${spec.default ? 'on' : 'off'}`);
      }
      return 0;
    }
    case 'eval': {
      const [flag] = args;
      const user = flags.get('user');
      if (!flag || args.length > 1) throw new UsageError(['expected: parley flags eval <flag> --user <id>']);
      if (!user || user === 'true') throw new UsageError(['--user <id> is required']);
      read(file);
      const layer = await FlagLayer.open({ file, properties: { nodeId: flags.get('node') ?? 'cli' } });
      try {
        const ctx = { userId: user, ...(flags.has('session') ? { sessionId: flags.get('session')! } : {}) };
        const on = layer.isEnabled(flag, ctx);
        const variant = layer.variant(flag, ctx);
        const note = isFlagName(flag) ? '' : ' (unknown to the core: default off)';
        console.log(`${flag} for ${user}: ${on ? 'enabled' : 'disabled'}${variant.name !== 'disabled' ? ` variant=${variant.name}` : ''}${note}`);
      } finally {
        await layer.close();
      }
      return 0;
    }
    case 'rollout': {
      const [flag, pct] = args;
      if (!flag || pct === undefined || args.length > 2) throw new UsageError(['expected: parley flags rollout <flag> <percent>']);
      const percent = Number(pct);
      if (!/^\d+$/.test(pct) || percent > 100) throw new UsageError([`<percent> must be an integer from 0 to 100, got "${pct}"`]);
      read(file);
      const next = rolloutText(fs.readFileSync(file, 'utf8'), flag, percent);
      // Write then rename, so a watching server never reads a half-written file.
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, next);
      fs.renameSync(tmp, file);
      console.log(`${flag}: rollout set to ${percent}% in ${path.relative(process.cwd(), file) || file}`);
      return 0;
    }
    case 'push': {
      if (args.length) throw new UsageError(['expected: parley flags push [--dry-run]']);
      const dry = flags.has('dry-run');
      const a = admin(flags, env);
      const changes = await a.push(read(file), dry);
      for (const c of changes) console.log(`${dry ? 'would ' : ''}${c.flag}: ${c.what}`);
      console.log(changes.length ? `${changes.length} change(s) ${dry ? 'to make' : 'made'} in Unleash project ${a.project} (${a.environment})` : `Unleash project ${a.project} (${a.environment}) already matches ${path.relative(process.cwd(), file) || file}`);
      return 0;
    }
    case 'pull': {
      if (args.length) throw new UsageError(['expected: parley flags pull [--dry-run]']);
      const next = `${JSON.stringify(await admin(flags, env).pull(), null, 2)}\n`;
      const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      const changed = diffLines(before, next);
      if (!changed.length) { console.log(`${path.relative(process.cwd(), file) || file} already matches Unleash`); return 0; }
      for (const l of changed) console.log(l);
      if (flags.has('dry-run')) return 0;
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, next);
      fs.renameSync(tmp, file);
      console.log(`wrote ${path.relative(process.cwd(), file) || file}`);
      return 0;
    }
    default:
      throw new UsageError([sub ? `unknown flags subcommand "${sub}"` : 'expected a subcommand: list, eval, rollout, push or pull']);
  }
}

/** The lines only one side has ("- old", "+ new"), in order: enough to review a pull. */
function diffLines(a: string, b: string): string[] {
  const x = a.split('\n');
  const y = b.split('\n');
  const ys = new Set(y);
  const xs = new Set(x);
  return [...x.filter((l) => !ys.has(l)).map((l) => `- ${l}`), ...y.filter((l) => !xs.has(l)).map((l) => `+ ${l}`)];
}
