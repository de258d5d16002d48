// Mappers of the sandbox streams: what a case names, what an order carries, and the version folded
// into the capture time so two writes in one second stay two distinct, ordered versions.
import { describe, expect, it } from 'vitest';
import type { SourceRecord } from '../../src/connectors/index.ts';
import {
  orderNumbersIn,
  sandboxErpMappers,
  sandboxHelpdeskMappers,
} from '../../src/journeys/order-visibility/index.ts';

const record = (
  stream: string,
  payload: Record<string, unknown>,
  updatedAt = '2026-11-27T16:20:01.000Z',
): SourceRecord => ({
  stream,
  externalId: String(payload.id),
  updatedAt,
  payload,
});
const ctx = { tenantId: 't', system: 'x' };

describe('order visibility mappers', () => {
  it('links a case to the first order it names: subject, then body, then the erp_order field', async () => {
    const map = sandboxHelpdeskMappers('helpdesk', 'erp').case!;
    const bySubject = await map.map(
      record('case', { id: 7, subject: 'SO-100002 late', description: 'also SO-100001', custom_fields: {} }),
      ctx,
    );
    expect(bySubject.fields.orderNumbers).toEqual(['SO-100002', 'SO-100001']);
    expect(bySubject.links).toEqual([
      { relation: 'order', kind: 'order', externalId: 'SO-100002', system: 'erp' },
    ]);
    const byField = await map.map(
      record('case', {
        id: 8,
        subject: 'Late',
        description: 'Hello',
        custom_fields: { erp_order: 'SO-100009' },
      }),
      ctx,
    );
    expect(byField.fields.orderNumbers).toEqual(['SO-100009']);
    const none = await map.map(
      record('case', { id: 9, subject: 'SO-12 is not a number', description: '' }),
      ctx,
    );
    expect(none.links).toEqual([]);
    expect(orderNumbersIn('SO-1234567 SO-123456')).toEqual(['SO-123456']);
  });

  it('maps an order with its line quantities and a credit hold as kind credit linked to its order', async () => {
    const erp = sandboxErpMappers('erp');
    const order = await erp.sales_order!.map(
      record('sales_order', {
        id: 'SO-100001',
        status_code: '40',
        status: 'PARTIALLY_SHIPPED',
        customer_id: 'CUST-10001',
        lines: [{ line_no: 10, item_id: 'ITM-1', qty_ordered: 4, qty_shipped: 2, qty_invoiced: 0 }],
      }),
      ctx,
    );
    expect(order).toMatchObject({
      kind: 'order',
      fields: { status: 'PARTIALLY_SHIPPED', lines: [{ lineNo: 10, qtyOrdered: 4, qtyShipped: 2 }] },
    });
    const hold = await erp.credit_hold!.map(
      record('credit_hold', { id: 'CH-1', order_id: 'SO-100001', status: 'ACTIVE', reason: 'CREDIT_LIMIT' }),
      ctx,
    );
    expect(hold.kind).toBe('credit');
    expect(hold.links).toEqual([
      { relation: 'order', kind: 'order', externalId: 'SO-100001', system: 'erp' },
    ]);
  });
});
