// A fresh store with the event log's tables per dialect: a temp SQLite file, and a fresh PostgreSQL
// database per call (skipped with a message when no server answers outside CI).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, storeMigrations, type Migration, type Store } from '../../../src/store/index.ts';
import { eventsMigrations } from '../../../src/events/index.ts';
import { freshPgDatabase, pgAvailable } from '../../support/services.ts';

export interface Opened {
  readonly store: Store;
  readonly dialect: 'sqlite' | 'postgres';
  /** PostgreSQL URL of the database (for LISTEN and raw clients), undefined on SQLite. */
  readonly pgUrl: string | undefined;
  cleanup(): Promise<void>;
}

export interface DialectCase {
  readonly dialect: 'sqlite' | 'postgres';
  open(this: void, extra?: readonly Migration[]): Promise<Opened>;
}

export const dialects: DialectCase[] = [
  {
    dialect: 'sqlite',
    async open(extra = []) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-'));
      const store = await openStore({ dialect: 'sqlite', sqlite: { path: path.join(dir, 'events.db') } });
      await store.migrate([...storeMigrations, ...eventsMigrations, ...extra]);
      return {
        store,
        dialect: 'sqlite',
        pgUrl: undefined,
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
          async open(extra: readonly Migration[] = []): Promise<Opened> {
            const db = await freshPgDatabase('cd_events');
            const store = await openStore({ dialect: 'postgres', postgres: { url: db.url } });
            await store.migrate([...storeMigrations, ...eventsMigrations, ...extra]);
            return {
              store,
              dialect: 'postgres',
              pgUrl: db.url,
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

/** Polls `check` until it returns true (or fails after `timeoutMs`); for waiting on background delivery. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
