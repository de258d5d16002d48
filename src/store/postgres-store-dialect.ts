// The PostgreSQL dialect of the store: Kysely's PostgreSQL driver over a `pg` pool whose sessions run
// with synchronous_commit=on, and whose type parsers return the same JS values SQLite gives back
// (int8 as number, json/jsonb as text, timestamps as ISO-8601 strings), so one code path reads both.
import pg from 'pg';
import {
  PostgresDialect,
  type DatabaseConnection,
  type Driver,
  type QueryCompiler,
  type TransactionSettings,
} from 'kysely';

const OID = { int8: 20, json: 114, jsonb: 3802, timestamp: 1114, timestamptz: 1184 } as const;

function parseInt8(value: string): number {
  const n = Number(value);
  // A bigint column past 2^53 cannot be a JS number without losing digits; return the exact text.
  return Number.isSafeInteger(n) ? n : (value as unknown as number);
}

const parsers = new Map<number, (value: string) => unknown>([
  [OID.int8, parseInt8],
  [OID.json, (v) => v],
  [OID.jsonb, (v) => v],
  [OID.timestamptz, (v) => new Date(v).toISOString()],
  [OID.timestamp, (v) => new Date(`${v.replace(' ', 'T')}Z`).toISOString()],
]);

const storeTypes = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    const custom = parsers.get(oid);
    if (custom !== undefined && format !== 'binary') return custom;
    // pg's typings overload getTypeParser by format; the text form is the one used here.
    return pg.types.getTypeParser(oid, 'text') as (value: string) => unknown;
  },
};

export interface PostgresPoolOptions {
  readonly url: string;
  /** Connections in the pool (default 20). */
  readonly poolSize?: number;
  /** Statement timeout for every session, in ms (default 0: none). */
  readonly statementTimeoutMs?: number;
}

/**
 * `onIdleError` receives errors of pooled connections (server restarted, connection killed); pg emits
 * them as 'error' events that would otherwise crash the process. The pool replaces the client.
 */
export function createPgPool(options: PostgresPoolOptions, onIdleError: (error: Error) => void): pg.Pool {
  const settings = ['-c synchronous_commit=on'];
  if (options.statementTimeoutMs !== undefined && options.statementTimeoutMs > 0) {
    settings.push(`-c statement_timeout=${Math.floor(options.statementTimeoutMs)}`);
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 20,
    options: settings.join(' '),
    types: storeTypes,
  });
  pool.on('error', onIdleError);
  // A connection killed while checked out (a batch in flight) also emits 'error' on its client, with no
  // pool listener attached at that moment: without this handler the process would crash. The query in
  // flight rejects on its own, and the pool drops the client when it is released.
  pool.on('connect', (client) => client.on('error', onIdleError));
  return pool;
}

/** Kysely's PostgreSQL driver with a hook run before any connection is handed out. */
class GuardedDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly beforeAcquire: () => void,
  ) {}
  init(): Promise<void> {
    return this.inner.init();
  }
  acquireConnection(): Promise<DatabaseConnection> {
    this.beforeAcquire();
    return this.inner.acquireConnection();
  }
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(connection, settings);
  }
  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(connection);
  }
  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(connection);
  }
  savepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return this.inner.savepoint!(c, name, compile);
  }
  rollbackToSavepoint(
    c: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.inner.rollbackToSavepoint!(c, name, compile);
  }
  releaseSavepoint(
    c: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return this.inner.releaseSavepoint!(c, name, compile);
  }
  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(connection);
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

export class PostgresStoreDialect extends PostgresDialect {
  constructor(
    pool: pg.Pool,
    private readonly beforeAcquire: () => void,
  ) {
    super({ pool });
  }

  override createDriver(): Driver {
    return new GuardedDriver(super.createDriver(), this.beforeAcquire);
  }
}
