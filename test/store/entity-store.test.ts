// The entity store on SQLite and PostgreSQL: optimistic concurrency, lookups by id and external
// reference, enforced state transitions, the link graph, and tenant isolation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId, type Order } from '../../src/domain/index.ts';
import { createEntityStore, storeMigrations, type EntityStore, type Store } from '../../src/store/index.ts';
import { example } from '../domain/examples.ts';
import { dialectCases, type OpenedStore } from './store-fixtures.ts';

describe.each(dialectCases)('entity store on $dialect', ({ open }) => {
  let opened: OpenedStore;
  let store: Store;
  let entities: EntityStore;

  beforeAll(async () => {
    opened = await open();
    store = opened.store;
    await store.migrate(storeMigrations);
    entities = createEntityStore(store);
  });
  afterAll(async () => {
    await opened.cleanup();
  });

  it('stores a new entity at version 1 and finds it by id and by external reference', async () => {
    const order = example('order', 'acme', 'SO-1');
    const stored = await entities.upsert('order', order, { changedBy: 'tryton' });
    expect(stored).toMatchObject({
      id: order.id,
      version: 1,
      lastChangedBy: 'tryton',
      createdAt: order.createdAt,
    });
    expect(await entities.get('acme', order.id)).toEqual(stored);
    expect(await entities.get('acme', order.id, { kind: 'order' })).toEqual(stored);
    expect(await entities.get('acme', order.id, { kind: 'case' })).toBeUndefined();
    expect(await entities.findByExternalRef('acme', 'order', { system: 'tryton', id: 'SO-1' })).toEqual(
      stored,
    );
    expect(
      await entities.findByExternalRef('acme', 'invoice', { system: 'tryton', id: 'SO-1' }),
    ).toBeUndefined();
    const updated = await entities.upsert(
      'order',
      { ...stored, status: 'confirmed' },
      { changedBy: 'crossdock' },
    );
    expect(updated).toMatchObject({
      version: 2,
      status: 'confirmed',
      lastChangedBy: 'crossdock',
      createdAt: order.createdAt,
    });
  });

  it('rejects a stale version, a create over an existing entity and an update of a missing one', async () => {
    const stored = await entities.upsert('customer', example('customer', 'acme', 'C-1'), {
      changedBy: 'tryton',
    });
    await entities.upsert('customer', { ...stored, name: 'first' }, { changedBy: 'tryton' });
    await expect(
      entities.upsert('customer', { ...stored, name: 'stale' }, { changedBy: 'tryton' }),
    ).rejects.toMatchObject({
      code: 'VERSION_CONFLICT',
      expectedVersion: 1,
      actualVersion: 2,
    });
    await expect(
      entities.upsert('customer', { ...stored, version: 0 }, { changedBy: 'tryton' }),
    ).rejects.toMatchObject({
      code: 'VERSION_CONFLICT',
    });
    const missing = { ...example('customer', 'acme', 'C-404'), version: 3 };
    await expect(entities.upsert('customer', missing, { changedBy: 'tryton' })).rejects.toMatchObject({
      code: 'VERSION_CONFLICT',
      actualVersion: null,
    });
    expect(await entities.get('acme', stored.id)).toMatchObject({ name: 'first', version: 2 });
  });

  it('lets exactly one of many concurrent upserts from the same version win', async () => {
    const stored = await entities.upsert('order', example('order', 'acme', 'SO-race'), {
      changedBy: 'tryton',
    });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        entities.upsert('order', { ...stored, number: `writer-${i}` }, { changedBy: 'tryton' }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'VERSION_CONFLICT' });
    const final = (await entities.get<'order'>('acme', stored.id))!;
    expect(final.version).toBe(2);
    expect(final.number).toBe((won[0] as PromiseFulfilledResult<Order>).value.number);
    // The same holds for creation: many writers creating one id, one succeeds.
    const fresh = example('order', 'acme', 'SO-race-new');
    const creates = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        entities.upsert('order', { ...fresh, number: `creator-${i}` }, { changedBy: 'tryton' }),
      ),
    );
    expect(creates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('refuses an illegal status change with ILLEGAL_TRANSITION and keeps the stored entity', async () => {
    const stored = await entities.upsert(
      'order',
      { ...example('order', 'acme', 'SO-2'), status: 'cancelled' },
      { changedBy: 'tryton' },
    );
    await expect(
      entities.upsert('order', { ...stored, status: 'shipped' }, { changedBy: 'tryton' }),
    ).rejects.toMatchObject({
      code: 'ILLEGAL_TRANSITION',
      machine: 'order',
      from: 'cancelled',
      to: 'shipped',
    });
    expect(await entities.get('acme', stored.id)).toMatchObject({ status: 'cancelled', version: 1 });
  });

  it('refuses an invalid entity before touching the database', async () => {
    const bad = {
      ...example('order', 'acme', 'SO-bad'),
      total: { amount: 1.5, currency: 'USD' },
    } as unknown as Order;
    await expect(entities.upsert('order', bad, { changedBy: 'tryton' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });

  it('keeps one entity per external reference and forgets references an update drops', async () => {
    const a = await entities.upsert('invoice', example('invoice', 'acme', 'INV-1'), { changedBy: 'tryton' });
    const b = example('invoice', 'acme', 'INV-1');
    await expect(entities.upsert('invoice', b, { changedBy: 'tryton' })).rejects.toMatchObject({
      code: 'EXTERNAL_REF_CONFLICT',
      ownerId: a.id,
    });
    expect(await entities.get('acme', b.id)).toBeUndefined();
    const moved = await entities.upsert(
      'invoice',
      { ...a, externalRefs: [{ system: 'tryton', id: 'INV-1b' }] },
      { changedBy: 'tryton' },
    );
    expect(
      await entities.findByExternalRef('acme', 'invoice', { system: 'tryton', id: 'INV-1' }),
    ).toBeUndefined();
    expect(await entities.findByExternalRef('acme', 'invoice', { system: 'tryton', id: 'INV-1b' })).toEqual(
      moved,
    );
    // Now the old reference is free for another entity.
    await entities.upsert('invoice', b, { changedBy: 'tryton' });
  });

  it('links entities through their reference fields and answers what is linked to one entity', async () => {
    const customer = await entities.upsert('customer', example('customer', 'acme', 'C-graph'), {
      changedBy: 'tryton',
    });
    const order = await entities.upsert(
      'order',
      { ...example('order', 'acme', 'SO-graph'), customerId: customer.id },
      { changedBy: 'tryton' },
    );
    const shipment = await entities.upsert(
      'shipment',
      { ...example('shipment', 'acme', 'SH-graph'), orderId: order.id },
      { changedBy: 'tryton' },
    );
    const tracking = await entities.upsert(
      'trackingEvent',
      { ...example('trackingEvent', 'acme', 'TR-graph'), shipmentId: shipment.id },
      { changedBy: 'carrier' },
    );
    const invoice = await entities.upsert(
      'invoice',
      { ...example('invoice', 'acme', 'INV-graph'), orderId: order.id, customerId: customer.id },
      { changedBy: 'tryton' },
    );
    const kase = await entities.upsert(
      'case',
      { ...example('case', 'acme', 'RT-graph'), orderId: order.id, customerId: customer.id },
      { changedBy: 'request-tracker' },
    );
    const credit = await entities.upsert(
      'creditStatus',
      { ...example('creditStatus', 'acme', 'CR-graph'), customerId: customer.id },
      { changedBy: 'tryton' },
    );
    const rma = await entities.upsert(
      'returnAuthorization',
      { ...example('returnAuthorization', 'acme', 'RMA-graph'), orderId: order.id, customerId: customer.id },
      { changedBy: 'tryton' },
    );

    const direct = await entities.linked('acme', order.id);
    expect(direct.map((l) => l.entity.id).sort()).toEqual(
      [customer.id, shipment.id, invoice.id, kase.id, rma.id].sort(),
    );
    expect(direct.find((l) => l.entity.id === shipment.id)).toMatchObject({
      kind: 'shipment',
      depth: 1,
      via: { from: shipment.id, to: order.id, relation: 'orderId' },
    });
    // Two hops from the case reach the shipments (through the order) and credit (through the customer).
    const around = await entities.linked('acme', kase.id, { depth: 2 });
    const ids = around.map((l) => l.entity.id);
    expect(ids).toEqual(
      expect.arrayContaining([order.id, customer.id, shipment.id, invoice.id, credit.id, rma.id]),
    );
    expect(ids).not.toContain(tracking.id); // three hops away
    expect((await entities.linked('acme', kase.id, { depth: 3 })).map((l) => l.entity.id)).toContain(
      tracking.id,
    );
    const onlyShipments = await entities.linked('acme', order.id, { kinds: ['shipment'] });
    expect(onlyShipments.map((l) => l.entity.id)).toEqual([shipment.id]);

    // Changing a reference field moves the link.
    const other = await entities.upsert('order', example('order', 'acme', 'SO-graph-2'), {
      changedBy: 'tryton',
    });
    await entities.upsert('shipment', { ...shipment, orderId: other.id }, { changedBy: 'tryton' });
    expect(
      (await entities.linked('acme', order.id, { kinds: ['shipment'] })).map((l) => l.entity.id),
    ).toEqual([]);
    expect(
      (await entities.linked('acme', other.id, { kinds: ['shipment'] })).map((l) => l.entity.id),
    ).toEqual([shipment.id]);

    // Explicit links between existing entities; unknown ids are NOT_FOUND.
    await entities.link('acme', kase.id, shipment.id, 'about');
    await entities.link('acme', kase.id, shipment.id, 'about');
    expect(
      (await entities.linked('acme', kase.id, { kinds: ['shipment'] })).map((l) => l.via.relation),
    ).toEqual(['about']);
    await expect(entities.link('acme', kase.id, newId('shipment'), 'about')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await entities.unlink('acme', kase.id, shipment.id, 'about');
    expect(await entities.linked('acme', kase.id, { kinds: ['shipment'] })).toEqual([]);
  });

  it("never lets one tenant read or link another tenant's rows", async () => {
    const mine = await entities.upsert('order', example('order', 'tenant-a', 'SO-shared'), {
      changedBy: 'tryton',
    });
    const theirs = await entities.upsert('order', example('order', 'tenant-b', 'SO-shared'), {
      changedBy: 'tryton',
    });
    const theirShipment = await entities.upsert(
      'shipment',
      { ...example('shipment', 'tenant-b', 'SH-b'), orderId: theirs.id },
      { changedBy: 'tryton' },
    );
    // A tenant-a shipment pointing at tenant-b's order id must not reveal that order.
    const sneaky = await entities.upsert(
      'shipment',
      { ...example('shipment', 'tenant-a', 'SH-a'), orderId: theirs.id },
      { changedBy: 'tryton' },
    );

    expect(await entities.get('tenant-a', theirs.id)).toBeUndefined();
    expect(await entities.get('tenant-b', mine.id)).toBeUndefined();
    expect(
      (await entities.findByExternalRef('tenant-a', 'order', { system: 'tryton', id: 'SO-shared' }))?.id,
    ).toBe(mine.id);
    expect(
      (await entities.findByExternalRef('tenant-b', 'order', { system: 'tryton', id: 'SO-shared' }))?.id,
    ).toBe(theirs.id);
    expect((await entities.list('tenant-a', 'order')).map((o) => o.tenantId)).toEqual(['tenant-a']);
    expect((await entities.list('tenant-a', 'shipment')).map((s) => s.id)).toEqual([sneaky.id]);
    expect(await entities.linked('tenant-a', sneaky.id)).toEqual([]);
    // From tenant b's order id, tenant a sees only its own shipment that points there.
    expect((await entities.linked('tenant-a', theirs.id)).map((l) => l.entity.id)).toEqual([sneaky.id]);
    expect((await entities.linked('tenant-b', theirs.id)).map((l) => l.entity.id)).toEqual([
      theirShipment.id,
    ]);
    await expect(entities.link('tenant-a', mine.id, theirs.id, 'copy')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    // Tenant a cannot overwrite tenant b's entity either: the same id under tenant a is a different row.
    await expect(
      entities.upsert('order', { ...theirs, tenantId: 'tenant-a' }, { changedBy: 'x' }),
    ).rejects.toMatchObject({
      code: 'VERSION_CONFLICT',
    });
    expect(await entities.get('tenant-b', theirs.id)).toEqual(theirs);
  });

  it("writes inside a caller's transaction, so a rollback discards the entity with everything else", async () => {
    const order = example('order', 'acme', 'SO-tx');
    await expect(
      store.transaction(async (tx) => {
        await entities.upsert('order', order, { changedBy: 'tryton', tx });
        expect(await entities.get('acme', order.id, { tx })).toMatchObject({ version: 1 });
        throw new Error('event append failed');
      }),
    ).rejects.toThrow('event append failed');
    expect(await entities.get('acme', order.id)).toBeUndefined();
    expect(
      await entities.findByExternalRef('acme', 'order', { system: 'tryton', id: 'SO-tx' }),
    ).toBeUndefined();
  });

  it('pages through a kind in id (creation) order', async () => {
    const made = [];
    for (let i = 0; i < 5; i++)
      made.push(await entities.upsert('item', example('item', 'paging', `I-${i}`), { changedBy: 'tryton' }));
    const first = await entities.list('paging', 'item', { limit: 2 });
    const rest = await entities.list('paging', 'item', { after: first.at(-1)!.id, limit: 10 });
    expect([...first, ...rest].map((i) => i.id)).toEqual(made.map((i) => i.id));
  });
});
