// Singleton locks: "only one process of the cluster runs this" (a scheduler, a poller). On PostgreSQL a
// session advisory lock held on a dedicated connection, so the lock lives exactly as long as the
// connection: a process that dies or is cut off loses it, and its lease's `signal` aborts. On SQLite
// (one process by design) the lock is held in memory.
import pg from 'pg';
import { silentLogger, type Logger } from '../telemetry/index.ts';

export interface SingletonLease {
  readonly name: string;
  /** Aborted when the lock is lost (connection dropped); stop the singleton work then. */
  readonly signal: AbortSignal;
  release(): Promise<void>;
}

export interface SingletonLocksOptions {
  /** PostgreSQL URL for the dedicated connections; absent for SQLite (in-process locks). */
  readonly postgresUrl?: string;
  readonly logger?: Logger;
}

export class SingletonLocks {
  readonly #url: string | undefined;
  readonly #logger: Logger;
  readonly #held = new Set<string>();

  constructor(options: SingletonLocksOptions = {}) {
    this.#url = options.postgresUrl;
    this.#logger = options.logger ?? silentLogger();
  }

  /** Takes lock `name` if no other process holds it; null otherwise. Never waits. */
  async tryAcquire(name: string): Promise<SingletonLease | null> {
    if (this.#held.has(name)) return null;
    const abort = new AbortController();
    if (this.#url === undefined) {
      this.#held.add(name);
      return {
        name,
        signal: abort.signal,
        release: () => {
          this.#held.delete(name);
          return Promise.resolve();
        },
      };
    }
    const client = new pg.Client({
      connectionString: this.#url,
      application_name: `crossdock-singleton:${name}`,
    });
    await client.connect();
    let ok = false;
    try {
      const result = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
        [`crossdock-singleton:${name}`],
      );
      ok = result.rows[0]?.locked === true;
    } finally {
      if (!ok) await client.end();
    }
    if (!ok) return null;
    this.#held.add(name);
    let released = false;
    const lost = (error?: unknown) => {
      if (released) return;
      this.#held.delete(name);
      this.#logger.warn({ err: error, lock: name }, 'singleton lock lost: its connection ended');
      abort.abort(new Error(`singleton lock ${name} lost`));
    };
    client.on('error', lost);
    client.on('end', () => lost());
    return {
      name,
      signal: abort.signal,
      release: async () => {
        if (released) return;
        released = true;
        this.#held.delete(name);
        // Ending the session releases the advisory lock with it.
        await client.end().catch(() => undefined);
      },
    };
  }
}
