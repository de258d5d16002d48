// The store contract, run unchanged on SQLite and PostgreSQL: migrations, transactions, the
// in-transaction rules, group commit through durable() and appendDurable().
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertNotInTransaction,
  isInTransaction,
  isUniqueViolation,
  prepareQuery,
  type Migration,
  type Store,
  type StoreTx,
} from '../../src/store/index.ts';
import { createMetricsRegistry } from '../../src/telemetry/index.ts';
import { dialectCases, type OpenedStore } from './store-fixtures.ts';

interface TestDb {
  t_items: { id: string; tenant_id: string; qty: number; big: number; payload: string | null };
  t_log: { seq: number; tenant_id: string; body: string };
}

const testMigrations: Migration[] = [
  {
    id: '0901_test_items',
    description: 'items for the store suite',
    sqlite:
      'create table t_items (id text primary key, tenant_id text not null, qty integer not null check (qty >= 0), big integer not null default 0, payload text);',
    postgres:
      'create table t_items (id text primary key, tenant_id text not null, qty integer not null check (qty >= 0), big bigint not null default 0, payload jsonb);',
  },
  {
    id: '0902_test_log',
    description: 'an append-only log for the store suite',
    sqlite: 'create table t_log (seq integer primary key, tenant_id text not null, body text not null);',
    postgres: 'create table t_log (seq bigint primary key, tenant_id text not null, body text not null);',
  },
];

async function count(store: Store, table: 't_items' | 't_log'): Promise<number> {
  const row = await store
    .db<TestDb>()
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe.each(dialectCases)('store on $dialect', ({ dialect, open }) => {
  let opened: OpenedStore;
  let store: Store;

  beforeAll(async () => {
    opened = await open();
    store = opened.store;
    await store.migrate(testMigrations);
  });
  afterAll(async () => {
    await opened.cleanup();
  });

  it(`reports its dialect (${dialect})`, () => {
    expect(store.dialect).toBe(dialect);
  });

  describe('migrations', () => {
    it('applies each migration once and reports what it applied', async () => {
      const again = await store.migrate(testMigrations);
      expect(again.applied).toEqual([]);
      expect(again.alreadyApplied).toEqual(['0901_test_items', '0902_test_log']);
      const extra: Migration = {
        id: '0903_test_extra',
        description: 'a later table',
        sqlite: 'create table t_extra (id text primary key); create index t_extra_id on t_extra (id);',
        postgres: 'create table t_extra (id text primary key); create index t_extra_id on t_extra (id);',
      };
      // Given out of order, still applied by id.
      const result = await store.migrate([extra, ...testMigrations]);
      expect(result.applied).toEqual(['0903_test_extra']);
    });

    it('refuses an applied migration whose SQL changed', async () => {
      const changed = { ...testMigrations[0]!, sqlite: 'select 1', postgres: 'select 1' };
      await expect(store.migrate([changed])).rejects.toMatchObject({ code: 'MIGRATION_MODIFIED' });
    });

    it('refuses duplicate or malformed ids', async () => {
      await expect(store.migrate([testMigrations[0]!, testMigrations[0]!])).rejects.toMatchObject({
        code: 'MIGRATION_INVALID',
      });
      await expect(store.migrate([{ ...testMigrations[0]!, id: 'items' }])).rejects.toMatchObject({
        code: 'MIGRATION_INVALID',
      });
    });

    it('applies nothing of a migration that fails', async () => {
      const broken: Migration = {
        id: '0904_test_broken',
        description: 'second statement fails',
        sqlite: 'create table t_half (id text); create table t_half (id text);',
        postgres: 'create table t_half (id text); create table t_half (id text);',
      };
      await expect(store.migrate([broken])).rejects.toMatchObject({ code: 'MIGRATION_FAILED' });
      const tables =
        dialect === 'sqlite'
          ? await store
              .db<{ sqlite_master: { name: string } }>()
              .selectFrom('sqlite_master')
              .select('name')
              .where('name', '=', 't_half')
              .execute()
          : await store
              .db<{ 'information_schema.tables': { table_name: string } }>()
              .selectFrom('information_schema.tables')
              .select('table_name')
              .where('table_name', '=', 't_half')
              .execute();
      expect(tables).toEqual([]);
    });
  });

  describe('transactions', () => {
    it('commits when the callback resolves and rolls back when it throws', async () => {
      await store.transaction(async (tx) => {
        await tx
          .db<TestDb>()
          .insertInto('t_items')
          .values({ id: 'tx-1', tenant_id: 't1', qty: 1, big: 0, payload: null })
          .execute();
      });
      await expect(
        store.transaction(async (tx) => {
          await tx
            .db<TestDb>()
            .insertInto('t_items')
            .values({ id: 'tx-2', tenant_id: 't1', qty: 1, big: 0, payload: null })
            .execute();
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      const ids = await store
        .db<TestDb>()
        .selectFrom('t_items')
        .select('id')
        .where('id', 'like', 'tx-%')
        .execute();
      expect(ids.map((r) => r.id)).toEqual(['tx-1']);
    });

    it('returns the same JS values on both dialects (bigint as number, JSON as text)', async () => {
      await store.transaction(async (tx) => {
        await tx
          .db<TestDb>()
          .insertInto('t_items')
          .values({
            id: 'types-1',
            tenant_id: 't1',
            qty: 2,
            big: 2 ** 40,
            payload: JSON.stringify({ a: [1, 2] }),
          })
          .execute();
      });
      const row = await store
        .db<TestDb>()
        .selectFrom('t_items')
        .selectAll()
        .where('id', '=', 'types-1')
        .executeTakeFirstOrThrow();
      expect(row.big).toBe(2 ** 40);
      expect(typeof row.payload).toBe('string');
      expect(JSON.parse(row.payload!)).toEqual({ a: [1, 2] });
    });

    it('refuses store.db(), nested transactions and durable writes inside a transaction', async () => {
      await expect(
        store.transaction(async () => {
          await store.db<TestDb>().selectFrom('t_items').selectAll().execute();
        }),
      ).rejects.toMatchObject({ code: 'STORE_TX_MISUSE' });
      await expect(
        store.transaction(() => store.transaction(() => Promise.resolve(1))),
      ).rejects.toMatchObject({
        code: 'STORE_TX_MISUSE',
      });
      await expect(
        store.transaction(() => store.appendDurable('t_log', [{ seq: 1, tenant_id: 't', body: 'x' }])),
      ).rejects.toMatchObject({
        code: 'STORE_TX_MISUSE',
      });
      await expect(store.durable(() => store.durable(() => Promise.resolve(1)))).rejects.toMatchObject({
        code: 'STORE_TX_MISUSE',
      });
      // The store still works afterwards (no lock left held).
      expect(await count(store, 't_log')).toBeGreaterThanOrEqual(0);
    });

    it('makes assertNotInTransaction throw inside a transaction and only there', async () => {
      expect(isInTransaction()).toBe(false);
      expect(() => assertNotInTransaction('HTTP GET example')).not.toThrow();
      await expect(
        store.transaction(async (tx) => {
          await tx
            .db<TestDb>()
            .insertInto('t_items')
            .values({ id: 'io-1', tenant_id: 't1', qty: 1, big: 0, payload: null })
            .execute();
          expect(isInTransaction()).toBe(true);
          assertNotInTransaction('HTTP GET example');
        }),
      ).rejects.toMatchObject({ code: 'STORE_IO_IN_TRANSACTION' });
      const row = await store
        .db<TestDb>()
        .selectFrom('t_items')
        .select('id')
        .where('id', '=', 'io-1')
        .executeTakeFirst();
      expect(row).toBeUndefined();
    });

    it('detects a network call made inside a transaction even without an assert, and rolls back', async () => {
      const server = http.createServer((_req, res) => res.end('ok'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      try {
        await expect(
          store.transaction(async (tx) => {
            await tx
              .db<TestDb>()
              .insertInto('t_items')
              .values({ id: 'io-2', tenant_id: 't1', qty: 1, big: 0, payload: null })
              .execute();
            const res = await fetch(`http://127.0.0.1:${port}/`);
            await res.text();
          }),
        ).rejects.toMatchObject({ code: 'STORE_IO_IN_TRANSACTION' });
        await expect(
          store.durable(async () => {
            await new Promise<void>((resolve, reject) =>
              http
                .get(`http://127.0.0.1:${port}/`, (res) => res.resume().on('end', resolve))
                .on('error', reject),
            );
          }),
        ).rejects.toMatchObject({ code: 'STORE_IO_IN_TRANSACTION' });
        // Outside a transaction the same call is fine.
        const res = await fetch(`http://127.0.0.1:${port}/`);
        expect(await res.text()).toBe('ok');
      } finally {
        server.close();
      }
      const row = await store
        .db<TestDb>()
        .selectFrom('t_items')
        .select('id')
        .where('id', '=', 'io-2')
        .executeTakeFirst();
      expect(row).toBeUndefined();
    });

    it('runs afterCommit callbacks after a commit and never after a rollback', async () => {
      const seen: string[] = [];
      await store.transaction(async (tx) => {
        tx.afterCommit(() => seen.push('committed'));
        await tx.db<TestDb>().selectFrom('t_items').select('id').execute();
      });
      await store
        .transaction(async (tx) => {
          tx.afterCommit(() => seen.push('rolled back'));
          await tx.db<TestDb>().selectFrom('t_items').select('id').execute();
          throw new Error('no');
        })
        .catch(() => undefined);
      await store.durable(async (tx) => {
        tx.afterCommit(() => seen.push('durable'));
        await tx.db<TestDb>().selectFrom('t_items').select('id').execute();
      });
      expect(seen).toEqual(['committed', 'durable']);
    });
  });

  describe('prepared queries', () => {
    it('compiles once and runs with named values, constants kept, on the store and inside a transaction', async () => {
      await store.transaction(async (tx) => {
        await tx
          .db<TestDb>()
          .insertInto('t_items')
          .values([
            { id: 'pq-1', tenant_id: 'pq', qty: 1, big: 0, payload: null },
            { id: 'pq-2', tenant_id: 'pq', qty: 5, big: 0, payload: null },
            { id: 'pq-3', tenant_id: 'other', qty: 5, big: 0, payload: null },
          ])
          .execute();
      });
      const byQty = prepareQuery(store.db<TestDb>(), (db, p: (name: 'tenant' | 'min') => never) =>
        db
          .selectFrom('t_items')
          .select('id')
          .where('tenant_id', '=', p('tenant'))
          .where('qty', '>=', p('min'))
          .where('id', 'like', 'pq-%')
          .orderBy('id'),
      );
      expect((await byQty.execute(store.db(), { tenant: 'pq', min: 0 })).rows).toEqual([
        { id: 'pq-1' },
        { id: 'pq-2' },
      ]);
      expect((await byQty.execute(store.db(), { tenant: 'pq', min: 2 })).rows).toEqual([{ id: 'pq-2' }]);
      const inTx = await store.transaction((tx) => byQty.execute(tx.db(), { tenant: 'other', min: 0 }));
      expect(inTx.rows).toEqual([{ id: 'pq-3' }]);
    });
  });

  describe('group commit', () => {
    it('durable() resolves with the callback value after commit; a throwing caller fails alone', async () => {
      const before = store.stats().durableCommits;
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          store.durable(async (tx) => {
            await tx
              .db<TestDb>()
              .insertInto('t_items')
              .values({ id: `d-${i}`, tenant_id: 't1', qty: i, big: 0, payload: null })
              .execute();
            if (i === 7) throw new Error('caller 7 fails');
            return i * 2;
          }),
        ),
      );
      expect(results[7]).toMatchObject({ status: 'rejected', reason: { message: 'caller 7 fails' } });
      for (const [i, r] of results.entries())
        if (i !== 7) expect(r).toEqual({ status: 'fulfilled', value: i * 2 });
      const ids = await store
        .db<TestDb>()
        .selectFrom('t_items')
        .select('id')
        .where('id', 'like', 'd-%')
        .execute();
      expect(ids).toHaveLength(49);
      expect(ids.map((r) => r.id)).not.toContain('d-7');
      expect(store.stats().durableCommits - before).toBeLessThan(50);
    });

    it('a durable() caller whose SQL fails is rolled back alone', async () => {
      const results = await Promise.allSettled([
        store.durable((tx) =>
          tx
            .db<TestDb>()
            .insertInto('t_items')
            .values({ id: 'sql-ok', tenant_id: 't1', qty: 1, big: 0, payload: null })
            .execute(),
        ),
        store.durable(async (tx) => {
          await tx
            .db<TestDb>()
            .insertInto('t_items')
            .values({ id: 'sql-bad-a', tenant_id: 't1', qty: 1, big: 0, payload: null })
            .execute();
          await tx
            .db<TestDb>()
            .insertInto('t_items')
            .values({ id: 'sql-bad-b', tenant_id: 't1', qty: -1, big: 0, payload: null })
            .execute();
        }),
        store.durable((tx) =>
          tx
            .db<TestDb>()
            .insertInto('t_items')
            .values({ id: 'sql-ok-2', tenant_id: 't1', qty: 1, big: 0, payload: null })
            .execute(),
        ),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const ids = await store
        .db<TestDb>()
        .selectFrom('t_items')
        .select('id')
        .where('id', 'like', 'sql-%')
        .orderBy('id')
        .execute();
      expect(ids.map((r) => r.id)).toEqual(['sql-ok', 'sql-ok-2']);
    });

    it('undoes the first caller of a batch when it fails after writing, keeping its batch-mates', async () => {
      const results = await Promise.allSettled([
        store.durable(async (tx) => {
          await tx
            .db<TestDb>()
            .insertInto('t_items')
            .values({ id: 'first-bad', tenant_id: 't1', qty: 1, big: 0, payload: null })
            .execute();
          throw new Error('first caller fails after writing');
        }),
        store.durable((tx) =>
          tx
            .db<TestDb>()
            .insertInto('t_items')
            .values({ id: 'first-ok', tenant_id: 't1', qty: 1, big: 0, payload: null })
            .execute(),
        ),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
      const ids = await store
        .db<TestDb>()
        .selectFrom('t_items')
        .select('id')
        .where('id', 'like', 'first-%')
        .execute();
      expect(ids.map((r) => r.id)).toEqual(['first-ok']);
    });

    it('many concurrent appendDurable callers share far fewer commits than callers', async () => {
      const callers = 1000;
      const before = store.stats();
      const base = 100_000;
      await Promise.all(
        Array.from({ length: callers }, (_, i) =>
          store.appendDurable('t_log', [{ seq: base + i, tenant_id: 't1', body: `event ${i}` }]),
        ),
      );
      const after = store.stats();
      const commits = after.durableCommits - before.durableCommits;
      expect(after.durableCallers - before.durableCallers).toBe(callers);
      // Counted, not timed: 1000 callers issued at once must not need anywhere near 1000 commits.
      expect(commits).toBeGreaterThan(0);
      expect(commits).toBeLessThanOrEqual(callers / 20);
      const n = await store
        .db<TestDb>()
        .selectFrom('t_log')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('seq', '>=', base)
        .executeTakeFirstOrThrow();
      expect(Number(n.n)).toBe(callers);
    });

    it("one bad row fails only its own caller, not its batch-mates, and none of that caller's rows land", async () => {
      const base = 200_000;
      await store.appendDurable('t_log', [{ seq: base, tenant_id: 't1', body: 'already there' }]);
      const results = await Promise.allSettled([
        store.appendDurable('t_log', [{ seq: base + 1, tenant_id: 't1', body: 'a' }]),
        // Second row duplicates an existing key: the whole call fails, its first row is not kept.
        store.appendDurable('t_log', [
          { seq: base + 2, tenant_id: 't1', body: 'b1' },
          { seq: base, tenant_id: 't1', body: 'b2 duplicate' },
        ]),
        store.appendDurable('t_log', [{ seq: base + 3, tenant_id: 't1', body: 'c' }]),
        store.appendDurable('t_log', [{ seq: base + 4, tenant_id: 't1', body: null }]),
        store.appendDurable('t_log', [{ seq: base + 5, tenant_id: 't1', body: 'e' }]),
      ]);
      expect(results.map((r) => r.status)).toEqual([
        'fulfilled',
        'rejected',
        'fulfilled',
        'rejected',
        'fulfilled',
      ]);
      expect(isUniqueViolation((results[1] as PromiseRejectedResult).reason)).toBe(true);
      const seqs = await store
        .db<TestDb>()
        .selectFrom('t_log')
        .select('seq')
        .where('seq', '>=', base)
        .where('seq', '<', base + 100)
        .orderBy('seq')
        .execute();
      expect(seqs.map((r) => Number(r.seq))).toEqual([base, base + 1, base + 3, base + 5]);
    });

    it('appendDurable stores objects and arrays as JSON text on both dialects', async () => {
      await store.appendDurable('t_items', [
        { id: 'json-1', tenant_id: 't1', qty: 1, big: 0, payload: { a: [1, 2], b: 'x' } },
        { id: 'json-2', tenant_id: 't1', qty: 1, big: 0, payload: [1, 'two'] },
      ]);
      const rows = await store
        .db<TestDb>()
        .selectFrom('t_items')
        .select(['id', 'payload'])
        .where('id', 'like', 'json-%')
        .orderBy('id')
        .execute();
      expect(rows.map((r) => typeof r.payload)).toEqual(['string', 'string']);
      expect(rows.map((r) => JSON.parse(r.payload!) as unknown)).toEqual([{ a: [1, 2], b: 'x' }, [1, 'two']]);
    });

    it('mixes durable() callbacks and appendDurable rows in one batch', async () => {
      const base = 300_000;
      const before = store.stats().durableCommits;
      await Promise.all([
        ...Array.from({ length: 20 }, (_, i) =>
          store.appendDurable('t_log', [{ seq: base + i, tenant_id: 't1', body: 'x' }]),
        ),
        ...Array.from({ length: 20 }, (_, i) =>
          store.durable((tx) =>
            tx
              .db<TestDb>()
              .insertInto('t_log')
              .values({ seq: base + 100 + i, tenant_id: 't1', body: 'y' })
              .execute(),
          ),
        ),
      ]);
      expect(store.stats().durableCommits - before).toBeLessThan(40);
      const n = await store
        .db<TestDb>()
        .selectFrom('t_log')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('seq', '>=', base)
        .where('seq', '<', base + 1000)
        .executeTakeFirstOrThrow();
      expect(Number(n.n)).toBe(40);
    });
  });
});

describe.each(dialectCases)('store lifecycle on $dialect', ({ open }) => {
  it('counts a transaction that holds its connection past slowTransactionMs (the watchdog)', async () => {
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const opened = await open({ slowTransactionMs: 5 }, { metrics });
    try {
      await opened.store.migrate(testMigrations);
      await opened.store.transaction(async (tx) => {
        await tx.db<TestDb>().selectFrom('t_items').select('id').execute();
        // Waiting on a timer stands in for any non-store await (the guards catch network calls).
        await new Promise((resolve) => setTimeout(resolve, 30));
      });
      await opened.store.transaction(async (tx) => {
        await tx.db<TestDb>().selectFrom('t_items').select('id').execute();
      });
      const metric = await metrics.getSingleMetric('crossdock_store_slow_transactions_total')!.get();
      expect(metric.values.reduce((sum, v) => sum + v.value, 0)).toBeGreaterThanOrEqual(1);
    } finally {
      await opened.cleanup();
    }
  });

  it('close() waits for queued durable writes, then refuses new ones', async () => {
    const opened = await open();
    const { store } = opened;
    await store.migrate(testMigrations);
    const pending = Array.from({ length: 100 }, (_, i) =>
      store.appendDurable('t_log', [{ seq: i, tenant_id: 't1', body: 'x' }]),
    );
    const closing = store.close();
    await expect(
      store.appendDurable('t_log', [{ seq: 1000, tenant_id: 't1', body: 'late' }]),
    ).rejects.toMatchObject({
      code: 'STORE_CLOSED',
    });
    await Promise.all(pending);
    await closing;
    await opened.cleanup();
  });
});

describe.each(dialectCases.filter((c) => c.dialect === 'postgres'))(
  'group commit on $dialect under deadlock',
  ({ open }) => {
    it('runs a durable() callback again when a concurrent batch deadlocks with it, so both callers succeed', async () => {
      const opened = await open();
      const { store } = opened;
      try {
        await store.migrate(testMigrations);
        await store.transaction(async (tx) => {
          await tx
            .db<TestDb>()
            .insertInto('t_items')
            .values([
              { id: 'r1', tenant_id: 't1', qty: 0, big: 0, payload: null },
              { id: 'r2', tenant_id: 't1', qty: 0, big: 0, payload: null },
            ])
            .execute();
        });
        const bump = (tx: StoreTx, id: string) =>
          tx
            .db<TestDb>()
            .updateTable('t_items')
            .set((eb) => ({ qty: eb('qty', '+', 1) }))
            .where('id', '=', id)
            .execute();
        let aLocked!: () => void;
        const aHolds = new Promise<void>((resolve) => (aLocked = resolve));
        let bLocked!: () => void;
        const bHolds = new Promise<void>((resolve) => (bLocked = resolve));
        // A locks r1 then wants r2; B (a later batch, on another connection) locks r2 then wants r1.
        // The waits on each other are the deadlock under test, not a pattern to copy.
        const a = store.durable(async (tx) => {
          await bump(tx, 'r1');
          aLocked();
          await bHolds;
          await bump(tx, 'r2');
        });
        await aHolds;
        const b = store.durable(async (tx) => {
          await bump(tx, 'r2');
          bLocked();
          await bump(tx, 'r1');
        });
        await Promise.all([a, b]);
        const rows = await store
          .db<TestDb>()
          .selectFrom('t_items')
          .select(['id', 'qty'])
          .orderBy('id')
          .execute();
        expect(rows).toEqual([
          { id: 'r1', qty: 2 },
          { id: 'r2', qty: 2 },
        ]);
      } finally {
        await opened.cleanup();
      }
    });
  },
);
