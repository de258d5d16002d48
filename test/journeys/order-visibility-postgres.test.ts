// The order-visibility journey on PostgreSQL (the same SQL as on SQLite must hold there): a case is
// enriched, a burst of changes captured together makes one field write, and a repeat of every record
// adds no milestone.
import { eventsMigrations } from '../../src/events/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journeysMigrations } from '../../src/journeys/index.ts';
import { startEmbeddedPipeline } from '../../src/journeys/demo/index.ts';
import { startSandbox } from '../../src/sandbox/index.ts';
import { openStore, storeMigrations, type Store } from '../../src/store/index.ts';
import { syncMigrations } from '../../src/sync/index.ts';
import { silentLogger } from '../../src/telemetry/index.ts';
import { freshPgDatabase, pgAvailable } from '../support/services.ts';

describe.skipIf(!pgAvailable)('order visibility on PostgreSQL', () => {
  let database: { url: string; drop: () => Promise<void> };
  let store: Store;
  beforeAll(async () => {
    database = await freshPgDatabase('cd_journeys');
    store = await openStore(
      { dialect: 'postgres', postgres: { url: database.url } },
      { logger: silentLogger() },
    );
    await store.migrate([...storeMigrations, ...eventsMigrations, ...syncMigrations, ...journeysMigrations]);
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it('enriches a case, coalesces a burst into one write and never repeats a milestone', async () => {
    const sandbox = await startSandbox({ ports: 0 });
    const pipeline = await startEmbeddedPipeline({ sandbox, store, webhooks: false, start: false });
    const { journey } = pipeline;
    try {
      const call = async <T>(system: 'erp' | 'helpdesk', path: string, body: unknown): Promise<T> => {
        const r = await fetch(`${sandbox.urls[system]}${system === 'erp' ? '/api/v1' : '/api/v2'}${path}`, {
          method: 'POST',
          headers: {
            [sandbox.auth[system].header]: sandbox.auth[system].value,
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
        });
        if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
        return (await r.json()) as T;
      };
      const customer = await call<{ id: string }>('erp', '/customers', {
        name: 'Granite Works',
        email: 'ap@granite.example',
        credit_limit: 1_000_000,
        ship_to: { line1: '3 Quarry Ln', city: 'Barre', postal_code: '05641', country: 'US' },
      });
      const item = await call<{ id: string }>('erp', '/items', {
        sku: 'BLOCK-1',
        description: 'Block',
        list_price: 20,
        on_hand: 100,
      });
      const order = await call<{ id: string }>('erp', '/sales-orders', {
        customer_id: customer.id,
        lines: [{ item_id: item.id, qty: 4 }],
      });
      const kase = await call<{ id: number }>('helpdesk', '/cases', {
        subject: `About ${order.id}`,
        description: '',
        requester: { name: 'Lee', email: 'lee@granite.example' },
      });
      await journey.pollOnce();
      expect(await journey.idle(15_000)).toBe(true);
      const writes = () =>
        sandbox.helpdesk.state
          .audit()
          .filter((a) => a.case_id === kase.id && a.changed.some((c) => c.startsWith('custom_fields.')))
          .length;
      expect(writes()).toBe(1);

      await journey.stop();
      await call('erp', `/sales-orders/${order.id}/hold`, {});
      await call('erp', `/sales-orders/${order.id}/release`, { released_by: 'credit.manager' });
      await call('erp', '/shipments', {
        order_id: order.id,
        lines: [{ line_no: 10, qty: 4 }],
        tracking_number: '1ZPG1',
      });
      await call('erp', '/invoices', { order_id: order.id });
      await journey.pollOnce();
      journey.start();
      expect(await journey.idle(15_000)).toBe(true);
      expect(writes()).toBe(2);
      await journey.pollOnce();
      expect(await journey.idle(15_000)).toBe(true);

      const truth = sandbox.oracle.order(order.id)!;
      const c = sandbox.oracle.case(kase.id)!;
      expect(c.customFields).toMatchObject({
        erp_order_status: truth.status,
        credit_state: 'released',
        shipment_status: 'in_transit',
        invoice_status: 'open',
        tracking_number: '1ZPG1',
      });
      const ours = c.comments.filter((m) => m.author === 'crossdock').map((m) => m.body);
      expect(new Set(ours).size).toBe(ours.length);
      expect(ours.filter((b) => b.includes('is on credit hold'))).toHaveLength(1);
      expect(ours.filter((b) => b.includes('was released'))).toHaveLength(1);
      expect(ours.filter((b) => b.includes('is shipped'))).toHaveLength(1);
    } finally {
      await pipeline.stop();
      await sandbox.stop();
    }
  }, 60_000);
});
