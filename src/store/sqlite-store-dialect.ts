// The SQLite dialect of the store: one better-sqlite3 connection (WAL, synchronous=FULL) behind a FIFO
// lock, with a prepared-statement cache so repeated queries skip SQLite's parser. Kysely's own SQLite
// driver prepares every query anew and hides its lock; ours exposes both to the group committer, which
// runs plain inserts synchronously on the raw connection while holding the lock.
import Database from 'better-sqlite3';
import {
  CompiledQuery,
  SelectQueryNode,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';
import type { Mutex } from './mutex.ts';

/** Largest number of prepared statements kept per connection (default 2000). */
const STATEMENT_CACHE_SIZE = 2000;

type SqliteValue = string | number | bigint | Buffer | null;

/** Converts a JS value into one better-sqlite3 accepts; JSON-able objects become JSON text. */
export function toSqliteValue(value: unknown): SqliteValue {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
      return value;
    case 'boolean':
      return value ? 1 : 0;
    default:
      if (value instanceof Date) return value.toISOString();
      if (Buffer.isBuffer(value)) return value;
      if (value instanceof Uint8Array) return Buffer.from(value);
      return JSON.stringify(value);
  }
}

function toSqliteParams(parameters: readonly unknown[]): SqliteValue[] {
  const out = new Array<SqliteValue>(parameters.length);
  for (let i = 0; i < parameters.length; i++) out[i] = toSqliteValue(parameters[i]);
  return out;
}

export class SqliteStoreConnection implements DatabaseConnection {
  readonly #statements = new Map<string, Database.Statement>();

  constructor(readonly raw: Database.Database) {}

  /** A cached prepared statement for `sql`. */
  statement(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (stmt === undefined) {
      stmt = this.raw.prepare(sql);
      // Plain size cap: statements built from user input with varying shapes must not grow forever.
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) this.#statements.clear();
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  /** Runs one write statement synchronously (caller holds the connection lock). */
  runSync(sql: string, parameters: readonly unknown[]): Database.RunResult {
    return this.statement(sql).run(toSqliteParams(parameters));
  }

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    try {
      const stmt = this.statement(compiledQuery.sql);
      const params = toSqliteParams(compiledQuery.parameters);
      if (stmt.reader) return Promise.resolve({ rows: stmt.all(params) as R[] });
      const { changes, lastInsertRowid } = stmt.run(params);
      return Promise.resolve({
        numAffectedRows: BigInt(changes),
        insertId: BigInt(lastInsertRowid),
        rows: [],
      });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  // Kysely's interface wants an async iterator; better-sqlite3 iterates synchronously.
  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiledQuery.query)) {
      throw new TypeError('the SQLite store streams SELECT queries only');
    }
    const stmt = this.statement(compiledQuery.sql);
    for (const row of stmt.iterate(toSqliteParams(compiledQuery.parameters))) yield { rows: [row as R] };
  }
}

export interface SqliteStoreDialectOptions {
  readonly database: Database.Database;
  readonly mutex: Mutex;
  /** Called before a connection is handed out; throws to refuse it (used for the in-transaction guard). */
  readonly beforeAcquire: () => void;
}

class SqliteStoreDriver implements Driver {
  readonly #connection: SqliteStoreConnection;

  constructor(private readonly options: SqliteStoreDialectOptions) {
    this.#connection = new SqliteStoreConnection(options.database);
  }

  get connection(): SqliteStoreConnection {
    return this.#connection;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    this.options.beforeAcquire();
    await this.options.mutex.lock();
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    // IMMEDIATE takes the write lock up front, so another process (a CLI) never turns our transaction
    // into SQLITE_BUSY halfway through.
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.options.database.inTransaction) await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint "${name}"`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint "${name}"`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint "${name}"`));
  }

  releaseConnection(): Promise<void> {
    this.options.mutex.unlock();
    return Promise.resolve();
  }

  destroy(): Promise<void> {
    if (this.options.database.open) this.options.database.close();
    return Promise.resolve();
  }
}

export class SqliteStoreDialect implements Dialect {
  readonly driver: SqliteStoreDriver;

  constructor(options: SqliteStoreDialectOptions) {
    this.driver = new SqliteStoreDriver(options);
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createDriver(): Driver {
    return this.driver;
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  // Kysely's Dialect interface passes an untyped Kysely here.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

/** Opens the SQLite file with the durability settings the store promises. */
export function openSqliteDatabase(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // FULL: a commit is on disk (WAL fsynced) when it returns; durable writes resolve only after that.
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // A 64 MiB page cache and memory-mapped reads: the defaults (2 MiB, no mmap) make a store of a few
  // hundred MB read from the OS on most lookups.
  db.pragma('cache_size = -65536');
  db.pragma('mmap_size = 268435456');
  db.pragma('temp_store = MEMORY');
  return db;
}
