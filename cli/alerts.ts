/**
 * `parley alerts render | list`: the alert definitions as a Prometheus rules file (and its rule
 * unit tests), or as a table. The committed core/ops/alerts/rules.yml is checked for drift in CI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, UsageError } from '../core/args.ts';
import { conditionQL } from '../core/ops/alerts/expr.ts';
import { renderRules, renderRuleTests } from '../core/ops/alerts/render.ts';
import { ALERTS } from '../core/ops/alerts/rules.ts';

export const ALERTS_HELP = `usage: parley alerts <render | list>

  render [--out FILE] [--tests FILE]   writes the alert definitions as a Prometheus rules file
                                       (stdout without --out) and, with --tests, a rule unit-test
                                       file for \`promtool test rules\` that shows each alert firing
                                       and resolving
  list                                 one line per alert: name, severity, condition, for`;

export async function alertsCommand(argv: string[]): Promise<number> {
  const { flags, rest } = parseArgs(argv);
  const [sub, ...extra] = rest;
  if (extra.length) throw new UsageError([`unexpected argument "${extra[0]}"`]);
  if (sub === 'list') {
    for (const a of ALERTS) console.log(`${a.name.padEnd(34)} ${a.severity.padEnd(7)} for ${a.for.padEnd(4)} ${conditionQL(a)}`);
    return 0;
  }
  if (sub !== 'render') throw new UsageError([sub ? `unknown alerts subcommand "${sub}"` : 'expected a subcommand: render or list']);
  for (const k of flags.keys()) if (k !== 'out' && k !== 'tests') throw new UsageError([`unknown flag --${k}`]);
  const out = flags.get('out');
  const rules = renderRules(ALERTS);
  if (!out || out === '-') process.stdout.write(rules);
  else fs.writeFileSync(out, rules);
  const tests = flags.get('tests');
  if (tests) {
    const rulesRef = out && out !== '-' ? path.relative(path.dirname(path.resolve(tests)), path.resolve(out)) : 'rules.yml';
    fs.writeFileSync(tests, renderRuleTests(ALERTS, rulesRef));
  }
  return 0;
}
