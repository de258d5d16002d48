// Numbered schema migrations with both dialects' SQL side by side, applied in id order, each in its own
// transaction, recorded in `store_migrations` with a checksum so an applied migration is never silently
// edited. On PostgreSQL an advisory lock lets several nodes start at once; on SQLite `begin immediate`
// does the same for several processes on one file.
import { createHash } from 'node:crypto';
import { MigrationInvalidError } from './errors.ts';

/** One schema change. Id ranges per part: store/domain 0001-0099, workflow 0100-0199, events 0200-0299,
 * sync/connectors 0300-0399, tasks/api 0400-0499. */
export interface Migration {
  /** `NNNN_snake_name`, e.g. `0200_events_log`; applied in lexical order. */
  readonly id: string;
  /** One line on what it changes and why. */
  readonly description: string;
  /** SQL for SQLite; several statements separated by `;` are allowed. */
  readonly sqlite: string;
  /** SQL for PostgreSQL; several statements separated by `;` are allowed. */
  readonly postgres: string;
}

export interface MigrateResult {
  /** Ids applied by this call, in order (empty when the database was already up to date). */
  readonly applied: readonly string[];
  /** Ids already applied before this call. */
  readonly alreadyApplied: readonly string[];
}

const ID_PATTERN = /^\d{4}_[a-z0-9_]+$/;

/** Validates and sorts a migration list; throws MIGRATION_INVALID on a duplicate id or missing SQL. */
export function orderMigrations(migrations: readonly Migration[]): Migration[] {
  const seen = new Set<string>();
  for (const m of migrations) {
    if (!ID_PATTERN.test(m.id)) throw new MigrationInvalidError(m.id, 'id must look like 0001_snake_name');
    if (seen.has(m.id)) throw new MigrationInvalidError(m.id, 'id is used twice');
    seen.add(m.id);
    if (m.sqlite.trim() === '' || m.postgres.trim() === '') {
      throw new MigrationInvalidError(m.id, 'SQL is required for both sqlite and postgres');
    }
  }
  return [...migrations].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql.trim()).digest('hex');
}

export const MIGRATIONS_TABLE_SQL = {
  sqlite:
    'create table if not exists store_migrations (id text primary key, description text not null, checksum text not null, applied_at text not null)',
  postgres:
    'create table if not exists store_migrations (id text primary key, description text not null, checksum text not null, applied_at timestamptz not null)',
} as const;

/** Key of the PostgreSQL advisory lock held while migrating (an arbitrary constant: "crossdock"). */
export const MIGRATION_LOCK_KEY = 0x63726f7373;
