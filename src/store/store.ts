// The store: one storage interface over Kysely with two dialects (SQLite embedded, PostgreSQL cluster).
// It lends transactions through callbacks, applies migrations, and runs the group committer behind
// `durable` and `appendDurable`. It knows no business rule; the entity store sits on top of it.
import fs from 'node:fs';
import path from 'node:path';
import { AsyncResource } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { CompiledQuery, Kysely } from 'kysely';
import { Counter, Histogram } from 'prom-client';
import { ServiceUnavailableError } from '../errors/index.ts';
import { silentLogger, type Logger, type MetricsRegistry } from '../telemetry/index.ts';
import {
  MigrationFailedError,
  MigrationModifiedError,
  StoreClosedError,
  StoreCommitFailedError,
  StoreIoInTransactionError,
  StoreTxMisuseError,
} from './errors.ts';
import {
  MIGRATION_LOCK_KEY,
  MIGRATIONS_TABLE_SQL,
  migrationChecksum,
  orderMigrations,
  type MigrateResult,
  type Migration,
} from './migration.ts';
import { Mutex } from './mutex.ts';
import { createPgPool, PostgresStoreDialect } from './postgres-store-dialect.ts';
import {
  openSqliteDatabase,
  SqliteStoreDialect,
  type SqliteStoreConnection,
} from './sqlite-store-dialect.ts';
import { currentTx, txContext, watchNetworkInTransactions, type TxMarker } from './tx-context.ts';

export type StoreDialect = 'sqlite' | 'postgres';

/** A row for `appendDurable`: column name to value. Objects and arrays are stored as JSON text. */
export type Row = Readonly<Record<string, unknown>>;

export interface SqliteStoreOptions {
  /** Database file (default `./data/crossdock.db`; its folder is created). `:memory:` is allowed but not durable. */
  readonly path?: string;
}

export interface PostgresStoreOptions {
  /** Connection URL, e.g. `postgres://user@host:5432/crossdock`. */
  readonly url: string;
  /** Connections in the pool (default 20). */
  readonly poolSize?: number;
  /** Group-commit batches that may commit at the same time, each on its own connection (default 8). */
  readonly committers?: number;
  /** Statement timeout for every session, in ms (default 0: none). */
  readonly statementTimeoutMs?: number;
}

export interface DurableOptions {
  /** Most callers that share one commit (default 2000). */
  readonly maxBatch?: number;
}

interface CommonStoreConfig {
  /** Group commit tuning. */
  readonly durable?: DurableOptions;
  /**
   * A transaction holding its connection longer than this, in ms, is logged as a warning and counted in
   * `crossdock_store_slow_transactions_total` (default 200). It is the watchdog for transactions that
   * wait on something other than their own queries.
   */
  readonly slowTransactionMs?: number;
}

export type StoreConfig =
  | (CommonStoreConfig & { readonly dialect: 'sqlite'; readonly sqlite?: SqliteStoreOptions })
  | (CommonStoreConfig & { readonly dialect: 'postgres'; readonly postgres: PostgresStoreOptions });

export interface StoreDeps {
  /** Where warnings (slow transactions, failed after-commit callbacks) go (default: silent). */
  readonly logger?: Logger;
  /** Registry for `crossdock_store_*` metrics (default: none kept). */
  readonly metrics?: MetricsRegistry;
}

/** A transaction lent to a callback. Await only `tx.db()` queries inside it. */
export interface StoreTx {
  readonly dialect: StoreDialect;
  /** Kysely bound to this transaction's connection. */
  db<T>(): Kysely<T>;
  /**
   * Runs `fn` after this transaction (for `durable`: this caller's part of the batch) has committed;
   * never if it rolls back. Errors thrown by `fn` are logged, not propagated. Use it to notify in-process
   * subscribers or start network calls that depend on the commit.
   */
  afterCommit(fn: () => void): void;
}

export interface StoreStats {
  /** Commits made by the group committer. */
  readonly durableCommits: number;
  /** Callers of `durable`/`appendDurable` whose batch reached commit (failed or not). */
  readonly durableCallers: number;
  /** Group commits that failed as a whole. */
  readonly durableFailedCommits: number;
  /** Largest number of callers in one commit. */
  readonly largestBatch: number;
  /** Transactions run through `store.transaction`. */
  readonly transactions: number;
}

export interface Store {
  readonly dialect: StoreDialect;
  /** Kysely for reads and writes outside a transaction (each statement autocommits). */
  db<T>(): Kysely<T>;
  /** Applies the migrations not yet applied, in id order; idempotent. */
  migrate(migrations: readonly Migration[]): Promise<MigrateResult>;
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<R>(fn: (tx: StoreTx) => Promise<R>): Promise<R>;
  /**
   * Runs `fn` in a transaction shared with other concurrent callers (group commit), each under its own
   * savepoint; resolves after the batch is committed and synced. If `fn` throws, only this caller
   * rejects (with that error) and its writes are undone. Callers of one batch run one after another, in
   * no promised order; `fn` may run in a batch together with `appendDurable` rows of other callers.
   * On PostgreSQL, a callback undone by a deadlock or serialization failure with a concurrent batch runs
   * again (up to 3 times), so a callback must do nothing but its queries (which the rule demands anyway).
   */
  durable<R>(fn: (tx: StoreTx) => Promise<R>): Promise<R>;
  /**
   * Inserts `rows` into `table` durably: resolves after the batch holding them is committed and synced.
   * All rows of one call are inserted or none; a row that fails (constraint, type) rejects this call
   * only, with the database error. Rows of many callers are sent as multi-row inserts.
   */
  appendDurable(table: string, rows: readonly Row[]): Promise<void>;
  /** Counters of the group committer (also exported as metrics). */
  stats(): StoreStats;
  /** Waits for queued durable writes, then closes connections. Later calls reject with STORE_CLOSED. */
  close(): Promise<void>;
}

// ------------------------------------------------------------------------------------------------
// Backends: what differs between dialects, as a small adapter rather than `if (sqlite)` everywhere.

interface Conn {
  // The driver gives an untyped Kysely; callers pick their own table types through StoreTx.db<T>().
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly db: Kysely<any>;
  /** Runs a script of one or more statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs transaction-control statements (`begin`, `savepoint x; release x`), split on `;`, cached. */
  control(sql: string): Promise<void>;
  query(sql: string, params: readonly unknown[]): Promise<{ rows: unknown[] }>;
}

interface Backend {
  readonly dialect: StoreDialect;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly kysely: Kysely<any>;
  readonly beginSql: string;
  /** Concurrent group-commit batches. */
  readonly committers: number;
  withConnection<R>(fn: (conn: Conn) => Promise<R>): Promise<R>;
  /** Inserts each caller's rows; returns the error of each caller that failed. */
  writeAppends(conn: Conn, items: readonly AppendItem[]): Promise<Map<AppendItem, unknown>>;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}
interface AppendItem extends Pending {
  readonly kind: 'append';
  readonly table: string;
  readonly rows: readonly Row[];
}
interface FnItem extends Pending {
  readonly kind: 'fn';
  readonly run: (tx: StoreTx, marker: TxMarker) => Promise<unknown>;
  /** Times the callback was rolled back by a deadlock or serialization failure and queued again. */
  retries: number;
}

/** Retries of a durable() callback undone by a deadlock or serialization failure (PostgreSQL). */
const MAX_CONFLICT_RETRIES = 3;

function isTransientConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}
type Item = AppendItem | FnItem;

const controlParts = new Map<string, string[]>();
function splitControl(sql: string): string[] {
  let parts = controlParts.get(sql);
  if (parts === undefined) {
    parts = sql
      .split(';')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    controlParts.set(sql, parts);
  }
  return parts;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function quoteIdentifier(name: string): string {
  // Table and column names come from code, never from input; the check keeps a typo from becoming SQL.
  if (!IDENTIFIER.test(name)) throw new TypeError(`invalid SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

function columnsOf(row: Row): string[] {
  return Object.keys(row).filter((k) => row[k] !== undefined);
}

class SqliteBackend implements Backend {
  readonly dialect = 'sqlite' as const;
  readonly beginSql = 'begin immediate';
  readonly committers = 1;
  readonly #insertSql = new Map<string, string>();

  constructor(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    readonly kysely: Kysely<any>,
    private readonly connection: SqliteStoreConnection,
  ) {}

  withConnection<R>(fn: (conn: Conn) => Promise<R>): Promise<R> {
    const raw = this.connection.raw;
    return this.kysely.connection().execute((db) =>
      fn({
        db,
        // A failing statement becomes a rejection, like on PostgreSQL.
        exec: (sql) => {
          try {
            raw.exec(sql);
            return Promise.resolve();
          } catch (error) {
            return Promise.reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
        control: (sql) => {
          try {
            // Prepared once and reused: these run twice per durable() caller.
            for (const part of splitControl(sql)) this.connection.statement(part).run();
            return Promise.resolve();
          } catch (error) {
            return Promise.reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
        query: async (sql, params) => db.executeQuery(CompiledQuery.raw(sql, [...params])),
      }),
    );
  }

  #sqlFor(table: string, columns: readonly string[]): string {
    const key = `${table}\u0000${columns.join('\u0000')}`;
    let sql = this.#insertSql.get(key);
    if (sql === undefined) {
      sql = `insert into ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) values (${columns.map(() => '?').join(', ')})`;
      this.#insertSql.set(key, sql);
    }
    return sql;
  }

  #insert(table: string, row: Row): void {
    const columns = columnsOf(row);
    this.connection.runSync(
      this.#sqlFor(table, columns),
      columns.map((c) => row[c]),
    );
  }

  // Synchronous on purpose: better-sqlite3 is synchronous and the connection lock is held, so a batch
  // of inserts costs a few microseconds per row with no event-loop turns in between.
  writeAppends(_conn: Conn, items: readonly AppendItem[]): Promise<Map<AppendItem, unknown>> {
    const failed = new Map<AppendItem, unknown>();
    const raw = this.connection.raw;
    for (const item of items) {
      if (item.rows.length === 1) {
        // A failing statement is undone by SQLite on its own (ABORT), the transaction stays open.
        try {
          this.#insert(item.table, item.rows[0]!);
        } catch (error) {
          if (!raw.inTransaction) throw error;
          failed.set(item, error);
        }
        continue;
      }
      this.connection.statement('savepoint append_item').run();
      try {
        for (const row of item.rows) this.#insert(item.table, row);
        this.connection.statement('release savepoint append_item').run();
      } catch (error) {
        if (!raw.inTransaction) throw error;
        this.connection.statement('rollback to savepoint append_item').run();
        this.connection.statement('release savepoint append_item').run();
        failed.set(item, error);
      }
    }
    return Promise.resolve(failed);
  }
}

function toPgValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Date || Buffer.isBuffer(value) || value instanceof Uint8Array) return value;
  // pg would turn arrays into PostgreSQL array literals; the store's convention is JSON text on both
  // dialects, so objects and arrays become JSON here.
  return JSON.stringify(value);
}

/** PostgreSQL's limit is 65535 bind parameters per statement; stay below it. */
const PG_MAX_PARAMS = 60_000;

class PostgresBackend implements Backend {
  readonly dialect = 'postgres' as const;
  readonly beginSql = 'begin';

  constructor(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    readonly kysely: Kysely<any>,
    readonly committers: number,
  ) {}

  withConnection<R>(fn: (conn: Conn) => Promise<R>): Promise<R> {
    return this.kysely.connection().execute((db) =>
      fn({
        db,
        exec: async (sql) => {
          // No parameters: pg uses the simple protocol, which accepts several statements.
          await db.executeQuery(CompiledQuery.raw(sql, []));
        },
        control: async (sql) => {
          await db.executeQuery(CompiledQuery.raw(sql, []));
        },
        query: async (sql, params) => db.executeQuery(CompiledQuery.raw(sql, [...params])),
      }),
    );
  }

  async #insertRows(conn: Conn, table: string, rows: readonly Row[]): Promise<void> {
    // Group by column set so each group is one multi-row insert (split at the parameter limit).
    const groups = new Map<string, { columns: string[]; rows: Row[] }>();
    for (const row of rows) {
      const columns = columnsOf(row);
      const key = columns.join('\u0000');
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = { columns, rows: [] }));
      group.rows.push(row);
    }
    for (const { columns, rows: groupRows } of groups.values()) {
      const perChunk = Math.max(1, Math.floor(PG_MAX_PARAMS / Math.max(1, columns.length)));
      const head = `insert into ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) values `;
      for (let start = 0; start < groupRows.length; start += perChunk) {
        const chunk = groupRows.slice(start, start + perChunk);
        const params: unknown[] = [];
        const tuples: string[] = [];
        for (const row of chunk) {
          const marks: string[] = [];
          for (const c of columns) {
            params.push(toPgValue(row[c]));
            marks.push(`$${params.length}`);
          }
          tuples.push(`(${marks.join(', ')})`);
        }
        await conn.query(head + tuples.join(', '), params);
      }
    }
  }

  async writeAppends(conn: Conn, items: readonly AppendItem[]): Promise<Map<AppendItem, unknown>> {
    const failed = new Map<AppendItem, unknown>();
    if (items.length === 0) return failed;
    // Fast path: all callers' rows of a table in one statement. Appends run first in the batch, so on
    // failure the whole transaction can be restarted and each caller retried under its own savepoint.
    const byTable = new Map<string, Row[]>();
    for (const item of items) {
      let rows = byTable.get(item.table);
      if (rows === undefined) byTable.set(item.table, (rows = []));
      rows.push(...item.rows);
    }
    try {
      for (const [table, rows] of byTable) await this.#insertRows(conn, table, rows);
      return failed;
    } catch {
      await conn.control('rollback');
      await conn.control(this.beginSql);
    }
    for (const item of items) {
      await conn.control('savepoint append_item');
      try {
        await this.#insertRows(conn, item.table, item.rows);
        await conn.control('release savepoint append_item');
      } catch (error) {
        await conn.control('rollback to savepoint append_item; release savepoint append_item');
        failed.set(item, error);
      }
    }
    return failed;
  }
}

// ------------------------------------------------------------------------------------------------

let nextStoreId = 1;

interface StoreMetrics {
  commits: Counter;
  failedCommits: Counter;
  callers: Counter;
  batchSize: Histogram;
  slowTransactions: Counter;
}

function createMetrics(registry: MetricsRegistry, dialect: StoreDialect): StoreMetrics {
  const labels = { dialect };
  const get = <M>(name: string, make: () => M): M =>
    (registry.getSingleMetric(name) as M | undefined) ?? make();
  const commits = get(
    'crossdock_store_durable_commits_total',
    () =>
      new Counter({
        name: 'crossdock_store_durable_commits_total',
        help: 'Group commits made for durable writes',
        labelNames: ['dialect'],
        registers: [registry],
      }),
  );
  const failedCommits = get(
    'crossdock_store_durable_failed_commits_total',
    () =>
      new Counter({
        name: 'crossdock_store_durable_failed_commits_total',
        help: 'Group commits that failed as a whole',
        labelNames: ['dialect'],
        registers: [registry],
      }),
  );
  const callers = get(
    'crossdock_store_durable_callers_total',
    () =>
      new Counter({
        name: 'crossdock_store_durable_callers_total',
        help: 'Durable write callers that reached a commit',
        labelNames: ['dialect'],
        registers: [registry],
      }),
  );
  const batchSize = get(
    'crossdock_store_durable_batch_size',
    () =>
      new Histogram({
        name: 'crossdock_store_durable_batch_size',
        help: 'Callers per group commit',
        labelNames: ['dialect'],
        buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
        registers: [registry],
      }),
  );
  const slowTransactions = get(
    'crossdock_store_slow_transactions_total',
    () =>
      new Counter({
        name: 'crossdock_store_slow_transactions_total',
        help: 'Transactions that held their connection longer than slowTransactionMs',
        labelNames: ['dialect'],
        registers: [registry],
      }),
  );
  void labels;
  return { commits, failedCommits, callers, batchSize, slowTransactions };
}

class StoreImpl implements Store {
  readonly id = nextStoreId++;
  readonly dialect: StoreDialect;
  readonly #backend: Backend;
  readonly #logger: Logger;
  readonly #metrics: StoreMetrics | undefined;
  readonly #maxBatch: number;
  readonly #slowMs: number;
  readonly #queue: Item[] = [];
  #active = 0;
  #scheduled = false;
  #closed = false;
  #drained: (() => void) | undefined;
  readonly #flush: () => void;
  #stats = {
    durableCommits: 0,
    durableCallers: 0,
    durableFailedCommits: 0,
    largestBatch: 0,
    transactions: 0,
  };

  constructor(backend: Backend, config: StoreConfig, deps: StoreDeps) {
    this.dialect = backend.dialect;
    this.#backend = backend;
    this.#logger = deps.logger ?? silentLogger();
    this.#metrics = deps.metrics === undefined ? undefined : createMetrics(deps.metrics, backend.dialect);
    this.#maxBatch = Math.max(1, config.durable?.maxBatch ?? 2000);
    this.#slowMs = config.slowTransactionMs ?? 200;
    // The committer runs in the context the store was opened in, not in whichever caller's context
    // happened to schedule it (so one caller's tracing or transaction marker never leaks into a batch).
    const scope = new AsyncResource('crossdock.store.committer');
    this.#flush = () =>
      scope.runInAsyncScope(() => {
        this.#scheduled = false;
        this.#startBatches();
      });
  }

  /** Refuses calls that would deadlock (SQLite) or break the transaction rule (both). */
  guard(operation: string): void {
    const marker = currentTx();
    if (marker !== undefined && marker.storeId === this.id) throw new StoreTxMisuseError(operation);
  }

  db<T>(): Kysely<T> {
    return this.#backend.kysely as Kysely<T>;
  }

  async migrate(migrations: readonly Migration[]): Promise<MigrateResult> {
    this.guard('store.migrate');
    const ordered = orderMigrations(migrations);
    const dialect = this.dialect;
    const applied: string[] = [];
    const alreadyApplied: string[] = [];
    await this.#backend.withConnection(async (conn) => {
      for (const migration of ordered) {
        const sql = migration[dialect];
        const checksum = migrationChecksum(sql);
        await conn.exec(this.#backend.beginSql);
        try {
          if (dialect === 'postgres')
            await conn.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
          await conn.exec(MIGRATIONS_TABLE_SQL[dialect]);
          const found = (
            await conn.query(
              `select checksum from store_migrations where id = ${dialect === 'postgres' ? '$1' : '?'}`,
              [migration.id],
            )
          ).rows[0] as { checksum: string } | undefined;
          if (found !== undefined) {
            await conn.exec('rollback');
            if (found.checksum !== checksum) throw new MigrationModifiedError(migration.id);
            alreadyApplied.push(migration.id);
            continue;
          }
          try {
            await conn.exec(sql);
          } catch (error) {
            throw new MigrationFailedError(migration.id, { cause: error });
          }
          await conn.query(
            dialect === 'postgres'
              ? 'insert into store_migrations (id, description, checksum, applied_at) values ($1, $2, $3, $4)'
              : 'insert into store_migrations (id, description, checksum, applied_at) values (?, ?, ?, ?)',
            [migration.id, migration.description, checksum, new Date().toISOString()],
          );
          await conn.exec('commit');
          applied.push(migration.id);
        } catch (error) {
          await conn.exec('rollback').catch(() => undefined);
          throw error;
        }
      }
    });
    if (applied.length > 0) this.#logger.info({ applied, dialect }, 'store migrations applied');
    return { applied, alreadyApplied };
  }

  #handle(db: Conn['db'], callbacks: (() => void)[]): StoreTx {
    return {
      dialect: this.dialect,
      db: <T>() => db as Kysely<T>,
      afterCommit: (fn) => {
        callbacks.push(fn);
      },
    };
  }

  #runCallbacks(callbacks: readonly (() => void)[]): void {
    for (const fn of callbacks) {
      try {
        fn();
      } catch (error) {
        this.#logger.error({ err: error }, 'store afterCommit callback failed');
      }
    }
  }

  /**
   * Starts the watchdog for one transaction or batch; call the returned function when it ends. A hold
   * past slowTransactionMs is reported while it is still going (so a hung callback shows up in the log
   * before anything else does) and again with its final duration.
   */
  #watch(kind: string): () => void {
    const startedAt = performance.now();
    let fired = false;
    const timer = setTimeout(() => {
      fired = true;
      this.#metrics?.slowTransactions.inc({ dialect: this.dialect });
      this.#logger.warn(
        { heldMs: this.#slowMs, kind, dialect: this.dialect },
        'store transaction is holding its connection too long; a transaction must await only its own queries',
      );
    }, this.#slowMs);
    timer.unref();
    return () => {
      clearTimeout(timer);
      const heldMs = performance.now() - startedAt;
      if (!fired && heldMs <= this.#slowMs) return;
      if (!fired) this.#metrics?.slowTransactions.inc({ dialect: this.dialect });
      this.#logger.warn(
        { heldMs: Math.round(heldMs), kind, dialect: this.dialect },
        'store transaction held its connection too long; a transaction must await only its own queries',
      );
    };
  }

  async transaction<R>(fn: (tx: StoreTx) => Promise<R>): Promise<R> {
    this.guard('store.transaction');
    if (this.#closed) throw new StoreClosedError();
    const callbacks: (() => void)[] = [];
    const result = await this.#backend.kysely.transaction().execute(async (trx) => {
      const stopWatch = this.#watch('transaction');
      const marker: TxMarker = { storeId: this.id, kind: 'transaction', violation: undefined, active: true };
      try {
        const value = await txContext.run(marker, () => fn(this.#handle(trx, callbacks)));
        if (marker.violation !== undefined) throw new StoreIoInTransactionError(marker.violation);
        return value;
      } finally {
        marker.active = false;
        stopWatch();
      }
    });
    this.#stats.transactions++;
    this.#runCallbacks(callbacks);
    return result;
  }

  durable<R>(fn: (tx: StoreTx) => Promise<R>): Promise<R> {
    this.guard('store.durable');
    if (this.#closed) return Promise.reject(new StoreClosedError());
    return new Promise<R>((resolve, reject) => {
      // Run the callback in its caller's async context (its logger bindings, its trace), plus our marker.
      // (AsyncResource.bind is avoided: on Node 20 it builds a deprecation wrapper per call.)
      const scope = new AsyncResource('crossdock.store.durable');
      const run = (tx: StoreTx, marker: TxMarker): Promise<unknown> =>
        scope.runInAsyncScope(() => txContext.run(marker, () => fn(tx)));
      this.#enqueue({ kind: 'fn', run, resolve: resolve, reject, retries: 0 });
    });
  }

  appendDurable(table: string, rows: readonly Row[]): Promise<void> {
    this.guard('store.appendDurable');
    if (this.#closed) return Promise.reject(new StoreClosedError());
    if (rows.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#enqueue({ kind: 'append', table, rows, resolve: resolve, reject });
    });
  }

  #enqueue(item: Item): void {
    this.#queue.push(item);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0 || this.#active >= this.#backend.committers) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: callers woken by the previous commit get to enqueue first, so they
    // share the next commit instead of each starting their own.
    setImmediate(this.#flush);
  }

  #startBatches(): void {
    while (this.#queue.length > 0 && this.#active < this.#backend.committers) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#active++;
      void this.#runBatch(batch).finally(() => {
        this.#active--;
        if (this.#queue.length > 0) this.#schedule();
        else if (this.#active === 0) this.#drained?.();
      });
    }
  }

  async #runBatch(batch: readonly Item[]): Promise<void> {
    const appends: AppendItem[] = [];
    const fns: FnItem[] = [];
    for (const item of batch) {
      if (item.kind === 'append') appends.push(item);
      else fns.push(item);
    }
    const outcomes = new Map<
      Item,
      { ok: true; value: unknown; callbacks: (() => void)[] } | { ok: false; error: unknown }
    >();
    const backend = this.#backend;
    try {
      await backend.withConnection(async (conn) => {
        const stopWatch = this.#watch('durable batch');
        await conn.control(backend.beginSql);
        try {
          const failedAppends = await backend.writeAppends(conn, appends);
          for (const item of appends) {
            const error = failedAppends.get(item);
            outcomes.set(
              item,
              error === undefined ? { ok: true, value: undefined, callbacks: [] } : { ok: false, error },
            );
          }
          // Nothing written yet (no appends) means the first callback needs no savepoint: if it fails,
          // the whole transaction is rolled back and begun again. Saves a round trip per batch.
          let savepoint: 'none' | 'open' = 'none';
          let written = appends.length > 0;
          for (const item of fns) {
            const guarded = written;
            if (guarded) {
              // One round trip per caller on PostgreSQL: release the previous savepoint and open the next.
              await conn.control(
                savepoint === 'open'
                  ? 'release savepoint durable_item; savepoint durable_item'
                  : 'savepoint durable_item',
              );
              savepoint = 'open';
            }
            const callbacks: (() => void)[] = [];
            const marker: TxMarker = {
              storeId: this.id,
              kind: 'durable',
              violation: undefined,
              active: true,
            };
            try {
              const value = await item.run(this.#handle(conn.db, callbacks), marker);
              marker.active = false;
              if (marker.violation !== undefined) throw new StoreIoInTransactionError(marker.violation);
              outcomes.set(item, { ok: true, value, callbacks });
              written = true;
            } catch (error) {
              marker.active = false;
              if (guarded) {
                await conn.control('rollback to savepoint durable_item');
              } else {
                await conn.control('rollback');
                await conn.control(backend.beginSql);
              }
              outcomes.set(item, { ok: false, error });
            }
          }
          await conn.control('commit');
        } catch (error) {
          await conn.control('rollback').catch(() => undefined);
          throw error;
        } finally {
          stopWatch();
        }
      });
    } catch (error) {
      this.#stats.durableFailedCommits++;
      this.#metrics?.failedCommits.inc({ dialect: this.dialect });
      this.#logger.error(
        { err: error, callers: batch.length, dialect: this.dialect },
        'durable group commit failed',
      );
      const failure = new StoreCommitFailedError(this.dialect, { cause: error });
      for (const item of batch) {
        const outcome = outcomes.get(item);
        // A caller whose own callback failed keeps its own error; everyone else learns the commit failed.
        item.reject(outcome !== undefined && !outcome.ok ? outcome.error : failure);
      }
      return;
    }
    this.#stats.durableCommits++;
    this.#stats.durableCallers += batch.length;
    if (batch.length > this.#stats.largestBatch) this.#stats.largestBatch = batch.length;
    if (this.#metrics !== undefined) {
      this.#metrics.commits.inc({ dialect: this.dialect });
      this.#metrics.callers.inc({ dialect: this.dialect }, batch.length);
      this.#metrics.batchSize.observe({ dialect: this.dialect }, batch.length);
    }
    for (const item of batch) {
      const outcome = outcomes.get(item)!;
      if (outcome.ok) {
        this.#runCallbacks(outcome.callbacks);
        item.resolve(outcome.value);
      } else if (
        item.kind === 'fn' &&
        isTransientConflict(outcome.error) &&
        item.retries < MAX_CONFLICT_RETRIES
      ) {
        // Concurrent batches on PostgreSQL can deadlock on each other's rows; the callback's work was
        // rolled back, so it runs again in a later batch rather than failing its caller.
        item.retries++;
        this.#queue.push(item);
      } else {
        item.reject(outcome.error);
      }
    }
  }

  stats(): StoreStats {
    return { ...this.#stats };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#queue.length > 0 || this.#active > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        this.#schedule();
      });
    }
    await this.#backend.kysely.destroy();
  }
}

/** Opens a store on the configured dialect. Call `migrate` before use; `close` when done. */
export async function openStore(config: StoreConfig, deps: StoreDeps = {}): Promise<Store> {
  watchNetworkInTransactions();
  const holder: { store?: StoreImpl } = {};
  const beforeAcquire = (): void => holder.store?.guard('store.db()');
  let backend: Backend;
  if (config.dialect === 'sqlite') {
    const file = config.sqlite?.path ?? path.join('data', 'crossdock.db');
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const database = openSqliteDatabase(file);
    const dialect = new SqliteStoreDialect({ database, mutex: new Mutex(), beforeAcquire });
    backend = new SqliteBackend(new Kysely({ dialect }), dialect.driver.connection);
  } else {
    const options = config.postgres;
    const logger = deps.logger ?? silentLogger();
    const pool = createPgPool(options, (error) =>
      logger.warn({ err: error }, 'PostgreSQL connection failed; the pool will open a new one'),
    );
    const kysely = new Kysely({ dialect: new PostgresStoreDialect(pool, beforeAcquire) });
    // Fail at open, not at first use, when the server is unreachable (and leave no pool behind).
    try {
      await kysely.executeQuery(CompiledQuery.raw('select 1', []));
    } catch (error) {
      await kysely.destroy().catch(() => undefined);
      throw new ServiceUnavailableError('PostgreSQL is unreachable', { cause: error });
    }
    backend = new PostgresBackend(kysely, Math.max(1, options.committers ?? 8));
  }
  const store = new StoreImpl(backend, config, deps);
  holder.store = store;
  return store;
}
