// One valid example entity per kind, for the domain and entity-store suites and the store bench.
import { newId, type EntityKind, type EntityOf } from '../../src/domain/index.ts';

const now = '2026-11-27T10:00:00.000Z';

function envelope(tenantId: string, id: string, system = 'tryton', ref = '1') {
  return {
    id,
    tenantId,
    externalRefs: [{ system, id: ref }],
    version: 0,
    createdAt: now,
    updatedAt: now,
    lastChangedBy: system,
  };
}

/** A valid entity of `kind` for `tenantId`, with a fresh id and one external ref `{system, ref}`. */
export function example<K extends EntityKind>(
  kind: K,
  tenantId = 'acme',
  ref = '1',
  system = 'tryton',
): EntityOf<K> {
  const customerId = newId('customer');
  const orderId = newId('order');
  const usd = (amount: string) => ({ amount, currency: 'USD' });
  const make: { [P in EntityKind]: () => EntityOf<P> } = {
    customer: () => ({
      ...envelope(tenantId, newId('customer'), system, ref),
      name: 'Acme Hardware',
      active: true,
      currency: 'USD',
    }),
    address: () => ({
      ...envelope(tenantId, newId('address'), system, ref),
      customerId,
      purpose: 'shipping',
      address: { lines: ['1 Main St'], city: 'Springfield', country: 'US' },
    }),
    item: () => ({
      ...envelope(tenantId, newId('item'), system, ref),
      sku: 'BOLT-10',
      name: 'Bolt 10mm',
      unit: 'each',
      active: true,
    }),
    price: () => ({
      ...envelope(tenantId, newId('price'), system, ref),
      itemId: newId('item'),
      unitPrice: usd('0.125'),
    }),
    order: () => ({
      ...envelope(tenantId, newId('order'), system, ref),
      number: `SO-${ref}`,
      customerId,
      status: 'submitted',
      currency: 'USD',
      lines: [
        {
          id: newId('orderLine'),
          lineNumber: 1,
          sku: 'BOLT-10',
          quantity: '100',
          unitPrice: usd('0.125'),
          lineTotal: usd('12.500'),
        },
      ],
      total: usd('12.50'),
      orderedAt: now,
    }),
    shipment: () => ({
      ...envelope(tenantId, newId('shipment'), system, ref),
      orderId,
      status: 'pending',
      lines: [{ id: newId('shipmentLine'), sku: 'BOLT-10', quantity: '100' }],
    }),
    trackingEvent: () => ({
      ...envelope(tenantId, newId('trackingEvent'), system, ref),
      shipmentId: newId('shipment'),
      occurredAt: now,
      code: 'in_transit',
      description: 'Departed facility',
    }),
    invoice: () => ({
      ...envelope(tenantId, newId('invoice'), system, ref),
      number: `INV-${ref}`,
      customerId,
      orderId,
      status: 'posted',
      total: usd('12.50'),
      amountDue: usd('12.50'),
    }),
    creditStatus: () => ({
      ...envelope(tenantId, newId('creditStatus'), system, ref),
      customerId,
      status: 'good',
      creditLimit: usd('5000'),
      balance: usd('12.50'),
    }),
    creditHold: () => ({
      ...envelope(tenantId, newId('creditHold'), system, ref),
      customerId,
      orderId,
      reason: 'over limit',
      active: true,
      placedAt: now,
    }),
    returnAuthorization: () => ({
      ...envelope(tenantId, newId('returnAuthorization'), system, ref),
      orderId,
      customerId,
      status: 'requested',
      reason: 'damaged',
      lines: [{ sku: 'BOLT-10', quantity: '5' }],
    }),
    replacement: () => ({
      ...envelope(tenantId, newId('replacement'), system, ref),
      originalOrderId: orderId,
      status: 'requested',
      reason: 'damaged in transit',
      lines: [{ sku: 'BOLT-10', quantity: '5' }],
    }),
    case: () => ({
      ...envelope(tenantId, newId('case'), 'request-tracker', ref),
      subject: 'Where is my order?',
      customerId,
      orderId,
      status: 'new',
      priority: 'normal',
      openedAt: now,
    }),
    caseMilestone: () => ({
      ...envelope(tenantId, newId('caseMilestone'), 'request-tracker', ref),
      caseId: newId('case'),
      name: 'first_response',
      dueAt: now,
      breached: false,
    }),
    inventoryPosition: () => ({
      ...envelope(tenantId, newId('inventoryPosition'), system, ref),
      itemId: newId('item'),
      location: 'WH1',
      onHand: '120',
      allocated: '20',
      available: '100',
      asOf: now,
    }),
  };
  return make[kind]();
}
