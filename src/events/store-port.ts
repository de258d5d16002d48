// The slice of the store (src/store) the event log uses. Declaring only what we call keeps the event
// log testable against any store that honours the contract, and makes the dependency explicit.
import type { Kysely } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/** A transaction lent by the store: run queries on `tx.db()`; await nothing else inside it. */
export interface EventTx {
  readonly dialect: Dialect;
  db<T>(): Kysely<T>;
  /** Runs `fn` after this transaction (this caller's part of a durable batch) commits; never on rollback. */
  afterCommit(fn: () => void): void;
}

export interface EventStore {
  readonly dialect: Dialect;
  /** Kysely for reads and writes outside a transaction. */
  db<T>(): Kysely<T>;
  /** One transaction. */
  transaction<R>(fn: (tx: EventTx) => Promise<R>): Promise<R>;
  /** Group commit: resolves after the shared batch is committed and synced. */
  durable<R>(fn: (tx: EventTx) => Promise<R>): Promise<R>;
}

/** One numbered migration with both dialects' SQL side by side (the store's `Migration` shape). */
export interface EventMigration {
  readonly id: string;
  readonly description: string;
  readonly sqlite: string;
  readonly postgres: string;
}
