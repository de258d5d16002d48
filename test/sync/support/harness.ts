// A fresh store with the sync engine's tables per dialect: a temp SQLite file, and a fresh PostgreSQL
// database per call (skipped with a message when no server answers outside CI).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, storeMigrations, type Store } from '../../../src/store/index.ts';
import { syncMigrations } from '../../../src/sync/index.ts';
import { freshPgDatabase, pgAvailable } from '../../support/services.ts';

export interface Opened {
  readonly store: Store;
  cleanup(): Promise<void>;
}

export interface DialectCase {
  readonly dialect: 'sqlite' | 'postgres';
  open(this: void): Promise<Opened>;
}

export async function openSqlite(file?: string): Promise<Opened> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-'));
  const store = await openStore({ dialect: 'sqlite', sqlite: { path: file ?? path.join(dir, 'sync.db') } });
  await store.migrate([...storeMigrations, ...syncMigrations]);
  return {
    store,
    async cleanup() {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const dialects: DialectCase[] = [
  { dialect: 'sqlite', open: () => openSqlite() },
  ...(pgAvailable
    ? [
        {
          dialect: 'postgres' as const,
          async open(): Promise<Opened> {
            const db = await freshPgDatabase('cd_sync');
            const store = await openStore({ dialect: 'postgres', postgres: { url: db.url } });
            await store.migrate([...storeMigrations, ...syncMigrations]);
            return {
              store,
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

let tenantNo = 0;
/** A tenant id unique within the test process: tests share a store, never a tenant. */
export function freshTenant(): string {
  return `t${process.pid}-${++tenantNo}`;
}
