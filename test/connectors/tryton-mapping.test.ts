// Tryton records, as the connector captures them from a real Tryton 6.0 (payloads recorded from the
// peer), mapped to canonical drafts whose fields the domain schemas accept.
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import {
  InvoiceSchema,
  OrderSchema,
  ReturnAuthorizationSchema,
  ShipmentSchema,
  CustomerSchema,
} from '../../src/domain/index.ts';
import type { SourceRecord } from '../../src/connectors/connector.ts';
import {
  mapTrytonRecord,
  TRYTON_ORDER_STATES,
  TRYTON_SHIPMENT_STATES,
} from '../../src/connectors/tryton/index.ts';
import { ORDER_STATES, SHIPMENT_STATES } from '../../src/domain/index.ts';

const at = '2026-11-27T16:18:54.836086Z';
const rec = (
  stream: string,
  id: string,
  payload: Record<string, unknown>,
): SourceRecord<Record<string, unknown>> => ({
  stream,
  externalId: id,
  updatedAt: at,
  payload,
});

function accepts(schema: Parameters<typeof Type.Partial>[0], fields: unknown): string[] {
  return [...Value.Errors(Type.Partial(schema), fields)].map((e) => `${e.path} ${e.message}`);
}

describe('Tryton mapping', () => {
  it('maps a processing sale whose shipment was sent to a shipped order with exact money', () => {
    const d = mapTrytonRecord(
      rec('sale.sale', '1', {
        id: 1,
        number: 'SO-000001',
        state: 'processing',
        shipment_state: 'sent',
        invoice_state: 'waiting',
        party: 3,
        'currency.': { code: 'USD', id: 1 },
        total_amount: '20.00',
        sale_date: '2026-11-27',
        lines: [1],
        shipments: [1],
        invoices: [1],
        create_date: '2026-11-27T16:18:32.754647Z',
        write_date: at,
      }),
    );
    expect(d).toMatchObject({
      kind: 'order',
      ref: { system: 'tryton', id: 'sale.sale,1' },
      fields: {
        number: 'SO-000001',
        status: 'shipped',
        currency: 'USD',
        total: { amount: '20.00', currency: 'USD' },
        orderedAt: '2026-11-27T00:00:00.000Z',
      },
      links: { customerId: { system: 'tryton', id: 'party.party,3' } },
      related: {
        shipments: [{ system: 'tryton', id: 'stock.shipment.out,1' }],
        invoices: [{ system: 'tryton', id: 'account.invoice,1' }],
      },
    });
    expect(accepts(OrderSchema, (d as { fields: unknown }).fields)).toEqual([]);
  });

  it('names a draft sale without a number by its id', () => {
    const d = mapTrytonRecord(rec('sale.sale', '7', { id: 7, number: null, state: 'draft', party: 3 }));
    expect(d).toMatchObject({ fields: { number: 'draft-7', status: 'draft' } });
  });

  it('maps every Tryton sale and shipment state to a canonical state', () => {
    for (const s of Object.values(TRYTON_ORDER_STATES)) expect(ORDER_STATES).toContain(s);
    for (const s of Object.values(TRYTON_SHIPMENT_STATES)) expect(SHIPMENT_STATES).toContain(s);
  });

  it('maps a done shipment to shipped with its effective date', () => {
    const d = mapTrytonRecord(
      rec('stock.shipment.out', '1', {
        id: 1,
        number: 'SH-000001',
        state: 'done',
        customer: 3,
        effective_date: '2026-11-27',
      }),
    );
    expect(d).toMatchObject({
      kind: 'shipment',
      fields: { status: 'shipped', shippedAt: '2026-11-27T00:00:00.000Z' },
    });
    expect(accepts(ShipmentSchema, (d as { fields: unknown }).fields)).toEqual([]);
  });

  it('maps a posted invoice with part paid to partially_paid, and a credit note with its negative total', () => {
    const base = {
      id: 1,
      number: 'INV-2026-0001',
      type: 'out',
      party: 3,
      sales: [1],
      'currency.': { code: 'USD', id: 1 },
      invoice_date: '2026-11-27',
    };
    const part = mapTrytonRecord(
      rec('account.invoice', '1', { ...base, state: 'posted', total_amount: '20.00', amount_to_pay: '5.00' }),
    );
    expect(part).toMatchObject({
      fields: { status: 'partially_paid', amountDue: { amount: '5.00' } },
      links: { orderId: { id: 'sale.sale,1' } },
    });
    expect(accepts(InvoiceSchema, (part as { fields: unknown }).fields)).toEqual([]);
    const credit = mapTrytonRecord(
      rec('account.invoice', '2', {
        ...base,
        id: 2,
        number: 'INV-2026-0002',
        state: 'posted',
        total_amount: '-20.00',
        amount_to_pay: '-20.00',
      }),
    );
    expect(credit).toMatchObject({
      fields: { status: 'posted', total: { amount: '-20.00', currency: 'USD' } },
    });
  });

  it('maps a done complaint with a credit note to refunded, and with a sale return to approved', () => {
    const refund = mapTrytonRecord(
      rec('sale.complaint', '2', {
        id: 2,
        number: 'CMP-00002',
        state: 'done',
        customer: 3,
        origin: 'account.invoice,1',
        description: 'refund',
        actions_detail: [{ action: 'credit_note', result: 'account.invoice,2' }],
      }),
    );
    expect(refund).toMatchObject({
      fields: { status: 'refunded', reason: 'refund' },
      links: { invoiceId: { id: 'account.invoice,1' } },
      related: { results: [{ id: 'account.invoice,2' }] },
    });
    expect(accepts(ReturnAuthorizationSchema, (refund as { fields: unknown }).fields)).toEqual([]);
    const ret = mapTrytonRecord(
      rec('sale.complaint', '1', {
        id: 1,
        number: 'CMP-00001',
        state: 'done',
        customer: 3,
        origin: 'sale.sale,1',
        description: 'arrived broken',
        actions_detail: [{ action: 'sale_return', result: 'sale.sale,2' }],
      }),
    );
    expect(ret).toMatchObject({
      fields: { status: 'approved' },
      links: { orderId: { id: 'sale.sale,1' }, customerId: { id: 'party.party,3' } },
    });
  });

  it('maps a party to a customer and a sale line to an order line draft', () => {
    const c = mapTrytonRecord(
      rec('party.party', '3', {
        id: 3,
        code: 'C-00001',
        name: 'Jane Doe',
        email: 'jane@example.test',
        phone: '',
        active: 1,
      }),
    );
    expect(c).toMatchObject({
      kind: 'customer',
      fields: { name: 'Jane Doe', email: 'jane@example.test', active: true },
    });
    expect(accepts(CustomerSchema, (c as { fields: unknown }).fields)).toEqual([]);
    const l = mapTrytonRecord(
      rec('sale.line', '1', {
        id: 1,
        sale: 1,
        sequence: null,
        'product.': { code: 'W-1', id: 2 },
        quantity: 2,
        unit_price: '10.00',
        amount: '20.00',
        'currency.': { code: 'USD', id: 1 },
      }),
    );
    expect(l).toMatchObject({
      kind: 'orderLine',
      order: { id: 'sale.sale,1' },
      fields: {
        sku: 'W-1',
        quantity: '2',
        unitPrice: { amount: '10.00', currency: 'USD' },
        lineTotal: { amount: '20.00' },
      },
    });
  });
});
