// Opens a fresh store per dialect for the store suites: a temp SQLite file, and a fresh PostgreSQL
// database per call (dropped on cleanup). The PostgreSQL case is skipped, with a message, when no
// server answers outside CI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store, type StoreConfig, type StoreDeps } from '../../src/store/index.ts';
import { freshPgDatabase, pgAvailable } from '../support/services.ts';

export interface OpenedStore {
  readonly store: Store;
  /** Config that reopens the same database (for restart tests). */
  readonly config: StoreConfig;
  cleanup(): Promise<void>;
}

export interface DialectCase {
  readonly dialect: 'sqlite' | 'postgres';
  readonly open: (
    options?: Partial<Pick<StoreConfig, 'durable' | 'slowTransactionMs'>>,
    deps?: StoreDeps,
  ) => Promise<OpenedStore>;
}

export const dialectCases: DialectCase[] = [
  {
    dialect: 'sqlite',
    async open(options = {}, deps = {}) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-'));
      const config: StoreConfig = {
        dialect: 'sqlite',
        sqlite: { path: path.join(dir, 'store.db') },
        ...options,
      };
      const store = await openStore(config, deps);
      return {
        store,
        config,
        async cleanup() {
          await store.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  ...(pgAvailable
    ? [
        {
          dialect: 'postgres' as const,
          async open(options = {}, deps = {}) {
            const db = await freshPgDatabase('cd_store');
            const config: StoreConfig = { dialect: 'postgres', postgres: { url: db.url }, ...options };
            const store = await openStore(config, deps);
            return {
              store,
              config,
              async cleanup() {
                await store.close();
                await db.drop();
              },
            };
          },
        },
      ]
    : []),
];
