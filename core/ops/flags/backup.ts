/**
 * The storage unleash-client keeps its last server answer in: one private file in the node's data
 * dir (not the temp dir, which is shared and cleaned), written whole then renamed, so a restart
 * while the server is down serves the last known flags. A node that never reached the server
 * starts from the seed (the flags file) without writing it as if the server had said it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FeaturesFile } from './flags.ts';

/** The backup's file name in the data dir. */
export const BACKUP_FILE = 'flags-backup.json';

export interface BackupOptions {
  /** The data dir; without it the answers are kept in memory only. */
  dir?: string;
  /** Served when there is no backup yet (the flags file). */
  seed?: FeaturesFile;
  log?: Logger;
}

/** unleash-client's StorageProvider over one file in the data dir. */
export class BackupStorage {
  readonly #opts: BackupOptions;
  #memory: unknown;
  /** What the first read served: the backup, the seed, or nothing. */
  source: 'backup' | 'bootstrap' | 'defaults' = 'defaults';
  /** True once the first read has happened (unleash-client is ready from then on if it got data). */
  loaded = false;
  /** Called after a server answer is saved. */
  onSaved: () => void = () => {};

  constructor(opts: BackupOptions) {
    this.#opts = opts;
    const backup = this.#read();
    if (backup) this.source = 'backup';
    else if (opts.seed?.features.length) this.source = 'bootstrap';
  }

  get file(): string | undefined {
    return this.#opts.dir ? path.join(this.#opts.dir, BACKUP_FILE) : undefined;
  }

  #read(): FeaturesFile | undefined {
    const file = this.file;
    if (!file || !fs.existsSync(file)) return undefined;
    try {
      const data = JSON.parse(fs.readFileSync(file, 'utf8')) as FeaturesFile;
      if (Array.isArray(data?.features) && data.features.length) return data;
    } catch (err) {
      this.#opts.log?.warn({ file, err: (err as Error).message }, 'flags backup unreadable; ignored');
    }
    return undefined;
  }

  async get(_key: string): Promise<unknown> {
    this.loaded = true;
    if (this.#memory) return this.#memory;
    return this.#read() ?? (this.#opts.seed?.features.length ? this.#opts.seed : undefined);
  }

  async set(_key: string, data: unknown): Promise<void> {
    this.#memory = data;
    const file = this.file;
    if (file) {
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
        fs.renameSync(tmp, file);
      } catch (err) {
        this.#opts.log?.warn({ file, err: (err as Error).message }, 'flags backup not written');
      }
    }
    this.onSaved();
  }
}
