import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { call } from './http-call.ts';

const ADDRESS = { line1: '1 Main St', city: 'Springfield', postal_code: '12345', country: 'US' };

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.stop();
  sandbox = undefined;
});

describe('sandbox oracle', () => {
  it("reports each order's status, credit, shipment and invoice state from the ERP's own books", async () => {
    sandbox = await startSandbox({ ports: 0 });
    const erp = sandbox.erp.state;
    const rich = erp.createCustomer({
      name: 'Rich',
      email: 'r@x.example',
      credit_limit: 1e6,
      ship_to: ADDRESS,
    });
    const tight = erp.createCustomer({
      name: 'Tight',
      email: 't@x.example',
      credit_limit: 10,
      ship_to: ADDRESS,
    });
    const item = erp.createItem({ sku: 'A', description: 'A', list_price: 10, on_hand: 100 });
    const lines = [{ item_id: item.id, qty: 4 }];

    const untouched = erp.createOrder({ customer_id: rich.id, lines });
    const held = erp.createOrder({ customer_id: tight.id, lines });
    const released = erp.createOrder({ customer_id: tight.id, lines });
    erp.releaseOrder(released.id, 'credit.manager', null);
    const partial = erp.createOrder({ customer_id: rich.id, lines });
    const s1 = erp.createShipment({ order_id: partial.id, lines: [{ line_no: 10, qty: 2 }] });
    erp.updateShipmentStatus(s1.id, { status: 'DELIVERED' });
    const invoice = erp.createInvoice({ order_id: partial.id });
    erp.payInvoice(invoice.id, 5);
    const damaged = erp.createOrder({ customer_id: rich.id, lines });
    const s2 = erp.createShipment({ order_id: damaged.id, lines: [{ line_no: 10, qty: 4 }] });
    erp.updateShipmentStatus(s2.id, { status: 'DELIVERED' });
    erp.updateShipmentStatus(s2.id, { status: 'DAMAGED', exception_reason: 'crushed' });
    const paid = erp.createOrder({ customer_id: rich.id, lines });
    const s3 = erp.createShipment({ order_id: paid.id, lines: [{ line_no: 10, qty: 4 }] });
    erp.updateShipmentStatus(s3.id, { status: 'DELIVERED' });
    erp.payInvoice(erp.createInvoice({ order_id: paid.id }).id, 40);

    const truth = (id: string) => {
      const t = sandbox!.oracle.order(id)!;
      return [t.status, t.creditState, t.shipmentStatus, t.invoiceStatus];
    };
    expect(truth(untouched.id)).toEqual(['RELEASED', 'OK', 'NONE', 'NONE']);
    expect(truth(held.id)).toEqual(['CREDIT_HOLD', 'ON_HOLD', 'NONE', 'NONE']);
    expect(truth(released.id)).toEqual(['RELEASED', 'RELEASED', 'NONE', 'NONE']);
    expect(truth(partial.id)).toEqual(['PARTIALLY_SHIPPED', 'OK', 'PARTIALLY_DELIVERED', 'PARTIALLY_PAID']);
    expect(truth(damaged.id)).toEqual(['SHIPPED', 'OK', 'DAMAGED', 'NONE']);
    expect(truth(paid.id)).toEqual(['CLOSED', 'OK', 'DELIVERED', 'PAID']);
    expect(sandbox.oracle.orders().map((o) => o.orderId)).toEqual([
      untouched.id,
      held.id,
      released.id,
      partial.id,
      damaged.id,
      paid.id,
    ]);
  });

  it("reports each case's custom fields, comments and the orders it names", async () => {
    sandbox = await startSandbox({ ports: 0 });
    const { header, value } = sandbox.auth.helpdesk;
    const headers = { [header]: value };
    const created = await call(`${sandbox.urls.helpdesk}/api/v2/cases`, {
      method: 'POST',
      headers,
      body: {
        subject: 'Where is SO-100004?',
        description: 'Also SO-100009 please',
        requester: { name: 'A', email: 'a@x.example' },
      },
    });
    const id = created.body.id as number;
    await call(`${sandbox.urls.helpdesk}/api/v2/cases/${id}`, {
      method: 'PATCH',
      headers,
      body: { custom_fields: { erp_order: 'SO-100004', erp_order_status: 'SHIPPED' } },
    });
    await call(`${sandbox.urls.helpdesk}/api/v2/cases/${id}/comments`, {
      method: 'POST',
      headers,
      body: { body: 'Shipped today [crossdock:k1]', public: false },
    });
    const truth = sandbox.oracle.case(id)!;
    expect(truth.mentionedOrders).toEqual(['SO-100004', 'SO-100009']);
    expect(truth.customFields).toEqual({ erp_order: 'SO-100004', erp_order_status: 'SHIPPED' });
    expect(truth.comments).toMatchObject([{ body: 'Shipped today [crossdock:k1]', public: false }]);
    expect(sandbox.oracle.commentsContaining('[crossdock:k1]')).toHaveLength(1);
    expect(sandbox.oracle.cases()).toHaveLength(1);
  });

  it('applies `all` faults to every system and a system entry over it', async () => {
    sandbox = await startSandbox({
      ports: 0,
      faults: { all: { errorRate: 0.5 }, helpdesk: { errorRate: 0, latency: { fixedMs: 1 } } },
    });
    expect(sandbox.erp.faults.describe().config).toEqual({ errorRate: 0.5 });
    expect(sandbox.helpdesk.faults.describe().config).toEqual({ errorRate: 0, latency: { fixedMs: 1 } });
  });
});
