// The log itself on both dialects: an event commits with its change or not at all, per-entity
// sequences, the CloudEvents envelope, and (PostgreSQL) readers never skip a transaction that
// commits after a later-positioned one.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvents, EventLog, toCloudEvent, type LoggedEvent } from '../../src/events/index.ts';
import type { Migration } from '../../src/store/index.ts';
import { dialects, type Opened } from './support/harness.ts';

const orders: Migration = {
  id: '0990_test_orders',
  description: 'a business table for outbox tests',
  sqlite: 'create table t_orders (id text primary key, tenant_id text not null, status text not null);',
  postgres: 'create table t_orders (id text primary key, tenant_id text not null, status text not null);',
};

interface OrdersDb {
  t_orders: { id: string; tenant_id: string; status: string };
}

class Boom extends Error {}

describe.each(dialects)('event log on $dialect', ({ dialect, open }) => {
  let opened: Opened;
  let log: EventLog;

  beforeAll(async () => {
    opened = await open([orders]);
    log = new EventLog({ store: opened.store });
  });
  afterAll(async () => {
    await log.stop();
    await opened.cleanup();
  });

  async function readAll(): Promise<LoggedEvent[]> {
    await log.publish();
    return log.read(0, 10_000);
  }

  it('commits a change and its event together, and a rolled-back transaction leaves neither', async () => {
    const { store } = opened;
    await store.transaction(async (tx) => {
      await tx
        .db<OrdersDb>()
        .insertInto('t_orders')
        .values({ id: 'o1', tenant_id: 't1', status: 'open' })
        .execute();
      await appendEvents(tx, [
        { type: 'order:created', tenantId: 't1', entity: { id: 'o1' }, data: { status: 'open' } },
      ]);
    });
    await expect(
      store.transaction(async (tx) => {
        await tx
          .db<OrdersDb>()
          .insertInto('t_orders')
          .values({ id: 'o2', tenant_id: 't1', status: 'open' })
          .execute();
        await appendEvents(tx, [{ type: 'order:created', tenantId: 't1', entity: { id: 'o2' }, data: {} }]);
        throw new Boom('fails after both writes');
      }),
    ).rejects.toThrow(Boom);
    // In a durable batch, one caller failing mid-way leaves neither its change nor its event, while the
    // caller sharing its commit keeps both.
    const results = await Promise.allSettled([
      store.durable(async (tx) => {
        await tx
          .db<OrdersDb>()
          .insertInto('t_orders')
          .values({ id: 'o3', tenant_id: 't1', status: 'open' })
          .execute();
        await appendEvents(tx, [{ type: 'order:created', tenantId: 't1', entity: { id: 'o3' }, data: {} }]);
      }),
      store.durable(async (tx) => {
        await tx
          .db<OrdersDb>()
          .insertInto('t_orders')
          .values({ id: 'o4', tenant_id: 't1', status: 'open' })
          .execute();
        await appendEvents(tx, [{ type: 'order:created', tenantId: 't1', entity: { id: 'o4' }, data: {} }]);
        throw new Boom('fails inside the batch');
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    const rows = await store.db<OrdersDb>().selectFrom('t_orders').select('id').orderBy('id').execute();
    const events = await readAll();
    expect(rows.map((r) => r.id)).toEqual(['o1', 'o3']);
    expect(events.map((e) => e.entity.id).sort()).toEqual(['o1', 'o3']);
  });

  it('numbers each entity 1, 2, 3 without gaps and renders a CloudEvents 1.0 envelope', async () => {
    await log.append([
      { type: 'shipment:created', tenantId: 't1', entity: { id: 's1' }, data: { carrier: 'dhl' } },
      { type: 'shipment:tracking-updated', tenantId: 't1', entity: { id: 's1' }, data: { at: 'hub' } },
    ]);
    await expect(
      log.append([
        { type: 'shipment:delivered', tenantId: 't1', entity: { kind: 'order', id: 's1' }, data: {} },
      ]),
    ).rejects.toMatchObject({ code: 'EVENT_INVALID' });
    await log.append([
      {
        type: 'shipment:delivered-short',
        tenantId: 't1',
        entity: { id: 's1' },
        data: { missing: 2 },
        correlationId: 'corr-1',
        causationId: 'cause-1',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      },
    ]);
    const events = (await readAll()).filter((e) => e.entity.kind === 'shipment');
    expect(events.map((e) => e.entitySeq)).toEqual([1, 2, 3]);
    const ce = toCloudEvent(events[2]!);
    expect(ce).toMatchObject({
      specversion: '1.0',
      type: 'dev.crossdock.shipment.delivered-short',
      source: '/crossdock',
      subject: 'shipment/s1',
      datacontenttype: 'application/json',
      data: { missing: 2 },
      tenantid: 't1',
      entitykind: 'shipment',
      entityid: 's1',
      entityseq: 3,
      dataversion: 1,
      correlationid: 'corr-1',
      causationid: 'cause-1',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    expect(Number.isNaN(Date.parse(ce.time))).toBe(false);
    expect(ce.id).toMatch(/^[0-9A-Z]{26}$/);
  });

  it('skips events a retrying producer already appended, leaving no sequence gap', async () => {
    const first = await log.append([
      { id: 'retry-1', type: 'return:authorized', tenantId: 't4', entity: { id: 'r1' }, data: {} },
    ]);
    expect(first).toHaveLength(1);
    const again = await log.append([
      { id: 'retry-1', type: 'return:authorized', tenantId: 't4', entity: { id: 'r1' }, data: {} },
      { id: 'retry-2', type: 'return:received', tenantId: 't4', entity: { id: 'r1' }, data: {} },
    ]);
    expect(again.map((e) => [e.id, e.entitySeq])).toEqual([['retry-2', 2]]);
    const events = (await readAll()).filter((e) => e.tenantId === 't4');
    expect(events.map((e) => [e.id, e.entitySeq])).toEqual([
      ['retry-1', 1],
      ['retry-2', 2],
    ]);
  });

  it('gives concurrent writers on one entity distinct, gapless sequence numbers', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        log.append([{ type: 'case:updated', tenantId: 't2', entity: { id: 'c1' }, data: { i } }]),
      ),
    );
    const seqs = (await readAll()).filter((e) => e.entity.id === 'c1').map((e) => e.entitySeq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it.runIf(dialect === 'postgres')(
    'never lets a reader skip a transaction that commits after a later-positioned one',
    async () => {
      // Two raw sessions so the test controls exactly when each transaction commits.
      const a = new pg.Client({ connectionString: opened.pgUrl });
      const b = new pg.Client({ connectionString: opened.pgUrl });
      await a.connect();
      await b.connect();
      const before = (await readAll()).length;
      let last = await log.head();
      const seen: string[] = [];
      const readNew = async () => {
        await log.publish();
        const fresh = await log.read(last, 1000);
        for (const e of fresh) {
          seen.push(e.entity.id);
          last = e.position;
        }
      };
      const insert = (client: pg.Client, id: string) =>
        client.query(
          `insert into ev_events (event_id, tenant_id, type, source, subject, time, entity_kind, entity_id, entity_seq,
             schema_version, data, recorded_at, size_bytes, xid)
           values ($1, 't3', 'order:changed', '/test', $2, now()::text, 'order', $3, 1, 1, '{}', 0, 2,
             pg_current_xact_id()::text::bigint)`,
          [`ev-${id}`, `order/${id}`, id],
        );
      try {
        // Case 1: A inserts first (lower row id, older xid) and commits last.
        await a.query('begin');
        await insert(a, 'A1');
        await b.query('begin');
        await insert(b, 'B1');
        await b.query('commit');
        await readNew();
        expect(seen).toEqual(['B1']);
        await a.query('commit');
        await readNew();
        // A1 was inserted first but committed last: it is published after B1, not skipped.
        expect(seen).toEqual(['B1', 'A1']);

        // Case 2: B takes its transaction id first but inserts after A; B commits first.
        await b.query('begin');
        await b.query('select pg_current_xact_id()');
        await a.query('begin');
        await insert(a, 'A2');
        await insert(b, 'B2');
        await b.query('commit');
        await readNew();
        await a.query('commit');
        await readNew();
        expect(seen.slice(2).sort()).toEqual(['A2', 'B2']);
        expect((await readAll()).length).toBe(before + 4);
      } finally {
        await a.end();
        await b.end();
      }
    },
  );

  it.runIf(dialect === 'sqlite')('assigns positions in commit order (one writer)', async () => {
    const appended = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        log.append([{ type: 'item:changed', tenantId: 't3', entity: { id: `i${i}` }, data: {} }]),
      ),
    );
    const positions = appended.flat().map((e) => e.position!);
    const read = (await readAll()).filter((e) => e.tenantId === 't3').map((e) => e.position);
    expect(read).toEqual([...positions].sort((x, y) => x - y));
    expect(new Set(read).size).toBe(10);
  });
});
