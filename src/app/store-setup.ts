// Opens the store the configuration names and applies every part's migrations. The list of
// migrations is assembled here, in the composition root, because the store knows no part.
import { join, resolve } from 'node:path';
import { sql } from 'kysely';
import type { ReadinessCheck } from '../api/index.ts';
import type { CrossdockConfig } from '../config/index.ts';
import {
  openStore,
  storeMigrations,
  type Migration,
  type MigrateResult,
  type Store,
} from '../store/index.ts';
import type { Logger, MetricsRegistry } from '../telemetry/index.ts';
import { workflowMigrations } from '../workflow/index.ts';
import { eventsMigrations } from '../events/index.ts';
import { syncMigrations } from '../sync/index.ts';
import { journeysMigrations } from '../journeys/index.ts';

/** Every part's migrations, in the order the store applies them (by id). */
export function allMigrations(): Migration[] {
  return [
    ...storeMigrations,
    ...workflowMigrations,
    ...eventsMigrations,
    ...syncMigrations,
    ...journeysMigrations,
  ];
}

export function sqlitePathOf(config: CrossdockConfig): string {
  return resolve(config.store.sqlitePath ?? join(config.dataDir, 'crossdock.db'));
}

export async function openConfiguredStore(
  config: CrossdockConfig,
  deps: { logger: Logger; metrics?: MetricsRegistry },
): Promise<Store> {
  if (config.store.dialect === 'postgres') {
    // loadConfig guarantees the URL is present for the postgres dialect.
    const url = config.store.postgresUrl as string;
    return openStore(
      { dialect: 'postgres', postgres: { url, poolSize: config.store.postgresPoolSize } },
      deps,
    );
  }
  return openStore({ dialect: 'sqlite', sqlite: { path: sqlitePathOf(config) } }, deps);
}

export async function migrateStore(store: Store): Promise<MigrateResult> {
  return store.migrate(allMigrations());
}

export function storeReadiness(store: Store): ReadinessCheck {
  return {
    name: 'store',
    check: async () => {
      await sql`select 1 as ok`.execute(store.db());
    },
  };
}
