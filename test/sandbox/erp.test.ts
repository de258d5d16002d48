import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { SandboxClock } from '../../src/sandbox/clock.ts';
import { startErp, type SandboxErp } from '../../src/sandbox/erp/erp-server.ts';
import { call } from './http-call.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

const KEY = { 'x-api-key': 'sandbox-erp-key' };
const ADDRESS = { line1: '1 Main St', city: 'Springfield', postal_code: '12345', country: 'US' };

let erp: SandboxErp | undefined;
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await erp?.stop();
  await receiver?.close();
  erp = undefined;
  receiver = undefined;
});

async function seed(e: SandboxErp, creditLimit = 100_000) {
  const customer = await call(`${e.url}/api/v1/customers`, {
    method: 'POST',
    headers: KEY,
    body: { name: 'Acme', email: 'ap@acme.example', credit_limit: creditLimit, ship_to: ADDRESS },
  });
  const item = await call(`${e.url}/api/v1/items`, {
    method: 'POST',
    headers: KEY,
    body: { sku: 'GLV-100', description: 'Gloves', list_price: 10, on_hand: 100 },
  });
  return { customerId: customer.body.id as string, itemId: item.body.id as string };
}

function order(e: SandboxErp, customerId: string, itemId: string, qty: number, key?: string) {
  return call(`${e.url}/api/v1/sales-orders`, {
    method: 'POST',
    headers: { ...KEY, ...(key === undefined ? {} : { 'idempotency-key': key }) },
    body: { customer_id: customerId, lines: [{ item_id: itemId, qty }] },
  });
}

describe('sandbox ERP', () => {
  it('refuses requests without the API key', async () => {
    erp = await startErp();
    const res = await call(`${erp.url}/api/v1/sales-orders`);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHORIZED');
  });

  it('creates orders with document numbers and pages by (updated_at, id) across shared timestamps', async () => {
    const clock = new SandboxClock({ frozenAt: Date.parse('2026-01-05T10:00:00Z') });
    erp = await startErp({ clock });
    const { customerId, itemId } = await seed(erp);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await order(erp, customerId, itemId, 1)).body.id);
    clock.advance(1000);
    for (let i = 0; i < 2; i++) ids.push((await order(erp, customerId, itemId, 1)).body.id);
    expect(ids.slice(0, 2)).toEqual(['SO-100001', 'SO-100002']);

    const seen: string[] = [];
    let cursor = '?updated_since=2026-01-05T00:00:00Z&limit=2';
    for (let pages = 0; pages < 10; pages++) {
      const page = await call(`${erp.url}/api/v1/sales-orders${cursor}`, { headers: KEY });
      seen.push(...page.body.data.map((o: { id: string }) => o.id));
      if (!page.body.paging.has_more) break;
      const next = page.body.paging.next;
      cursor = `?updated_since=${next.updated_since}&after_id=${next.after_id}&limit=2`;
    }
    // Five orders share 10:00:00 and two share 10:00:01; paging neither skips nor repeats one.
    expect(seen).toEqual(ids);
    const first = await call(`${erp.url}/api/v1/sales-orders/SO-100001`, { headers: KEY });
    const fifth = await call(`${erp.url}/api/v1/sales-orders/SO-100005`, { headers: KEY });
    expect(first.body.updated_at).toBe('2026-01-05T10:00:00Z');
    expect(fifth.body.updated_at).toBe(first.body.updated_at);
  });

  it('answers credit and stock checks synchronously and holds an order over the limit', async () => {
    erp = await startErp();
    const { customerId, itemId } = await seed(erp, 100);
    const check = await call(`${erp.url}/api/v1/credit-check`, {
      method: 'POST',
      headers: KEY,
      body: { customer_id: customerId, amount: 150 },
    });
    expect(check.body).toMatchObject({ approved: false, reason: 'CREDIT_LIMIT', available: 100 });
    const stock = await call(`${erp.url}/api/v1/stock-check`, {
      method: 'POST',
      headers: KEY,
      body: { lines: [{ item_id: itemId, qty: 150 }] },
    });
    expect(stock.body).toMatchObject({ all_available: false, lines: [{ available: 100, ok: false }] });

    const held = await order(erp, customerId, itemId, 15);
    expect(held.body).toMatchObject({ status_code: '20', status: 'CREDIT_HOLD', hold_code: 'CR' });
    const holds = await call(`${erp.url}/api/v1/credit-holds?order_id=${held.body.id}`, { headers: KEY });
    expect(holds.body.data).toHaveLength(1);
    expect(holds.body.data[0]).toMatchObject({ status: 'ACTIVE', reason: 'CREDIT_LIMIT' });

    const refused = await call(`${erp.url}/api/v1/shipments`, {
      method: 'POST',
      headers: KEY,
      body: { order_id: held.body.id, lines: [{ line_no: 10, qty: 1 }] },
    });
    expect(refused.status).toBe(409);

    const released = await call(`${erp.url}/api/v1/sales-orders/${held.body.id}/release`, {
      method: 'POST',
      headers: KEY,
      body: { released_by: 'credit.manager' },
    });
    expect(released.body).toMatchObject({ status_code: '30', hold_code: null });
  });

  it('moves an order through partial shipment, invoicing and payment to closed', async () => {
    erp = await startErp();
    const { customerId, itemId } = await seed(erp);
    const created = await order(erp, customerId, itemId, 4);
    const id = created.body.id as string;
    const ship = (qty: number) =>
      call(`${erp!.url}/api/v1/shipments`, {
        method: 'POST',
        headers: KEY,
        body: { order_id: id, lines: [{ line_no: 10, qty }] },
      });
    const first = await ship(1);
    expect((await call(`${erp.url}/api/v1/sales-orders/${id}`, { headers: KEY })).body.status).toBe(
      'PARTIALLY_SHIPPED',
    );
    await ship(3);
    expect((await call(`${erp.url}/api/v1/sales-orders/${id}`, { headers: KEY })).body.status).toBe(
      'SHIPPED',
    );
    const tooMany = await ship(1);
    expect(tooMany.status).toBe(409);
    const delivered = await call(`${erp.url}/api/v1/shipments/${first.body.id}/status`, {
      method: 'POST',
      headers: KEY,
      body: { status: 'DELIVERED' },
    });
    expect(delivered.body).toMatchObject({ status: 'DELIVERED', delivered_qty: 1 });
    const invoice = await call(`${erp.url}/api/v1/invoices`, {
      method: 'POST',
      headers: KEY,
      body: { order_id: id },
    });
    expect(invoice.body).toMatchObject({ amount: 40, status: 'OPEN' });
    expect((await call(`${erp.url}/api/v1/sales-orders/${id}`, { headers: KEY })).body.status).toBe(
      'INVOICED',
    );
    await call(`${erp.url}/api/v1/invoices/${invoice.body.id}/payments`, {
      method: 'POST',
      headers: KEY,
      body: { amount: 40 },
    });
    expect((await call(`${erp.url}/api/v1/sales-orders/${id}`, { headers: KEY })).body.status).toBe('CLOSED');
    const cancel = await call(`${erp.url}/api/v1/sales-orders/${id}/cancel`, {
      method: 'POST',
      headers: KEY,
      body: { reason: 'late' },
    });
    expect(cancel.status).toBe(409);
  });

  it('replays a write with the same Idempotency-Key and refuses the key with another body', async () => {
    erp = await startErp();
    const { customerId, itemId } = await seed(erp);
    const first = await order(erp, customerId, itemId, 2, 'k-1');
    const again = await order(erp, customerId, itemId, 2, 'k-1');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect(erp.state.orders.size).toBe(1);
    const other = await order(erp, customerId, itemId, 3, 'k-1');
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('signs webhooks so that standardwebhooks verifies them, and retries a failed delivery', async () => {
    receiver = await startWebhookReceiver([500]);
    erp = await startErp({ webhookRetryDelaysMs: [20, 20] });
    const sub = await call(`${erp.url}/api/v1/webhook-subscriptions`, {
      method: 'POST',
      headers: KEY,
      body: { url: receiver.url, events: ['customer.created'] },
    });
    expect(sub.body.secret).toMatch(/^whsec_/);
    await seed(erp);
    const [failed, retried] = await receiver.waitFor(2);
    expect(failed!.answered).toBe(500);
    expect(retried!.headers['webhook-id']).toBe(failed!.headers['webhook-id']);
    const payload = new Webhook(sub.body.secret as string).verify(
      retried!.body,
      retried!.headers as Record<string, string>,
    ) as {
      type: string;
      data: { id: string; version: number; record: { name: string } };
    };
    expect(payload).toMatchObject({
      type: 'customer.created',
      data: { id: 'CUST-10001', version: 1, record: { name: 'Acme' } },
    });
    expect(() =>
      new Webhook(`whsec_${Buffer.from('another secret!!').toString('base64')}`).verify(
        retried!.body,
        retried!.headers as Record<string, string>,
      ),
    ).toThrow();
    await erp.webhooks.idle();
    expect(erp.webhooks.deliveries().map((d) => d.outcome)).toEqual(['retrying', 'delivered']);
  });

  it('delivers every webhook twice under the duplicate fault, and swaps neighbours under the reorder fault', async () => {
    receiver = await startWebhookReceiver();
    erp = await startErp({ faults: { webhooks: { duplicateRate: 1 } } });
    erp.webhooks.subscribe({ url: receiver.url, events: ['item.created'] });
    await seed(erp);
    const got = await receiver.waitFor(2);
    await erp.webhooks.idle();
    expect(got).toHaveLength(2);
    expect(got[0]!.headers['webhook-id']).toBe(got[1]!.headers['webhook-id']);
    expect(erp.faults.describe().stats.webhookDuplicates).toBe(1);

    await receiver.close();
    await erp.stop();
    receiver = await startWebhookReceiver();
    erp = await startErp({ faults: { webhooks: { reorderRate: 1 } }, webhookRetryDelaysMs: [] });
    erp.webhooks.subscribe({ url: receiver.url, events: ['item.created'] });
    for (const sku of ['A', 'B', 'C', 'D']) {
      erp.state.createItem({ sku, description: sku, list_price: 1, on_hand: 1 });
    }
    const four = await receiver.waitFor(4);
    const skus = four.map(
      (r) => (JSON.parse(r.body) as { data: { record: { sku: string } } }).data.record.sku,
    );
    expect(skus).not.toEqual(['A', 'B', 'C', 'D']);
    expect([...skus].sort()).toEqual(['A', 'B', 'C', 'D']);
  });
});
