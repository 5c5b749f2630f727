/** The server settings as a command sees them: loaded once, with a warning line per stray PARLEY_* variable. */
import { loadConfig, unknownEnvWarnings, type Config } from '../core/config.ts';

/** Loads the settings for `parley <command>`; warns on stderr about PARLEY_* variables that are no setting. */
export function commandConfig(command: string, flags: Map<string, string>, env: NodeJS.ProcessEnv = process.env): Config {
  for (const warning of unknownEnvWarnings(env)) console.error(`parley ${command}: warning: ${warning}`);
  return loadConfig(flags, env);
}
