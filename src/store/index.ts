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
export { createEntityStore } from './entity-store.ts';
export type {
  EntityStore,
  WriteOptions,
  ReadOptions,
  LinkedEntity,
  LinkedOptions,
  ListOptions,
} from './entity-store.ts';
export { dumpSchema } from './schema-dump.ts';
export { prepareQuery } from './prepared-query.ts';
export type { PreparedQuery, QueryRunner } from './prepared-query.ts';
export { assertNotInTransaction, isInTransaction } from './tx-context.ts';
export {
  isUniqueViolation,
  StoreTxMisuseError,
  StoreTxMisuseDef,
  StoreIoInTransactionError,
  StoreLockedError,
  StoreLockedDef,
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
  ExternalRefConflictError,
  ExternalRefConflictDef,
} from './errors.ts';
