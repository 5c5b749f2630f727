/** The conversation between the parent of a run and its workers (IPC or in-process). */
import type { HealthSnapshot } from './health.ts';
import type { LoadOptions } from './options.ts';
import type { SliceData } from './recorder.ts';
import type { TokenSource } from './tokens.ts';

export interface WorkerStart {
  options: LoadOptions;
  tokens: TokenSource;
  worker: number;
  workers: number;
}

/** Worker → parent. */
export type WorkerMessage =
  | { type: 'up' }
  | { type: 'ready'; worker: number }
  | { type: 'slice'; worker: number; slice: SliceData; totals: Record<string, number> }
  | { type: 'barrier'; worker: number; name: string; reached: number }
  | { type: 'fatal'; worker: number; message: string }
  | { type: 'done'; worker: number; users: number; health: HealthSnapshot; final: SliceData; totals: Record<string, number> };

/** Parent → worker. */
export type ParentMessage =
  | { type: 'start'; start: WorkerStart; scenarioFile: string }
  | { type: 'go'; at: number }
  | { type: 'release'; name: string; at: number }
  | { type: 'abort'; reason: string };
