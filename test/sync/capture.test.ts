// Capture on both dialects, case by case: repeats are no-ops, a late older version is kept but not
// applied, cursors commit with their records, mapping failures are kept and visible, identities and the
// correlation graph follow links (also to records not seen yet), tenants never see each other's state,
// JSONata custom-field mappings record their version and can be re-run over stored payloads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonValue, SourceRecord } from '../../src/connectors/index.ts';
import {
  CaptureEngine,
  MapperRegistry,
  SyncEvents,
  compileJsonataMapping,
  correlationGraph,
  findCanonicalId,
  findExternalId,
  listDeadLetters,
  registerIdentity,
  normalizeSourceTime,
  type CapturedChange,
  type RecordMapper,
} from '../../src/sync/index.ts';
import { dialects, freshTenant, type Opened } from './support/harness.ts';

type Db = {
  sync_raw_records: {
    tenant_id: string;
    external_id: string;
    source_updated_at: string;
    status: string;
    mapping_version: string | null;
    error: string | null;
  };
  sync_record_state: {
    tenant_id: string;
    external_id: string;
    fields: string;
    mapping_version: string;
    source_updated_at: string;
  };
};

const shipmentMapper: RecordMapper = {
  version: 'erp-shipment@1',
  map: (r) => {
    const p = r.payload as { state: string; order: string; tracking?: string; customer?: string };
    return {
      kind: 'shipment',
      fields: { state: p.state, tracking: p.tracking ?? null },
      links: [{ relation: 'order', kind: 'order', externalId: p.order }],
    };
  },
};

describe('normalizeSourceTime', () => {
  it('orders millisecond and microsecond times, with offsets, as instants', () => {
    expect(normalizeSourceTime('2026-11-27T14:43:20Z')).toBe('2026-11-27T14:43:20.000000Z');
    expect(normalizeSourceTime('2026-11-27T14:43:20.5+01:00')).toBe('2026-11-27T13:43:20.500000Z');
    expect(
      normalizeSourceTime('2026-11-27T14:43:20.000123Z') > normalizeSourceTime('2026-11-27T14:43:20.000Z'),
    ).toBe(true);
    expect(() => normalizeSourceTime('yesterday')).toThrow(
      expect.objectContaining({ code: 'SYNC_TIMESTAMP_INVALID' }),
    );
  });
});

describe.each(dialects)('capture on $dialect', ({ open }) => {
  let opened: Opened;
  beforeAll(async () => {
    opened = await open();
  });
  afterAll(async () => {
    await opened.cleanup();
  });

  function engine(
    mappers = new MapperRegistry().register('erp', 'shipment', shipmentMapper),
    events?: SyncEvents,
  ) {
    const changes: CapturedChange[] = [];
    const capture = new CaptureEngine({
      store: opened.store,
      mappers,
      ...(events === undefined ? {} : { events }),
      sink: (_tx, c) => {
        changes.push(c);
        return Promise.resolve();
      },
    });
    return { capture, changes };
  }
  const rec = (id: string, updatedAt: string, payload: JsonValue): SourceRecord => ({
    stream: 'shipment',
    externalId: id,
    updatedAt,
    payload,
  });
  const raws = (tenant: string) =>
    opened.store
      .db<Db>()
      .selectFrom('sync_raw_records')
      .selectAll()
      .where('tenant_id', '=', tenant)
      .orderBy('source_updated_at')
      .execute();

  it('drops a repeated version and keeps a late older version without applying it', async () => {
    const tenant = freshTenant();
    const events = new SyncEvents();
    const duplicates: string[] = [];
    events.on('sync:record-duplicate', (e) => duplicates.push(e.updatedAt));
    const stale: string[] = [];
    events.on('sync:record-stale', (e) => stale.push(`${e.updatedAt} < ${e.appliedUpdatedAt}`));
    const { capture, changes } = engine(undefined, events);
    const v2 = rec('SH1', '2026-11-27T10:00:02.000Z', { state: 'in_transit', order: 'SO1' });
    const v1 = rec('SH1', '2026-11-27T10:00:01.000Z', { state: 'packed', order: 'SO1' });
    expect(await capture.ingest(tenant, 'erp', [v2])).toMatchObject({ applied: 1, duplicates: 0, stale: 0 });
    expect(await capture.ingest(tenant, 'erp', [v2, v2])).toMatchObject({ applied: 0, duplicates: 2 });
    expect(await capture.ingest(tenant, 'erp', [v1])).toMatchObject({ applied: 0, stale: 1 });
    expect(changes.map((c) => c.fields.state)).toEqual(['in_transit']);
    expect((await raws(tenant)).map((r) => [r.status, r.mapping_version])).toEqual([
      ['stale', 'erp-shipment@1'],
      ['applied', 'erp-shipment@1'],
    ]);
    expect(duplicates).toEqual(['2026-11-27T10:00:02.000000Z', '2026-11-27T10:00:02.000000Z']);
    expect(stale).toEqual(['2026-11-27T10:00:01.000000Z < 2026-11-27T10:00:02.000000Z']);
  });

  it('takes a repeat whose objects list their keys in another order as a duplicate, not a collision', async () => {
    const tenant = freshTenant();
    const { capture } = engine();
    const first = rec('SH1', '2026-11-27T10:00:01Z', {
      state: 'packed',
      order: 'SO1',
      carrier: { id: 1, name: 'UPS' },
    });
    const reordered = rec('SH1', '2026-11-27T10:00:01Z', {
      carrier: { name: 'UPS', id: 1 },
      order: 'SO1',
      state: 'packed',
    });
    await capture.ingest(tenant, 'erp', [first]);
    expect(await capture.ingest(tenant, 'erp', [reordered])).toMatchObject({ duplicates: 1, collisions: 0 });
  });

  it('dead-letters a version with the update time of a captured one but other content', async () => {
    const tenant = freshTenant();
    const events = new SyncEvents();
    const collisions: string[] = [];
    events.on('sync:record-collision', (e) => collisions.push(e.externalId));
    const { capture, changes } = engine(undefined, events);
    // Two changes inside one second of a system with whole-second timestamps (Request Tracker).
    const first = rec('SH1', '2026-11-27T10:00:01Z', { state: 'packed', order: 'SO1' });
    const second = rec('SH1', '2026-11-27T10:00:01Z', { state: 'in_transit', order: 'SO1' });
    await capture.ingest(tenant, 'erp', [first]);
    expect(await capture.ingest(tenant, 'erp', [second])).toMatchObject({
      applied: 0,
      duplicates: 0,
      collisions: 1,
    });
    expect(await capture.ingest(tenant, 'erp', [first])).toMatchObject({ duplicates: 1, collisions: 0 });
    // An overlapping poll reads the colliding version again: it is recorded once.
    expect(await capture.ingest(tenant, 'erp', [second])).toMatchObject({ duplicates: 1, collisions: 0 });
    expect(changes.map((c) => c.fields.state)).toEqual(['packed']);
    expect(collisions).toEqual(['SH1']);
    const letters = await listDeadLetters(opened.store.db(), tenant);
    expect(letters.map((l) => [l.code, l.entityKey])).toEqual([
      ['SYNC_RECORD_COLLISION', 'erp/shipment/SH1'],
    ]);
    expect(letters[0]!.detail).toMatchObject({
      stored: { state: 'packed' },
      received: { state: 'in_transit' },
    });
  });

  it('applies two versions delivered in one batch oldest first', async () => {
    const tenant = freshTenant();
    const { capture, changes } = engine();
    await capture.ingest(tenant, 'erp', [
      rec('SH1', '2026-11-27T10:00:02.000Z', { state: 'in_transit', order: 'SO1' }),
      rec('SH1', '2026-11-27T10:00:01.000Z', { state: 'packed', order: 'SO1' }),
    ]);
    expect(changes.map((c) => c.fields.state)).toEqual(['packed', 'in_transit']);
    expect(changes[1]).toMatchObject({ changed: ['state'], previous: { state: 'packed' } });
  });

  it('keeps a record whose mapping fails, visibly, and applies the next version', async () => {
    const tenant = freshTenant();
    const events = new SyncEvents();
    const failures: string[] = [];
    events.on('sync:mapping-failed', (e) => failures.push(e.reason));
    const { capture } = engine(
      new MapperRegistry().register('erp', 'shipment', {
        version: 'strict@1',
        map: (r) => {
          const p = r.payload as { state?: string };
          if (p.state === undefined) throw new TypeError('state missing');
          return { kind: 'shipment', fields: { state: p.state } };
        },
      }),
      events,
    );
    const r = await capture.ingest(tenant, 'erp', [
      rec('SH1', '2026-11-27T10:00:01.000Z', {}),
      rec('SH2', '2026-11-27T10:00:01.000Z', { state: 'packed' }),
    ]);
    expect(r).toMatchObject({ applied: 1, failed: 1 });
    expect((await raws(tenant)).map((x) => [x.external_id, x.status, x.error])).toEqual([
      ['SH1', 'mapping-failed', 'state missing'],
      ['SH2', 'applied', null],
    ]);
    expect(failures).toEqual(['state missing']);
    await expect(
      capture.ingest(tenant, 'erp', [{ ...rec('X', '2026-11-27T10:00:00Z', {}), stream: 'nope' }]),
    ).rejects.toMatchObject({
      code: 'SYNC_MAPPER_MISSING',
    });
  });

  it('stores the cursor in the transaction of the page it follows', async () => {
    const tenant = freshTenant();
    const { capture } = engine();
    const pages = [
      {
        records: [rec('SH1', '2026-11-27T10:00:01.000Z', { state: 'packed', order: 'SO1' })],
        cursor: 'p1',
        hasMore: true,
      },
      {
        records: [rec('SH2', '2026-11-27T10:00:02.000Z', { state: 'packed', order: 'SO1' })],
        cursor: 'p2',
        hasMore: false,
      },
    ];
    const seenCursors: unknown[] = [];
    let failSecondIngest = true;
    const source = {
      read: (req: { cursor?: unknown }) => {
        seenCursors.push(req.cursor);
        const page = pages[req.cursor === undefined ? 0 : 1]!;
        if (req.cursor === 'p1' && failSecondIngest) {
          failSecondIngest = false;
          // A record no mapper knows makes the second page's transaction fail as a whole.
          return Promise.resolve({ ...page, records: [{ ...page.records[0]!, stream: 'unmapped' }] });
        }
        return Promise.resolve(page);
      },
    };
    await expect(capture.poll(tenant, 'erp', source, 'shipment')).rejects.toMatchObject({
      code: 'SYNC_MAPPER_MISSING',
    });
    expect(await capture.loadCursor(tenant, 'erp', 'shipment')).toBe('p1');
    expect(await capture.poll(tenant, 'erp', source, 'shipment')).toMatchObject({
      applied: 1,
      pages: 1,
      hasMore: false,
    });
    expect(await capture.loadCursor(tenant, 'erp', 'shipment')).toBe('p2');
    expect(seenCursors).toEqual([undefined, 'p1', 'p1']);
  });

  it('resolves identities, links to records not seen yet, and walks the correlation graph', async () => {
    const tenant = freshTenant();
    const mappers = new MapperRegistry()
      .register('erp', 'shipment', shipmentMapper)
      .register('erp', 'order', {
        version: 'erp-order@1',
        map: (r) => {
          const p = r.payload as { customer: string };
          return {
            kind: 'order',
            fields: { state: 'confirmed' },
            links: [{ relation: 'customer', kind: 'customer', externalId: p.customer }],
          };
        },
      })
      .register('rt', 'ticket', {
        version: 'rt-ticket@1',
        map: (r) => {
          const p = r.payload as { order: string };
          return {
            kind: 'case',
            fields: {},
            links: [{ relation: 'order', kind: 'order', externalId: p.order, system: 'erp' }],
          };
        },
      });
    const { capture, changes } = engine(mappers);
    // The shipment arrives before its order; the case comes from the helpdesk, naming the ERP order.
    await capture.ingest(tenant, 'erp', [
      rec('SH1', '2026-11-27T10:00:01.000Z', { state: 'packed', order: 'SO1' }),
    ]);
    await capture.ingest(tenant, 'erp', [
      {
        stream: 'order',
        externalId: 'SO1',
        updatedAt: '2026-11-27T10:00:02.000Z',
        payload: { customer: 'C9' },
      },
    ]);
    await capture.ingest(tenant, 'rt', [
      {
        stream: 'ticket',
        externalId: '42',
        updatedAt: '2026-11-27T10:00:03.000Z',
        payload: { order: 'SO1' },
      },
    ]);
    const [shipment, order, kase] = changes.map((c) => c.entity);
    expect(order!.id).toMatch(/^ord_[0-9A-Z]{26}$/);
    expect(
      await findCanonicalId(opened.store.db(), tenant, 'order', { system: 'erp', externalId: 'SO1' }),
    ).toBe(order!.id);
    const graph = await correlationGraph(opened.store.db(), tenant, kase!);
    const customer = await findCanonicalId(opened.store.db(), tenant, 'customer', {
      system: 'erp',
      externalId: 'C9',
    });
    expect(new Set(graph.nodes.map((n) => `${n.kind}:${n.id}`))).toEqual(
      new Set([
        `case:${kase!.id}`,
        `order:${order!.id}`,
        `shipment:${shipment!.id}`,
        `customer:${customer!}`,
      ]),
    );
    expect(graph.edges).toHaveLength(3);
    expect(
      await findCanonicalId(opened.store.db(), freshTenant(), 'order', { system: 'erp', externalId: 'SO1' }),
    ).toBeUndefined();
  });

  it("registers another system's id for an entity, and never moves an identity", async () => {
    const tenant = freshTenant();
    const { capture, changes } = engine();
    await capture.ingest(tenant, 'erp', [
      rec('SH1', '2026-11-27T10:00:01.000Z', { state: 'packed', order: 'SO1' }),
    ]);
    const shipment = changes[0]!.entity;
    const other = { kind: 'shipment', id: 'shp_00000000000000000000000000' };
    const [first, again, moved] = await opened.store.durable(async (tx) => [
      await registerIdentity(tx, tenant, shipment, { system: 'carrier', externalId: '1Z999' }),
      await registerIdentity(tx, tenant, shipment, { system: 'carrier', externalId: '1Z999' }),
      await registerIdentity(tx, tenant, other, { system: 'carrier', externalId: '1Z999' }),
    ]);
    expect([first, again, moved]).toEqual([true, true, false]);
    expect(await findExternalId(opened.store.db(), tenant, shipment, 'carrier')).toBe('1Z999');
    expect(await findExternalId(opened.store.db(), tenant, shipment, 'erp')).toBe('SH1');
  });

  it('maps custom fields with JSONata, records the mapping version, and re-maps stored payloads', async () => {
    const tenant = freshTenant();
    const v1 = compileJsonataMapping({
      version: 'acme@1',
      base: shipmentMapper,
      fields: { dock: 'custom.dock_code', weightKg: '$number(custom.weight_g) / 1000' },
    });
    expect(v1.version).toBe('erp-shipment@1+acme@1');
    const { capture, changes } = engine(new MapperRegistry().register('erp', 'shipment', v1));
    await capture.ingest(tenant, 'erp', [
      rec('SH1', '2026-11-27T10:00:01.000Z', {
        state: 'packed',
        order: 'SO1',
        custom: { dock_code: 'd4', weight_g: '2500' },
      }),
      rec('SH2', '2026-11-27T10:00:01.000Z', { state: 'packed', order: 'SO1', custom: {} }),
    ]);
    expect(changes.map((c) => c.fields)).toEqual([
      { state: 'packed', tracking: null, dock: 'd4', weightKg: 2.5 },
      { state: 'packed', tracking: null, dock: null, weightKg: null },
    ]);
    const v2 = compileJsonataMapping({
      version: 'acme@2',
      base: shipmentMapper,
      fields: { dock: '$uppercase(custom.dock_code)', weightKg: '$number(custom.weight_g) / 1000' },
    });
    expect(await capture.remap(tenant, 'erp', 'shipment', v2)).toEqual({
      remapped: 2,
      changed: 1,
      failed: 0,
    });
    expect(changes.at(-1)).toMatchObject({
      externalId: 'SH1',
      remapped: true,
      changed: ['dock'],
      fields: { dock: 'D4' },
    });
    const state = await opened.store
      .db<Db>()
      .selectFrom('sync_record_state')
      .select(['external_id', 'mapping_version'])
      .where('tenant_id', '=', tenant)
      .orderBy('external_id')
      .execute();
    expect(state.map((s) => s.mapping_version)).toEqual(['erp-shipment@1+acme@2', 'erp-shipment@1+acme@2']);
    expect(() => compileJsonataMapping({ version: 'bad', kind: 'x', fields: { a: 'custom.(' } })).toThrow(
      expect.objectContaining({ code: 'SYNC_MAPPING_INVALID' }),
    );
  });
});
