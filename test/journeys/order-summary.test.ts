// The order summary and milestones are pure functions of an order's captured records: these tests pin
// the state rules (same as the sandbox oracle's) and that milestones neither vanish when changes are
// seen in one burst nor double when records are seen again.
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/connectors/index.ts';
import { orderMilestones, orderSummary, type OrderParts } from '../../src/journeys/order-visibility/index.ts';

type F = Record<string, JsonValue>;
const order = (statusCode: string, status: string, qtyShipped = 0): F => ({
  number: 'SO-100001',
  statusCode,
  status,
  customerNumber: 'CUST-10001',
  lines: [{ lineNo: 1, qtyOrdered: 10, qtyShipped }],
});
const parts = (p: Partial<OrderParts>): OrderParts => ({
  orderNumber: 'SO-100001',
  order: undefined,
  credits: [],
  shipments: [],
  invoices: [],
  ...p,
});
const keys = (p: OrderParts) => orderMilestones(p).map((m) => m.key);

describe('order summary', () => {
  it('is undefined until the order itself is captured', () => {
    expect(orderSummary(parts({ shipments: [{ number: 'SH-1', status: 'SHIPPED' }] }))).toBeUndefined();
  });

  it('says nothing is shipped while the order itself is not captured, whatever its shipments say', () => {
    // A shipment's webhook can arrive before its order's; "shipped" would be posted for good.
    const early = parts({ shipments: [{ number: 'SH-1', status: 'SHIPPED', qty: 1 }] });
    expect(keys(early)).not.toContain('shipped');
  });

  it('follows credit holds: ok, on_hold while one is active, released after', () => {
    expect(orderSummary(parts({ order: order('30', 'RELEASED') }))?.credit_state).toBe('ok');
    const held = parts({
      order: order('20', 'CREDIT_HOLD'),
      credits: [{ number: 'CH-1', status: 'ACTIVE' }],
    });
    expect(orderSummary(held)?.credit_state).toBe('on_hold');
    const released = parts({
      order: order('30', 'RELEASED'),
      credits: [{ number: 'CH-1', status: 'RELEASED' }],
    });
    expect(orderSummary(released)?.credit_state).toBe('released');
  });

  it('reports the worst shipment state and joins tracking numbers by shipment number', () => {
    const p = parts({
      order: order('50', 'SHIPPED', 10),
      shipments: [
        { number: 'SH-2', status: 'DELAYED', trackingNumber: '1Z2', qty: 5 },
        { number: 'SH-1', status: 'DELIVERED', trackingNumber: '1Z1', qty: 5 },
      ],
    });
    expect(orderSummary(p)).toMatchObject({ shipment_status: 'delayed', tracking_number: '1Z1, 1Z2' });
    const partial = parts({
      order: order('40', 'PARTIALLY_SHIPPED', 5),
      shipments: [{ number: 'SH-1', status: 'DELIVERED', trackingNumber: '1Z1', qty: 5 }],
    });
    expect(orderSummary(partial)?.shipment_status).toBe('partially_delivered');
  });

  it('derives the invoice state: disputed wins, all paid is paid, some money is partially paid', () => {
    const inv = (...statuses: string[]) =>
      orderSummary(
        parts({
          order: order('60', 'INVOICED', 10),
          invoices: statuses.map((status, i) => ({ number: `INV-${i}`, status, amount: 10 })),
        }),
      )?.invoice_status;
    expect(inv()).toBe('none');
    expect(inv('OPEN')).toBe('open');
    expect(inv('PAID', 'OPEN')).toBe('partially_paid');
    expect(inv('PAID', 'DISPUTED')).toBe('disputed');
    expect(inv('PAID', 'VOID')).toBe('paid');
    expect(inv('VOID')).toBe('void');
  });
});

describe('order milestones', () => {
  it('gives one hold and one release milestone per credit hold, even when only the release is seen', () => {
    const releasedOnly = parts({
      order: order('30', 'RELEASED'),
      credits: [{ number: 'CH-1', status: 'RELEASED', reason: 'CREDIT_LIMIT', releasedBy: 'credit.manager' }],
    });
    expect(keys(releasedOnly)).toEqual(['credit-hold:CH-1', 'credit-release:CH-1', 'confirmed']);
    const twoHolds = parts({
      order: order('30', 'RELEASED'),
      credits: [
        { number: 'CH-1', status: 'RELEASED' },
        { number: 'CH-2', status: 'RELEASED' },
      ],
    });
    expect(keys(twoHolds).filter((k) => k.startsWith('credit'))).toHaveLength(4);
  });

  it('yields the same milestones from a burst as the union of the steps seen one by one', () => {
    const steps: OrderParts[] = [
      parts({ order: order('20', 'CREDIT_HOLD'), credits: [{ number: 'CH-1', status: 'ACTIVE' }] }),
      parts({ order: order('30', 'RELEASED'), credits: [{ number: 'CH-1', status: 'RELEASED' }] }),
      parts({
        order: order('40', 'PARTIALLY_SHIPPED', 5),
        credits: [{ number: 'CH-1', status: 'RELEASED' }],
        shipments: [{ number: 'SH-1', status: 'IN_TRANSIT', qty: 5, trackingNumber: '1Z1' }],
      }),
      parts({
        order: order('60', 'INVOICED', 10),
        credits: [{ number: 'CH-1', status: 'RELEASED' }],
        shipments: [
          { number: 'SH-1', status: 'DELIVERED', qty: 5, trackingNumber: '1Z1' },
          {
            number: 'SH-2',
            status: 'EXCEPTION',
            qty: 5,
            trackingNumber: '1Z2',
            exceptionReason: 'no access',
          },
        ],
        invoices: [{ number: 'INV-1', status: 'OPEN', amount: 50, currency: 'EUR' }],
      }),
    ];
    const seenOneByOne = new Set(steps.flatMap(keys));
    const burst = keys(steps.at(-1)!);
    expect(new Set(burst)).toEqual(seenOneByOne);
    expect(burst).toEqual([
      'credit-hold:CH-1',
      'credit-release:CH-1',
      'confirmed',
      'partially-shipped',
      'shipped',
      'delivered:SH-1',
      'exception:SH-2:exception',
      'invoiced:INV-1',
    ]);
    // Keys are unique within an order, so a (case, key) row is written once.
    expect(new Set(burst).size).toBe(burst.length);
  });

  it('never confirms a cancelled or still-held order', () => {
    expect(keys(parts({ order: order('99', 'CANCELLED') }))).toEqual([]);
    expect(
      keys(parts({ order: order('20', 'CREDIT_HOLD'), credits: [{ number: 'CH-1', status: 'ACTIVE' }] })),
    ).toEqual(['credit-hold:CH-1']);
  });
});
