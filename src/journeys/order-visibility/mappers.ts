// Mappers from the sandbox ERP and helpdesk streams to canonical fields, versioned so a stored payload
// can be re-mapped. The ERP mappers keep what the order-visibility journey needs (status, lines'
// quantities, holds, shipments, invoices); the case mapper extracts the order numbers a case names.
import type { SourceRecord } from '../../connectors/index.ts';
import type { MappedRecord, RecordMapper } from '../../sync/index.ts';

/**
 * Order numbers as the sandbox ERP (`SO-100042`) and Tryton set up by Crossdock's peers (`SO-000042`)
 * write them; `journeys.orderVisibility.orderNumberPattern` sets another.
 */
export const DEFAULT_ORDER_NUMBER_PATTERN = '\\bSO-\\d{6}\\b';

/** Compiles a configured order-number pattern (a JavaScript regular expression, matched globally). */
export function orderNumberRegExp(pattern: string = DEFAULT_ORDER_NUMBER_PATTERN): RegExp {
  return new RegExp(pattern, 'g');
}

/** Order numbers `pattern` finds in `text`, in order of appearance, without repeats. */
export function orderNumbersIn(text: string, pattern: RegExp = orderNumberRegExp()): string[] {
  const global = pattern.global ? pattern : new RegExp(pattern.source, `${pattern.flags}g`);
  // Bounded: subjects and fields come from outside; an order number is near the start.
  const found = text.slice(0, MAX_SCANNED_CHARS).match(global) ?? [];
  return [...new Set(found.filter((n) => n !== ''))];
}

/** How much of a case's text is searched for order numbers. */
const MAX_SCANNED_CHARS = 4_000;

type Row = Readonly<Record<string, unknown>>;

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const payloadOf = (record: SourceRecord): Row =>
  typeof record.payload === 'object' && record.payload !== null ? (record.payload as Row) : {};
const rows = (v: unknown): Row[] => (Array.isArray(v) ? (v as unknown[]).filter(isRow) : []);
const isRow = (v: unknown): v is Row => typeof v === 'object' && v !== null;

function orderLink(erpSystem: string, orderNumber: string | null) {
  return orderNumber === null
    ? []
    : [{ relation: 'order', kind: 'order', externalId: orderNumber, system: erpSystem }];
}

function mapper(version: string, map: (p: Row, record: SourceRecord) => MappedRecord): RecordMapper {
  return { version, map: (record) => map(payloadOf(record), record) };
}

/** Mappers of the sandbox ERP's streams; `erpSystem` is the configured system name (e.g. `erp`). */
export function sandboxErpMappers(erpSystem: string): Readonly<Record<string, RecordMapper>> {
  return {
    customer: mapper('sandbox-erp-customer@1', (p) => ({
      kind: 'customer',
      fields: {
        number: str(p.id),
        name: str(p.name),
        email: str(p.email),
        creditStatus: str(p.credit_status),
      },
    })),
    item: mapper('sandbox-erp-item@1', (p) => ({
      kind: 'item',
      fields: { sku: str(p.sku), description: str(p.description) },
    })),
    sales_order: mapper('sandbox-erp-order@1', (p) => ({
      kind: 'order',
      fields: {
        number: str(p.id),
        statusCode: str(p.status_code),
        status: str(p.status),
        holdCode: str(p.hold_code),
        customerNumber: str(p.customer_id),
        externalRef: str(p.external_ref),
        currency: str(p.currency),
        totalAmount: num(p.total_amount),
        cancelReason: str(p.cancel_reason),
        lines: rows(p.lines).map((l) => ({
          lineNo: num(l.line_no),
          item: str(l.item_id),
          qtyOrdered: num(l.qty_ordered),
          qtyShipped: num(l.qty_shipped),
          qtyInvoiced: num(l.qty_invoiced),
        })),
      },
      links:
        str(p.customer_id) === null
          ? []
          : [{ relation: 'customer', kind: 'customer', externalId: str(p.customer_id)!, system: erpSystem }],
    })),
    // Kind `credit`, the name field ownership uses for credit fields.
    credit_hold: mapper('sandbox-erp-credit-hold@1', (p) => ({
      kind: 'credit',
      fields: {
        number: str(p.id),
        orderNumber: str(p.order_id),
        status: str(p.status),
        reason: str(p.reason),
        amount: num(p.amount),
        placedAt: str(p.placed_at),
        releasedAt: str(p.released_at),
        releasedBy: str(p.released_by),
      },
      links: orderLink(erpSystem, str(p.order_id)),
    })),
    shipment: mapper('sandbox-erp-shipment@1', (p) => ({
      kind: 'shipment',
      fields: {
        number: str(p.id),
        orderNumber: str(p.order_id),
        status: str(p.status),
        carrier: str(p.carrier),
        trackingNumber: str(p.tracking_number),
        shippedAt: str(p.shipped_at),
        deliveredAt: str(p.delivered_at),
        exceptionReason: str(p.exception_reason),
        qty: rows(p.lines).reduce((sum, l) => sum + num(l.qty), 0),
      },
      links: orderLink(erpSystem, str(p.order_id)),
    })),
    invoice: mapper('sandbox-erp-invoice@1', (p) => ({
      kind: 'invoice',
      fields: {
        number: str(p.id),
        orderNumber: str(p.order_id),
        status: str(p.status),
        amount: num(p.amount),
        amountPaid: num(p.amount_paid),
        currency: str(p.currency),
      },
      links: orderLink(erpSystem, str(p.order_id)),
    })),
    return: mapper('sandbox-erp-return@1', (p) => ({
      kind: 'return',
      fields: {
        number: str(p.id),
        orderNumber: str(p.order_id),
        status: str(p.status),
        reason: str(p.reason),
      },
      links: orderLink(erpSystem, str(p.order_id)),
    })),
  };
}

/** Mappers of the sandbox helpdesk's streams; a case links to the first order it names. */
export function sandboxHelpdeskMappers(
  helpdeskSystem: string,
  erpSystem: string,
  orderPattern: RegExp = orderNumberRegExp(),
): Readonly<Record<string, RecordMapper>> {
  void helpdeskSystem;
  return {
    case: mapper('sandbox-helpdesk-case@1', (p) => {
      const custom = isRow(p.custom_fields) ? p.custom_fields : {};
      const subject = str(p.subject) ?? '';
      const description = str(p.description) ?? '';
      const field = str(custom.erp_order);
      // Subject first, then body, then the order field: the first one named is the case's order.
      const orders = orderNumbersIn(`${subject}\n${description}\n${field ?? ''}`, orderPattern);
      return {
        kind: 'case',
        fields: {
          number: typeof p.id === 'number' ? p.id : null,
          subject,
          status: str(p.status),
          orderNumbers: orders,
        },
        links: orderLink(erpSystem, orders[0] ?? null),
      };
    }),
    comment: mapper('sandbox-helpdesk-comment@1', (p) => ({
      kind: 'case_comment',
      fields: { caseNumber: typeof p.case_id === 'number' ? p.case_id : null, author: str(p.author) },
      links:
        typeof p.case_id === 'number'
          ? [{ relation: 'case', kind: 'case', externalId: String(p.case_id) }]
          : [],
    })),
  };
}
