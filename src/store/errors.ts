// Failures of the store: misuse of transactions, durable-write commit failures, migration problems and
// optimistic-concurrency conflicts. Database errors raised by a caller's own SQL (a unique violation, a
// type error) reach that caller unchanged; `isUniqueViolation` recognises them on both dialects.
import { CrossdockError, defineError, type CrossdockErrorOptions } from '../errors/index.ts';

export const StoreTxMisuseDef = defineError({
  code: 'STORE_TX_MISUSE',
  status: 500,
  retryable: false,
  title: 'Store used the wrong way inside a transaction',
  description:
    'Code running inside `store.transaction` or `store.durable` called the store outside its transaction handle (`store.db()`, a nested `store.transaction`, `store.durable` or `store.appendDurable`). On SQLite the store has one connection, so this would wait forever on itself; it is refused on both dialects so code behaves the same. Use `tx.db()` inside the callback, or move the call after the transaction.',
});
export class StoreTxMisuseError extends CrossdockError {
  constructor(readonly operation: string) {
    super(
      StoreTxMisuseDef,
      `${operation} was called inside a store transaction; use tx.db() inside the callback or call it after the transaction`,
      { operation },
    );
  }
}

export const StoreIoInTransactionDef = defineError({
  code: 'STORE_IO_IN_TRANSACTION',
  status: 500,
  retryable: false,
  title: 'Network call inside a store transaction',
  description:
    'A transaction callback started a network request (HTTP, NATS, any outgoing socket) or called a client that checks `assertNotInTransaction`. A transaction must await nothing but its own queries: on SQLite the store has one connection, so a transaction waiting on the network freezes every writer. The transaction was rolled back. Do the call before the transaction, or after it commits (`tx.afterCommit`).',
});
export class StoreIoInTransactionError extends CrossdockError {
  constructor(readonly what: string) {
    super(
      StoreIoInTransactionDef,
      `${what} was started inside a store transaction; a transaction may await only its own queries`,
      { what },
    );
  }
}

export const StoreCommitFailedDef = defineError({
  code: 'STORE_COMMIT_FAILED',
  status: 503,
  retryable: true,
  title: 'Durable write could not be committed',
  description:
    'The group commit holding this write failed (disk full, database restarted, connection lost). Normally nothing of the batch was committed; but when the connection to PostgreSQL is lost during the COMMIT itself, the client cannot know whether it took effect. Retry the write, and make it idempotent (a unique key, or `on conflict do nothing`) so a retry of a write that did commit is harmless.',
});
export class StoreCommitFailedError extends CrossdockError {
  constructor(
    readonly dialect: string,
    options: CrossdockErrorOptions = {},
  ) {
    super(StoreCommitFailedDef, `durable commit failed on ${dialect}`, { dialect }, options);
  }
}

export const StoreClosedDef = defineError({
  code: 'STORE_CLOSED',
  status: 503,
  retryable: true,
  title: 'Store is closed',
  description: 'The store was closed (the process is shutting down) before this write could be accepted.',
});
export class StoreClosedError extends CrossdockError {
  constructor() {
    super(StoreClosedDef, 'the store is closed');
  }
}

export const MigrationInvalidDef = defineError({
  code: 'MIGRATION_INVALID',
  status: 500,
  retryable: false,
  title: 'Migration list is invalid',
  description:
    'Two migrations share an id, an id does not match `NNNN_snake_name`, or a migration lacks SQL for a dialect. Fix the migration list passed to `store.migrate`.',
});
export class MigrationInvalidError extends CrossdockError {
  constructor(
    readonly migrationId: string,
    reason: string,
  ) {
    super(MigrationInvalidDef, `migration ${migrationId}: ${reason}`, { migrationId });
  }
}

export const MigrationModifiedDef = defineError({
  code: 'MIGRATION_MODIFIED',
  status: 500,
  retryable: false,
  title: 'An applied migration was changed',
  description:
    'The SQL of a migration already applied to this database differs from the SQL in the code. Applied migrations are immutable: add a new migration instead. On a development database you may delete the SQLite file (or drop the PostgreSQL database) and start again.',
});
export class MigrationModifiedError extends CrossdockError {
  constructor(readonly migrationId: string) {
    super(MigrationModifiedDef, `migration ${migrationId} was already applied with different SQL`, {
      migrationId,
    });
  }
}

export const MigrationFailedDef = defineError({
  code: 'MIGRATION_FAILED',
  status: 500,
  retryable: false,
  title: 'A migration failed',
  description:
    'The SQL of a migration failed against the database; nothing of that migration was applied. The cause names the statement and the database error.',
});
export class MigrationFailedError extends CrossdockError {
  constructor(
    readonly migrationId: string,
    options: CrossdockErrorOptions = {},
  ) {
    super(
      MigrationFailedDef,
      `migration ${migrationId} failed: ${String(messageOf(options.cause))}`,
      { migrationId },
      options,
    );
  }
}

export const VersionConflictDef = defineError({
  code: 'VERSION_CONFLICT',
  status: 409,
  retryable: true,
  title: 'The entity changed since it was read',
  description:
    'An upsert named the version it expected, but the stored entity has another version (someone else wrote it first). Read the entity again, reapply the change and retry with the new version.',
});
export class VersionConflictError extends CrossdockError {
  constructor(
    readonly entityId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number | null,
  ) {
    super(
      VersionConflictDef,
      `entity ${entityId} is at version ${actualVersion ?? 'none'}, expected ${expectedVersion}`,
      { entityId, expectedVersion, actualVersion },
    );
  }
}

export const ExternalRefConflictDef = defineError({
  code: 'EXTERNAL_REF_CONFLICT',
  status: 409,
  retryable: false,
  title: 'External reference belongs to another entity',
  description:
    'The entity names an external reference `{system, id}` that is already attached to a different entity of the same kind and tenant. One record in another system maps to exactly one canonical entity: merge the two entities or fix the identity mapping.',
});
export class ExternalRefConflictError extends CrossdockError {
  constructor(
    readonly kind: string,
    readonly system: string,
    readonly externalId: string,
    readonly entityId: string,
    readonly ownerId: string,
  ) {
    super(
      ExternalRefConflictDef,
      `${kind} ${system}:${externalId} already belongs to ${ownerId}, not ${entityId}`,
      { kind, system, externalId, entityId, ownerId },
    );
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** True for a unique or primary-key violation on either dialect (SQLite or PostgreSQL 23505). */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export const StoreLockedDef = defineError({
  code: 'STORE_LOCKED',
  status: 503,
  retryable: false,
  title: 'Another Crossdock process runs on this embedded store',
  description:
    'The embedded mode (SQLite) is one process: `crossdock start` holds `<database>.lock` with its process id while it runs, and a second one on the same database file is refused, because each would take the other’s unfinished writes to other systems for a dead process’s and could repeat them. Stop the other process (its id is in the message), wait for it to finish shutting down, or give this one another `dataDir`. A lock left by a process that is gone is taken over. Several processes need PostgreSQL (`store.dialect: postgres`).',
});
export class StoreLockedError extends CrossdockError {
  constructor(
    readonly lockFile: string,
    readonly pid: number,
  ) {
    super(StoreLockedDef, `the embedded store is in use by process ${pid} (${lockFile})`, { lockFile, pid });
  }
}
