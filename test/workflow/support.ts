// Opens a fresh, migrated store per test on either dialect (a temp SQLite file, or a fresh PostgreSQL
// database), so runs left in flight by one test never reach another test's recovery.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, storeMigrations, type Store, type StoreConfig } from '../../src/store/index.ts';
import { workflowMigrations } from '../../src/workflow/index.ts';
import { freshPgDatabase, pgAvailable } from '../support/services.ts';

export type Dialect = 'sqlite' | 'postgres';

export const dialects: { dialect: Dialect; skip: boolean }[] = [
  { dialect: 'sqlite', skip: false },
  { dialect: 'postgres', skip: !pgAvailable },
];

export interface TestDatabase {
  readonly config: StoreConfig;
  open(): Promise<Store>;
  drop(): Promise<void>;
}

export async function freshDatabase(dialect: Dialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-wf-'));
    const config: StoreConfig = { dialect: 'sqlite', sqlite: { path: path.join(dir, 'crossdock.db') } };
    return {
      config,
      open: () => openMigrated(config),
      drop: () => Promise.resolve(fs.rmSync(dir, { recursive: true, force: true })),
    };
  }
  const db = await freshPgDatabase('cd_wf');
  const config: StoreConfig = { dialect: 'postgres', postgres: { url: db.url } };
  return { config, open: () => openMigrated(config), drop: db.drop };
}

export async function openMigrated(config: StoreConfig): Promise<Store> {
  const store = await openStore(config);
  await store.migrate([...storeMigrations, ...workflowMigrations]);
  return store;
}

/** A promise with its resolver outside, for steps that wait until the test lets them go. */
export function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** Waits until `check` is true, polling every 5 ms; fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
