export { openStore } from './store.ts';
export type {
  Store,
  StoreTx,
  StoreConfig,
  StoreDeps,
  StoreDialect,
  StoreStats,
  Row,
  SqliteStoreOptions,
  PostgresStoreOptions,
  DurableOptions,
} from './store.ts';
export type { Migration, MigrateResult } from './migration.ts';
export { storeMigrations } from './store-migrations.ts';
export { assertNotInTransaction, isInTransaction } from './tx-context.ts';
export {
  isUniqueViolation,
  StoreTxMisuseError,
  StoreTxMisuseDef,
  StoreIoInTransactionError,
  StoreIoInTransactionDef,
  StoreCommitFailedError,
  StoreCommitFailedDef,
  StoreClosedError,
  StoreClosedDef,
  MigrationInvalidError,
  MigrationInvalidDef,
  MigrationModifiedError,
  MigrationModifiedDef,
  MigrationFailedError,
  MigrationFailedDef,
  VersionConflictError,
  VersionConflictDef,
} from './errors.ts';
