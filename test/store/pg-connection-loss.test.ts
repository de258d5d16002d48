// PostgreSQL connections killed under the store (server restart, failover, an admin's
// pg_terminate_backend): durable callers in flight fail with a retryable typed error or succeed, never
// hang, the process does not crash on idle-connection errors, and the next writes work on fresh
// connections.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStore, type Migration } from '../../src/store/index.ts';
import { freshPgDatabase, PG_ADMIN_URL, pgAvailable } from '../support/services.ts';

const migrations: Migration[] = [
  {
    id: '0901_loss_log',
    description: 'rows for the connection-loss test',
    sqlite: 'create table loss_log (id integer primary key)',
    postgres: 'create table loss_log (id bigint primary key)',
  },
];

describe.skipIf(!pgAvailable)('store on postgres when connections are killed', () => {
  it('refuses to open on an unreachable server with SERVICE_UNAVAILABLE', async () => {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    await expect(
      openStore({ dialect: 'postgres', postgres: { url: 'postgres://postgres@127.0.0.1:1/none' } }),
    ).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
  });

  it('fails in-flight durable writes with STORE_COMMIT_FAILED at worst, then recovers', async () => {
    const db = await freshPgDatabase('cd_loss');
    const store = await openStore({
      dialect: 'postgres',
      postgres: { url: db.url, poolSize: 6, committers: 3 },
    });
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      await store.migrate(migrations);
      const name = new URL(db.url).pathname.slice(1);
      let next = 0;
      const outcomes: PromiseSettledResult<void>[] = [];
      const writers = Array.from({ length: 30 }, async () => {
        for (let i = 0; i < 20; i++) {
          const [r] = await Promise.allSettled([store.appendDurable('loss_log', [{ id: next++ }])]);
          outcomes.push(r);
        }
      });
      // Kill every connection of the test database a few times while the writers run.
      for (let k = 0; k < 3; k++) {
        await new Promise((resolve) => setTimeout(resolve, 30));
        await admin.query(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [name],
        );
      }
      await Promise.all(writers);
      const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      for (const f of failed)
        expect(f.reason).toMatchObject({ code: 'STORE_COMMIT_FAILED', retryable: true });
      // Whatever resolved is there; writes after the storm work.
      await store.appendDurable('loss_log', [{ id: 1_000_000 }]);
      const rows = await store
        .db<{ loss_log: { id: number } }>()
        .selectFrom('loss_log')
        .select('id')
        .execute();
      const present = new Set(rows.map((r) => Number(r.id)));
      expect(present.has(1_000_000)).toBe(true);
      // Every write that resolved is there. (A write whose connection died during COMMIT itself may be
      // there too: its outcome is unknown to the client, which is why retries must be idempotent.)
      expect(present.size).toBeGreaterThanOrEqual(outcomes.length - failed.length + 1);
      expect(present.size).toBeLessThanOrEqual(outcomes.length + 1);
    } finally {
      await admin.end();
      await store.close();
      await db.drop();
    }
  });
});
