// The order-visibility journey end to end against the sandbox ERP and helpdesk over real HTTP (loopback):
// what the helpdesk itself holds afterwards (its case fields, comments and write audit) is the truth.
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedPipeline, type EmbeddedPipeline } from '../../src/journeys/demo/index.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { listDeadLetters } from '../../src/sync/index.ts';
import { EventLog } from '../../src/events/index.ts';

let sandbox: Sandbox | undefined;
let pipeline: EmbeddedPipeline | undefined;

afterEach(async () => {
  await pipeline?.stop();
  await sandbox?.stop();
  pipeline = undefined;
  sandbox = undefined;
});

async function call<T>(system: 'erp' | 'helpdesk', method: string, path: string, body?: unknown): Promise<T> {
  const sb = sandbox!;
  const prefix = system === 'erp' ? '/api/v1' : '/api/v2';
  const response = await fetch(`${sb.urls[system]}${prefix}${path}`, {
    method,
    headers: { [sb.auth[system].header]: sb.auth[system].value, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A customer, an item and a released order for 10 units; returns the order number and item. */
async function newOrder(creditLimit = 1_000_000): Promise<{ orderId: string; itemId: string }> {
  const customer = await call<{ id: string }>('erp', 'POST', '/customers', {
    name: 'Acme Industrial',
    email: `buyer-${Math.random().toString(36).slice(2)}@acme.example`,
    credit_limit: creditLimit,
    ship_to: { line1: '1 Main St', city: 'Springfield', postal_code: '12345', country: 'US' },
  });
  const item = await call<{ id: string }>('erp', 'POST', '/items', {
    sku: `SKU-${Math.random().toString(36).slice(2, 8)}`,
    description: 'Pallet wrap',
    list_price: 10,
    on_hand: 1000,
  });
  const order = await call<{ id: string }>('erp', 'POST', '/sales-orders', {
    customer_id: customer.id,
    lines: [{ item_id: item.id, qty: 10 }],
  });
  return { orderId: order.id, itemId: item.id };
}

async function openCase(subject: string, description = 'Please advise.'): Promise<number> {
  const c = await call<{ id: number }>('helpdesk', 'POST', '/cases', {
    subject,
    description,
    requester: { name: 'Pat Buyer', email: 'pat@acme.example' },
  });
  return c.id;
}

const caseOf = (id: number) => sandbox!.oracle.case(id)!;
const ourComments = (id: number) => caseOf(id).comments.filter((c) => c.author === 'crossdock');
const fieldWrites = (id: number) =>
  sandbox!.helpdesk.state
    .audit()
    .filter(
      (a) =>
        a.action === 'case.updated' &&
        a.case_id === id &&
        a.changed.some((c) => c.startsWith('custom_fields.')),
    ).length;

describe('order visibility over HTTP', () => {
  it('puts the order summary and milestones on a case that names the order, and follows its changes', async () => {
    sandbox = await startSandbox({ ports: 0 });
    pipeline = await startEmbeddedPipeline({ sandbox });
    const { orderId } = await newOrder();
    const caseId = await openCase(`Where is my order ${orderId}?`);
    await waitFor('case fields', () => caseOf(caseId).customFields.erp_order_status === 'RELEASED');
    expect(caseOf(caseId).customFields).toMatchObject({
      erp_order: orderId,
      credit_state: 'ok',
      shipment_status: 'none',
      invoice_status: 'none',
    });
    await waitFor('linking comment', () => ourComments(caseId).length === 1);
    expect(ourComments(caseId)[0]!.body).toContain(`linked this case to ERP order ${orderId}`);

    const shipment = await call<{ id: string }>('erp', 'POST', '/shipments', {
      order_id: orderId,
      lines: [{ line_no: 10, qty: 10 }],
      tracking_number: '1ZTEST0001',
    });
    await waitFor('shipped', () => caseOf(caseId).customFields.shipment_status === 'in_transit');
    expect(caseOf(caseId).customFields.tracking_number).toBe('1ZTEST0001');
    await call('erp', 'POST', `/shipments/${shipment.id}/status`, { status: 'DELIVERED' });
    await waitFor('delivered', () => caseOf(caseId).customFields.shipment_status === 'delivered');
    await waitFor('milestones', () => ourComments(caseId).some((c) => c.body.includes('was delivered')));
    const bodies = ourComments(caseId).map((c) => c.body);
    expect(bodies.filter((b) => b.includes('is shipped'))).toHaveLength(1);
    expect(bodies.filter((b) => b.includes('was delivered'))).toHaveLength(1);
  });

  it('writes one hold and one release milestone for a hold/release cycle, and none again on repeats', async () => {
    sandbox = await startSandbox({ ports: 0 });
    pipeline = await startEmbeddedPipeline({ sandbox });
    const { orderId } = await newOrder();
    const caseId = await openCase(`Order ${orderId} status`);
    await waitFor('linked', () => ourComments(caseId).length === 1);
    await call('erp', 'POST', `/sales-orders/${orderId}/hold`, { note: 'overdue invoices' });
    await waitFor('on hold', () => caseOf(caseId).customFields.credit_state === 'on_hold');
    await call('erp', 'POST', `/sales-orders/${orderId}/release`, { released_by: 'credit.manager' });
    await waitFor('released', () => caseOf(caseId).customFields.credit_state === 'released');
    await waitFor('release milestone', () =>
      ourComments(caseId).some((c) => c.body.includes('was released')),
    );
    // Every record read again (overlap, repeats) must add nothing.
    await pipeline.journey.pollOnce();
    await pipeline.journey.pollOnce();
    expect(await pipeline.journey.idle(10_000)).toBe(true);
    const bodies = ourComments(caseId).map((c) => c.body);
    expect(bodies.filter((b) => b.includes('is on credit hold'))).toHaveLength(1);
    expect(bodies.filter((b) => b.includes('by credit.manager'))).toHaveLength(1);
    expect(bodies).toHaveLength(3);

    // Every captured change is on the event log, written in the capture transaction (outbox): the
    // order's own events in entity order, the hold and release among them, each once.
    const log = new EventLog({ store: pipeline.store });
    await log.publish();
    const events = await log.read(0, 10_000);
    const ofOrder = events.filter((e) => e.entity.kind === 'order' && e.data.externalId === orderId);
    const orderEntity = ofOrder[0]!.entity.id;
    const orderEvents = events.filter((e) => e.entity.kind === 'order' && e.entity.id === orderEntity);
    expect(orderEvents[0]!.type).toBe('order:created');
    expect(orderEvents.filter((e) => e.type === 'order:credit-held')).toHaveLength(1);
    expect(orderEvents.filter((e) => e.type === 'order:credit-released')).toHaveLength(1);
    expect(orderEvents.map((e) => e.entitySeq)).toEqual(orderEvents.map((_, i) => i + 1));
    expect(
      events.filter((e) => e.type === 'case:opened' && e.data.externalId === String(caseId)),
    ).toHaveLength(1);
  });

  it('coalesces a burst of ten order changes into one case field write', async () => {
    sandbox = await startSandbox({ ports: 0 });
    // No poll loops, no webhooks: the burst is captured in one poll, then written.
    pipeline = await startEmbeddedPipeline({ sandbox, webhooks: false, start: false });
    const { journey } = pipeline;
    const { orderId } = await newOrder();
    const caseId = await openCase(`Question about ${orderId}`);
    await journey.pollOnce();
    expect(await journey.idle(10_000)).toBe(true);
    const before = fieldWrites(caseId);
    expect(before).toBe(1);
    // The writer is held while the burst is captured (as when writes lag behind a burst).
    await journey.stop();

    for (let i = 0; i < 3; i++) {
      await call('erp', 'POST', `/sales-orders/${orderId}/hold`, {});
      await call('erp', 'POST', `/sales-orders/${orderId}/release`, { released_by: 'credit.manager' });
    }
    const first = await call<{ id: string }>('erp', 'POST', '/shipments', {
      order_id: orderId,
      lines: [{ line_no: 10, qty: 5 }],
      tracking_number: '1ZBURST001',
    });
    await call('erp', 'POST', `/shipments/${first.id}/status`, { status: 'DELIVERED' });
    await call('erp', 'POST', '/shipments', {
      order_id: orderId,
      lines: [{ line_no: 10, qty: 5 }],
      tracking_number: '1ZBURST002',
    });
    await call('erp', 'POST', '/invoices', { order_id: orderId });

    await journey.pollOnce();
    journey.start();
    expect(await journey.idle(20_000)).toBe(true);
    expect(fieldWrites(caseId)).toBe(before + 1);
    const truth = sandbox.oracle.order(orderId)!;
    expect(caseOf(caseId).customFields).toMatchObject({
      erp_order_status: truth.status,
      credit_state: 'released',
      shipment_status: 'in_transit',
      invoice_status: 'open',
      tracking_number: '1ZBURST001, 1ZBURST002',
    });
    // Milestones are per record: three holds and three releases, none lost to the coalescing.
    const bodies = ourComments(caseId).map((c) => c.body);
    expect(bodies.filter((b) => b.includes('is on credit hold'))).toHaveLength(3);
    expect(bodies.filter((b) => b.includes('was released'))).toHaveLength(3);
    expect(bodies.filter((b) => b.includes('partially shipped'))).toHaveLength(1);
    expect(bodies.filter((b) => b.includes('is shipped'))).toHaveLength(1);
    expect(bodies.filter((b) => b.includes('was invoiced'))).toHaveLength(1);
  });

  it('enriches a case opened after the order at once: one field write and one comment with the history', async () => {
    sandbox = await startSandbox({ ports: 0 });
    pipeline = await startEmbeddedPipeline({ sandbox, webhooks: false, start: false });
    const { journey } = pipeline;
    const { orderId } = await newOrder();
    const shipment = await call<{ id: string }>('erp', 'POST', '/shipments', {
      order_id: orderId,
      lines: [{ line_no: 10, qty: 10 }],
      tracking_number: '1ZLATE0001',
    });
    await call('erp', 'POST', `/shipments/${shipment.id}/status`, {
      status: 'EXCEPTION',
      exception_reason: 'no access',
    });
    await call('erp', 'POST', '/invoices', { order_id: orderId });
    await journey.pollOnce();
    expect(await journey.idle(10_000)).toBe(true);

    // Named only in the body.
    const caseId = await openCase('Delivery problem', `Our order ${orderId} never arrived.`);
    await journey.pollOnce();
    expect(await journey.idle(10_000)).toBe(true);
    expect(caseOf(caseId).customFields).toMatchObject({
      erp_order: orderId,
      shipment_status: 'exception',
      invoice_status: 'open',
      tracking_number: '1ZLATE0001',
    });
    expect(fieldWrites(caseId)).toBe(1);
    const comments = ourComments(caseId);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('Delivery exception');
    expect(comments[0]!.body).toContain('was invoiced');
  });

  it('keeps retrying a failing case write with backoff and leaves a dead letter when it keeps failing', async () => {
    sandbox = await startSandbox({ ports: 0 });
    pipeline = await startEmbeddedPipeline({
      sandbox,
      webhooks: false,
      start: false,
      retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50 },
    });
    const { journey, store } = pipeline;
    const { orderId } = await newOrder();
    const caseId = await openCase(`Where is ${orderId}`);
    await journey.pollOnce();
    // Every write to the helpdesk now fails before it is applied (reads still work).
    sandbox.helpdesk.faults.set({ failNext: { count: 10_000, mode: 422, writesOnly: true } });
    await journey.idle(20_000);
    expect(journey.stats().deadLetters).toBeGreaterThanOrEqual(1);
    const letters = await listDeadLetters(store.db(), 'demo');
    expect(letters.map((l) => l.code)).toContain('JOURNEY_WRITE_FAILED');
    expect(caseOf(caseId).customFields.erp_order).toBeUndefined();

    // The helpdesk recovers; the next change to the order gets the case written.
    sandbox.helpdesk.faults.set({});
    await call('erp', 'POST', `/sales-orders/${orderId}/hold`, {});
    await journey.pollOnce();
    expect(await journey.idle(20_000)).toBe(true);
    expect(caseOf(caseId).customFields).toMatchObject({ erp_order: orderId, credit_state: 'on_hold' });
  });
});
