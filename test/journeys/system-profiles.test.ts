// The order-visibility journey's profiles of Tryton and Request Tracker: what their records become
// (payloads as the real servers return them, see test/peers), how a Tryton order's summary and
// milestones read without line quantities, the commands spelled for RT, and the configuration
// checks that name the key at fault.
import { describe, expect, it } from 'vitest';
import type { SourceRecord } from '../../src/connectors/index.ts';
import {
  ERP_PROFILES,
  HELPDESK_PROFILES,
  journeysConfigIssues,
  type JourneysConfig,
} from '../../src/journeys/index.ts';
import {
  orderMilestones,
  orderNumberRegExp,
  orderSummary,
  type OrderParts,
} from '../../src/journeys/order-visibility/index.ts';
import { runCli } from '../support/cli.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ctx = { tenantId: 't', system: 'x' };
const record = (stream: string, id: number | string, payload: Record<string, unknown>): SourceRecord => ({
  stream,
  externalId: String(id),
  updatedAt: '2026-11-27T18:29:05.602635Z',
  payload: { id, ...payload },
});
const pattern = orderNumberRegExp();

describe('Tryton profile', () => {
  const mappers = ERP_PROFILES.tryton.mappers('tryton', pattern);

  it('polls sales, shipments, invoices and parties, so a party nobody wrote again is captured', () => {
    expect(ERP_PROFILES.tryton.polled).toEqual([
      'sale.sale',
      'stock.shipment.out',
      'account.invoice',
      'party.party',
    ]);
    expect(Object.keys(mappers).sort()).toEqual([...ERP_PROFILES.tryton.polled].sort());
  });

  it('keys a sale by its number and says whether it is confirmed and shipped', async () => {
    const sale = await mappers['sale.sale']!.map(
      record('sale.sale', 2, {
        number: 'SO-000002',
        state: 'processing',
        shipment_state: 'sent',
        party: 4,
        'party.': { id: 4, code: 'C-00004' },
        'currency.': { id: 1, code: 'USD' },
        total_amount: '20.00',
      }),
      ctx,
    );
    expect(sale.fields).toMatchObject({
      number: 'SO-000002',
      status: 'shipped',
      confirmed: true,
      shipped: true,
      customerNumber: 'C-00004',
      totalAmount: 20,
    });
    const draft = await mappers['sale.sale']!.map(record('sale.sale', 3, { state: 'draft' }), ctx);
    // A draft has no number: the journey does not follow it until it is quoted.
    expect(draft.fields).toMatchObject({ number: null, confirmed: false });
  });

  it("finds a shipment's and an invoice's order in their origins", async () => {
    const shipment = await mappers['stock.shipment.out']!.map(
      record('stock.shipment.out', 1, {
        number: 'SH-000001',
        state: 'waiting',
        origins: 'SO-000001 [EXT-x]',
      }),
      ctx,
    );
    expect(shipment.fields).toMatchObject({ orderNumber: 'SO-000001', status: 'PENDING' });
    expect(shipment.links).toEqual([
      { relation: 'order', kind: 'order', externalId: 'SO-000001', system: 'tryton' },
    ]);
    const invoice = await mappers['account.invoice']!.map(
      record('account.invoice', 1, {
        number: 'INV-2026-0001',
        state: 'posted',
        origins: 'SO-000001 [EXT-x]',
        total_amount: '20.00',
        amount_to_pay: '20.00',
        'currency.': { code: 'USD' },
      }),
      ctx,
    );
    expect(invoice.fields).toMatchObject({
      orderNumber: 'SO-000001',
      status: 'OPEN',
      amount: 20,
      amountPaid: 0,
    });
  });

  it('summarises an order without line quantities from its shipments and issued invoices', () => {
    const parts = (shipment: string, invoice: string, shipped = false): OrderParts => ({
      orderNumber: 'SO-000001',
      order: { number: 'SO-000001', statusCode: null, status: 'confirmed', confirmed: true, shipped },
      credits: [],
      shipments: [{ number: 'SH-000001', status: shipment }],
      invoices: [{ number: 'INV-1', status: invoice, amount: 20, currency: 'USD' }],
    });
    const waiting = parts('PENDING', 'DRAFT');
    expect(orderSummary(waiting)).toMatchObject({ shipment_status: 'preparing', invoice_status: 'none' });
    expect(orderMilestones(waiting).map((m) => m.key)).toEqual(['confirmed']);
    // A shipment done while the sale still waits for a backorder: in transit, but not "shipped".
    const partly = parts('SHIPPED', 'OPEN');
    expect(orderSummary(partly)).toMatchObject({ shipment_status: 'in_transit', invoice_status: 'open' });
    expect(orderMilestones(partly).map((m) => m.key)).toEqual(['confirmed', 'invoiced:INV-1']);
    const done = parts('SHIPPED', 'OPEN', true);
    expect(orderMilestones(done).map((m) => m.key)).toEqual(['confirmed', 'shipped', 'invoiced:INV-1']);
  });
});

describe('Request Tracker profile', () => {
  const caseFields = HELPDESK_PROFILES['request-tracker'].defaultCaseFields;
  const ticket = HELPDESK_PROFILES['request-tracker'].mappers('rt', 'tryton', pattern, caseFields).ticket!;

  it('writes ERP Order and ERP Customer by default and nothing else', () => {
    expect(Object.entries(caseFields).filter(([, v]) => v !== null)).toEqual([
      ['erp_order', 'ERP Order'],
      ['erp_customer', 'ERP Customer'],
    ]);
  });

  it('links a ticket to the order named in its subject, else in its ERP Order field', async () => {
    const bySubject = await ticket.map(
      record('ticket', 5, { Subject: 'Damaged: SO-000012', Status: 'new' }),
      ctx,
    );
    expect(bySubject.fields).toMatchObject({ number: 5, status: 'new', orderNumbers: ['SO-000012'] });
    const byField = await ticket.map(
      record('ticket', 6, {
        Subject: 'Where is it?',
        Status: 'open',
        CustomFields: [{ name: 'ERP Order', values: ['SO-000013'] }],
        Requestor: [{ EmailAddress: 'Jane@Example.test' }],
      }),
      ctx,
    );
    expect(byField.fields).toMatchObject({
      orderNumbers: ['SO-000013'],
      requestorEmail: 'jane@example.test',
    });
    expect(byField.links).toEqual([
      { relation: 'order', kind: 'order', externalId: 'SO-000013', system: 'tryton' },
    ]);
  });

  it('spells field updates and comments as the RT connector takes them, values as text', () => {
    const rt = HELPDESK_PROFILES['request-tracker'];
    expect(rt.updateCommand('7', { 'ERP Order': 'SO-000001', 'ERP Customer': null })).toEqual({
      type: 'case.update',
      args: { ticket: 7, customFields: { 'ERP Order': 'SO-000001', 'ERP Customer': '' } },
    });
    expect(rt.commentCommand('7', 'Order SO-000001 is shipped.')).toEqual({
      type: 'case.comment',
      args: { ticket: 7, text: 'Order SO-000001 is shipped.' },
    });
  });
});

describe('journeys configuration', () => {
  const base: JourneysConfig = {
    systems: {
      tryton: {
        connector: 'tryton',
        baseUrl: 'http://127.0.0.1:8000/tryton/',
        user: 'admin',
        password: 'pw',
      },
      rt: { connector: 'request-tracker', baseUrl: 'http://127.0.0.1:8010/REST/2.0', apiKey: 'tok' },
    },
    journeys: { orderVisibility: { enabled: true, erp: 'tryton', helpdesk: 'rt' } },
  };

  it('accepts Tryton and Request Tracker systems with their keys', () => {
    expect(journeysConfigIssues(base)).toEqual([]);
  });

  it('names each key that is missing, unused, or points at the wrong kind of system', () => {
    const issues = journeysConfigIssues({
      systems: {
        tryton: { connector: 'tryton', baseUrl: 'http://x/', user: 'admin', apiKey: 'nope' },
        rt: { connector: 'request-tracker', baseUrl: 'http://y/' },
      },
      journeys: {
        orderVisibility: { enabled: true, erp: 'rt', helpdesk: 'missing', orderNumberPattern: '(' },
      },
    });
    expect(issues).toEqual([
      'systems.tryton.apiKey: not used by connector tryton',
      'systems.tryton.password: required by connector tryton',
      'systems.rt.apiKey: required by connector request-tracker',
      'journeys.orderVisibility.erp: system rt uses connector request-tracker, not an ERP (sandbox-erp, tryton)',
      'journeys.orderVisibility.helpdesk: system missing is not configured under systems',
      expect.stringMatching(/^journeys\.orderVisibility\.orderNumberPattern: not a regular expression/),
    ]);
  });

  it('refuses an order pattern that matches nothing at all, and RT fields RT would refuse', () => {
    expect(
      journeysConfigIssues({
        ...base,
        journeys: {
          orderVisibility: { enabled: true, erp: 'tryton', helpdesk: 'rt', orderNumberPattern: '\\d*' },
        },
        mappings: { orderVisibility: { caseFields: { shipment_status: 'Shipment Status' } } },
      }),
    ).toEqual([
      'journeys.orderVisibility.orderNumberPattern: matches an empty text, so it names no order',
      'mappings.orderVisibility.caseFields.shipment_status: Shipment Status is not in systems.rt.customFields (ERP Order, ERP Customer)',
    ]);
  });

  it('crossdock config validate exits 2 and names the key', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-journeys-config-'));
    try {
      const file = path.join(dir, 'c.yaml');
      fs.writeFileSync(
        file,
        [
          'systems:',
          '  tryton: { connector: tryton, baseUrl: "http://127.0.0.1:8000/tryton/", user: admin }',
          '  rt: { connector: request-tracker, baseUrl: "http://127.0.0.1:8010/REST/2.0", apiKey: tok }',
          'journeys:',
          '  orderVisibility: { erp: tryton, helpdesk: rt }',
        ].join('\n'),
      );
      const r = await runCli(['config', 'validate', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('systems.tryton.password: required by connector tryton');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
