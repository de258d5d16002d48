// Opens a fresh, migrated store per test on either dialect (a temp SQLite file, or a fresh PostgreSQL
// database), so runs left in flight by one test never reach another test's recovery.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, storeMigrations, type Store, type StoreConfig } from '../../src/store/index.ts';
import { afterEach, beforeEach } from 'vitest';
import {
  WorkflowRuntime,
  workflowMigrations,
  type WorkflowRuntimeOptions,
} from '../../src/workflow/index.ts';
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

export interface WorkflowTestContext {
  /** This test's store (open between the hooks). */
  readonly store: Store;
  /** The test database, e.g. to open a second store on it like another process. */
  readonly db: TestDatabase;
  /** A runtime on this test's store, shut down after the test. */
  readonly runtime: (options?: Partial<WorkflowRuntimeOptions>) => WorkflowRuntime;
  /** Shuts `rt` down after the test too (for runtimes made by hand). */
  readonly track: (rt: WorkflowRuntime) => WorkflowRuntime;
}

/**
 * For a `describe.each(dialects)` block: a fresh migrated store per test, and every runtime made
 * through the context shut down (then the store closed, the database dropped) after it.
 */
export function useWorkflowStore(dialect: Dialect, skip: boolean): WorkflowTestContext {
  let db: TestDatabase | undefined;
  let store: Store | undefined;
  const runtimes: WorkflowRuntime[] = [];
  beforeEach(async () => {
    if (skip) return;
    db = await freshDatabase(dialect);
    store = await db.open();
  });
  afterEach(async () => {
    if (skip) return;
    for (const rt of runtimes.splice(0)) await rt.shutdown({ drainMs: 0 });
    await store?.close();
    await db?.drop();
  });
  const track = (rt: WorkflowRuntime) => {
    runtimes.push(rt);
    return rt;
  };
  return {
    get store() {
      return store!;
    },
    get db() {
      return db!;
    },
    runtime: (options = {}) => track(new WorkflowRuntime({ store: store!, ...options })),
    track,
  };
}
