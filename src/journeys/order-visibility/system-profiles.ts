// What the order-visibility journey needs to know about each kind of connected system: which streams
// to poll, how its records map to the fields the order summary reads, and (for helpdesks) how a case
// field update and a milestone comment are spelled as commands. One profile per connector type; the
// journey itself is the same for the sandbox systems and for Tryton and Request Tracker.
import type { JsonValue, SourceRecord } from '../../connectors/index.ts';
import {
  TRYTON_SHIPMENT_STATES,
  invoiceState as trytonInvoiceState,
  orderState as trytonOrderState,
} from '../../connectors/tryton/index.ts';
import { RT_CASE_STATES, requestorEmail } from '../../connectors/request-tracker/index.ts';
import type { EffectRequest, MappedRecord, RecordMapper } from '../../sync/index.ts';
import type { CaseFieldKey } from '../config.ts';
import { orderNumbersIn, sandboxErpMappers, sandboxHelpdeskMappers } from './mappers.ts';

export type ErpConnectorType = 'sandbox-erp' | 'tryton';
export type HelpdeskConnectorType = 'sandbox-helpdesk' | 'request-tracker';

export interface ErpProfile {
  /** Streams polled, in this order each round; others only arrive by webhook. */
  readonly polled: readonly string[];
  /** Mappers by stream; `erpSystem` is the configured system name, `orderPattern` finds order numbers. */
  mappers(erpSystem: string, orderPattern: RegExp): Readonly<Record<string, RecordMapper>>;
}

export interface HelpdeskProfile {
  readonly polled: readonly string[];
  /** `caseFields`: the helpdesk field of each summary key, after defaults (null: not written). */
  mappers(
    helpdeskSystem: string,
    erpSystem: string,
    orderPattern: RegExp,
    caseFields: Readonly<Record<CaseFieldKey, string | null>>,
  ): Readonly<Record<string, RecordMapper>>;
  /** Where each summary value goes when the configuration does not say (null: not written). */
  readonly defaultCaseFields: Readonly<Record<CaseFieldKey, string | null>>;
  /** Sets helpdesk fields (already renamed to the helpdesk's field names) on a case. */
  updateCommand(caseId: string, fields: Readonly<Record<string, JsonValue>>): EffectRequest;
  /** Adds an internal comment (a milestone) to a case. */
  commentCommand(caseId: string, body: string): EffectRequest;
}

type Row = Readonly<Record<string, unknown>>;
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const amount = (v: unknown): number => {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : 0;
};
const payloadOf = (record: SourceRecord): Row =>
  typeof record.payload === 'object' && record.payload !== null ? (record.payload as Row) : {};
const related = (p: Row, field: string): Row =>
  typeof p[`${field}.`] === 'object' && p[`${field}.`] !== null ? (p[`${field}.`] as Row) : {};

function mapper(version: string, map: (p: Row, record: SourceRecord) => MappedRecord): RecordMapper {
  return { version, map: (record) => map(payloadOf(record), record) };
}

function orderLink(erpSystem: string, orderNumber: string | null) {
  return orderNumber === null
    ? []
    : [{ relation: 'order', kind: 'order', externalId: orderNumber, system: erpSystem }];
}

/** The first order number `pattern` finds in `text`, or null. */
function firstOrder(text: string, pattern: RegExp): string | null {
  return orderNumbersIn(text, pattern)[0] ?? null;
}

// ------------------------------------------------------------------------------------------------
// Tryton 6.0. A sale is keyed by its number (`SO-000012`, set when quoted); drafts have none and are
// not followed. Shipments and invoices name their sales in `origins` (the sales' rec_names), which is
// how they find their order: a shipment serving several sales counts for the first one named.

/** Tryton shipment state -> the shipment status the order summary reads. */
const TRYTON_SHIPMENT_STATUS: Readonly<Record<string, string>> = {
  pending: 'PENDING',
  ready: 'PENDING',
  shipped: 'SHIPPED',
  cancelled: 'CANCELLED',
};
/** Canonical invoice state (from Tryton's) -> the invoice status the order summary reads. */
const TRYTON_INVOICE_STATUS: Readonly<Record<string, string>> = {
  draft: 'DRAFT',
  posted: 'OPEN',
  partially_paid: 'PARTIALLY_PAID',
  paid: 'PAID',
  cancelled: 'VOID',
};

export function trytonErpMappers(
  erpSystem: string,
  orderPattern: RegExp,
): Readonly<Record<string, RecordMapper>> {
  return {
    'sale.sale': mapper('tryton-journey-sale@1', (p) => {
      const party = related(p, 'party');
      const state = str(p.state);
      return {
        kind: 'order',
        fields: {
          number: str(p.number),
          statusCode: null,
          status: trytonOrderState(p),
          // Accepted for fulfilment: what the sandbox ERP says with its status codes.
          confirmed: state === 'confirmed' || state === 'processing' || state === 'done',
          shipped: (state === 'processing' || state === 'done') && p.shipment_state === 'sent',
          customerNumber: str(party.code) ?? (typeof p.party === 'number' ? String(p.party) : null),
          externalRef: str(p.reference),
          currency: str(related(p, 'currency').code),
          totalAmount: amount(p.total_amount),
          cancelReason: null,
        },
        links:
          typeof p.party === 'number'
            ? [{ relation: 'customer', kind: 'customer', externalId: String(p.party), system: erpSystem }]
            : [],
      };
    }),
    'stock.shipment.out': mapper('tryton-journey-shipment@1', (p) => {
      const orderNumber = firstOrder(str(p.origins) ?? '', orderPattern);
      const status = TRYTON_SHIPMENT_STATES[String(p.state)] ?? 'pending';
      return {
        kind: 'shipment',
        fields: {
          number: str(p.number),
          orderNumber,
          status: TRYTON_SHIPMENT_STATUS[status] ?? 'PENDING',
          carrier: typeof p.carrier === 'number' ? String(p.carrier) : null,
          trackingNumber: str(p.reference),
          shippedAt: status === 'shipped' ? str(p.effective_date) : null,
          deliveredAt: null,
          exceptionReason: null,
        },
        links: orderLink(erpSystem, orderNumber),
      };
    }),
    'account.invoice': mapper('tryton-journey-invoice@1', (p) => {
      const orderNumber = firstOrder(str(p.origins) ?? '', orderPattern);
      const total = amount(p.total_amount);
      return {
        kind: 'invoice',
        fields: {
          number: str(p.number),
          orderNumber,
          status: TRYTON_INVOICE_STATUS[trytonInvoiceState(p)] ?? 'DRAFT',
          amount: total,
          amountPaid: total - amount(p.amount_to_pay),
          currency: str(related(p, 'currency').code),
        },
        links: orderLink(erpSystem, orderNumber),
      };
    }),
    'party.party': mapper('tryton-journey-party@1', (p) => ({
      kind: 'customer',
      fields: { number: str(p.code), name: str(p.name), email: str(p.email) },
    })),
  };
}

// ------------------------------------------------------------------------------------------------
// Request Tracker 5. A ticket names its order in its subject or in the order custom field (the one
// `erp_order` is written to); RT custom fields hold strings, so values are written as text.

export function requestTrackerMappers(
  helpdeskSystem: string,
  erpSystem: string,
  orderPattern: RegExp,
  caseFields: Readonly<Record<CaseFieldKey, string | null>>,
): Readonly<Record<string, RecordMapper>> {
  void helpdeskSystem;
  const orderField = caseFields.erp_order;
  return {
    ticket: mapper('request-tracker-journey-ticket@1', (p, record) => {
      const custom: Record<string, string> = {};
      for (const cf of (Array.isArray(p.CustomFields) ? p.CustomFields : []) as {
        name?: unknown;
        values?: unknown;
      }[]) {
        const value: unknown = Array.isArray(cf.values) ? (cf.values as unknown[])[0] : undefined;
        if (typeof cf.name === 'string' && typeof value === 'string') custom[cf.name] = value;
      }
      const subject = str(p.Subject) ?? '';
      const orders = orderNumbersIn(
        `${subject}\n${orderField === null ? '' : (custom[orderField] ?? '')}`,
        orderPattern,
      );
      return {
        kind: 'case',
        fields: {
          number: Number(record.externalId),
          subject,
          status: RT_CASE_STATES[String(p.Status)] ?? 'open',
          requestorEmail: requestorEmail(p) ?? null,
          orderNumbers: orders,
        },
        links: orderLink(erpSystem, orders[0] ?? null),
      };
    }),
  };
}

// ------------------------------------------------------------------------------------------------

const SANDBOX_CASE_FIELDS: Readonly<Record<CaseFieldKey, string | null>> = {
  erp_order: 'erp_order',
  erp_order_status: 'erp_order_status',
  erp_customer: 'erp_customer',
  credit_state: 'credit_state',
  shipment_status: 'shipment_status',
  invoice_status: 'invoice_status',
  tracking_number: 'tracking_number',
};

/** RT ships with the two custom fields Crossdock's setup creates; the rest goes into milestones. */
const RT_CASE_FIELDS: Readonly<Record<CaseFieldKey, string | null>> = {
  erp_order: 'ERP Order',
  erp_order_status: null,
  erp_customer: 'ERP Customer',
  credit_state: null,
  shipment_status: null,
  invoice_status: null,
  tracking_number: null,
};

export const ERP_PROFILES: Readonly<Record<ErpConnectorType, ErpProfile>> = {
  'sandbox-erp': {
    polled: ['sales_order', 'credit_hold', 'shipment', 'invoice'],
    mappers: (erpSystem) => sandboxErpMappers(erpSystem),
  },
  tryton: {
    // Parties are polled so a customer created and never written again is still captured.
    polled: ['sale.sale', 'stock.shipment.out', 'account.invoice', 'party.party'],
    mappers: trytonErpMappers,
  },
};

export const HELPDESK_PROFILES: Readonly<Record<HelpdeskConnectorType, HelpdeskProfile>> = {
  'sandbox-helpdesk': {
    polled: ['case'],
    mappers: (helpdeskSystem, erpSystem, orderPattern) =>
      sandboxHelpdeskMappers(helpdeskSystem, erpSystem, orderPattern),
    defaultCaseFields: SANDBOX_CASE_FIELDS,
    updateCommand: (caseId, fields) => ({
      type: 'case.update',
      args: { case_id: Number(caseId), custom_fields: { ...fields } },
    }),
    commentCommand: (caseId, body) => ({
      type: 'case.comment',
      args: { case_id: Number(caseId), body, public: false },
    }),
  },
  'request-tracker': {
    polled: ['ticket'],
    mappers: requestTrackerMappers,
    defaultCaseFields: RT_CASE_FIELDS,
    updateCommand: (caseId, fields) => ({
      type: 'case.update',
      args: {
        ticket: Number(caseId),
        customFields: Object.fromEntries(
          Object.entries(fields).map(([k, v]) => [
            k,
            v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v),
          ]),
        ),
      },
    }),
    commentCommand: (caseId, body) => ({
      type: 'case.comment',
      args: { ticket: Number(caseId), text: body },
    }),
  },
};
