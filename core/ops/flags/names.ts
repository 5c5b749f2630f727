/**
 * The feature flags the core obeys, defined once with their documented defaults: the value an
 * evaluation returns when the flag is missing from the definitions or the flag layer is not ready.
 */

export interface FlagSpec {
  /** Returned when the flag is absent from the definitions, or evaluation fails. */
  readonly default: boolean;
  readonly doc: string;
}

export const FLAGS = {
  'typing-indicators': { default: true, doc: 'Relay typing indicators between members of a conversation. Off: typing frames are accepted and dropped.' },
  'read-receipts': { default: true, doc: 'Relay read receipts to the other members of a conversation.' },
  'presence-coalescing': { default: true, doc: 'Coalesce bursts of presence changes per user before fan-out instead of sending each one.' },
  'fanout-batched': { default: false, doc: 'Canary: batched fan-out (events of one event-loop turn are delivered in one pass per session). Metrics of the fan-out path carry variant="batched" or "control".' },
  'debug-session': { default: false, doc: 'Per-session debug logging for the users a userWithId strategy lists; bounded by debugMinutes.' },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;
export const FLAG_NAMES = Object.keys(FLAGS) as FlagName[];

export function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(FLAGS, name);
}

/**
 * Custom context fields the flags use for stickiness, with what they hold. The flag layer adds
 * them to every evaluation's properties; `parley flags push` creates them in Unleash.
 */
export const CONTEXT_FIELDS = {
  nodeId: 'The node id (setting nodeId, kept in <dataDir>/node-id): a node canary puts whole nodes in the variant, the same nodes after a restart.',
} as const;

/** Stickiness values Unleash knows without a custom field. */
export const BUILTIN_STICKINESS = ['default', 'userId', 'sessionId', 'random'] as const;

/** Flag types Unleash accepts. */
export const FLAG_TYPES = ['release', 'experiment', 'operational', 'kill-switch', 'permission'] as const;
