// Tryton records (as captured, decoded) to canonical drafts. Tryton's states are translated by the
// tables below, which docs/connectors.md reproduces. Refs use Tryton's own reference form
// (`sale.sale,42`), unique across models. Fields a record does not carry are left out, never invented.
import type {
  ExternalRef,
  InvoiceState,
  OrderState,
  ReturnState,
  ShipmentState,
} from '../../domain/index.ts';
import type { SourceRecord } from '../connector.ts';
import type { CanonicalDraft, OrderLineDraft } from '../canonical-draft.ts';

const SYSTEM = 'tryton';

/** `sale.sale` state (and shipment_state) -> canonical order state. */
export const TRYTON_ORDER_STATES: Readonly<Record<string, OrderState>> = {
  draft: 'draft',
  quotation: 'submitted',
  confirmed: 'confirmed',
  processing: 'confirmed', // refined by shipment_state below
  done: 'closed',
  cancelled: 'cancelled',
};
/** A processing sale whose shipment_state is ... becomes ... */
export const TRYTON_ORDER_SHIPMENT_STATES: Readonly<Record<string, OrderState>> = {
  sent: 'shipped',
  exception: 'on_hold',
};

/** `stock.shipment.out` state -> canonical shipment state. */
export const TRYTON_SHIPMENT_STATES: Readonly<Record<string, ShipmentState>> = {
  draft: 'pending',
  waiting: 'pending',
  assigned: 'ready',
  picked: 'ready',
  packed: 'ready',
  done: 'shipped',
  cancelled: 'cancelled',
};

/** `account.invoice` state -> canonical invoice state (posted with a partial payment: partially_paid). */
export const TRYTON_INVOICE_STATES: Readonly<Record<string, InvoiceState>> = {
  draft: 'draft',
  validated: 'draft',
  posted: 'posted',
  paid: 'paid',
  cancelled: 'cancelled',
};

/** `sale.complaint` state -> canonical return state (done: its action ran; a credit note means refunded). */
export const TRYTON_RETURN_STATES: Readonly<Record<string, ReturnState>> = {
  draft: 'requested',
  waiting: 'requested',
  approved: 'approved',
  rejected: 'rejected',
  done: 'approved',
  cancelled: 'cancelled',
};

type Payload = Record<string, unknown>;

export function trytonRef(model: string, id: unknown): ExternalRef {
  return { system: SYSTEM, id: `${model},${String(id)}` };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function currencyOf(p: Payload): string | undefined {
  const nested = p['currency.'] as { code?: unknown } | undefined;
  return str(nested?.code);
}

function money(amount: unknown, currency: string | undefined) {
  return typeof amount === 'string' && currency !== undefined ? { amount, currency } : undefined;
}

/** `2026-11-27` -> start of that day in UTC (Tryton dates carry no time). */
function dayStart(v: unknown): string | undefined {
  return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00.000Z` : undefined;
}

function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function ids(v: unknown): number[] {
  return Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : [];
}

export function orderState(p: Payload): OrderState {
  const base = TRYTON_ORDER_STATES[String(p.state)] ?? 'draft';
  if (p.state === 'processing') return TRYTON_ORDER_SHIPMENT_STATES[String(p.shipment_state)] ?? base;
  return base;
}

function draft<K extends CanonicalDraft['kind']>(
  kind: K,
  record: SourceRecord<Payload>,
  fields: CanonicalDraft<K>['fields'],
  extra: Partial<Pick<CanonicalDraft<K>, 'links' | 'lookups' | 'related'>> = {},
): CanonicalDraft<K> {
  return {
    kind,
    ref: trytonRef(record.stream, record.externalId),
    fields,
    links: extra.links ?? {},
    lookups: extra.lookups ?? {},
    related: extra.related ?? {},
    sourceUpdatedAt: record.updatedAt,
  };
}

export function mapSale(record: SourceRecord<Payload>): CanonicalDraft<'order'> {
  const p = record.payload;
  const currency = currencyOf(p);
  return draft(
    'order',
    record,
    compact({
      // A sale gets its number when quoted; before that people name it by its id.
      number: str(p.number) ?? `draft-${record.externalId}`,
      status: orderState(p),
      currency,
      total: money(p.total_amount, currency),
      orderedAt: dayStart(p.sale_date) ?? str(p.create_date),
      attributes: compact({ reference: str(p.reference), description: str(p.description) }),
    }),
    {
      links: typeof p.party === 'number' ? { customerId: trytonRef('party.party', p.party) } : {},
      related: {
        lines: ids(p.lines).map((id) => trytonRef('sale.line', id)),
        shipments: ids(p.shipments).map((id) => trytonRef('stock.shipment.out', id)),
        invoices: ids(p.invoices).map((id) => trytonRef('account.invoice', id)),
      },
    },
  );
}

export function mapSaleLine(record: SourceRecord<Payload>): OrderLineDraft {
  const p = record.payload;
  const currency = currencyOf(p);
  const product = p['product.'] as { code?: unknown } | undefined;
  const unitPrice = money(p.unit_price, currency);
  const lineTotal = money(p.amount, currency);
  return {
    kind: 'orderLine',
    ref: trytonRef('sale.line', record.externalId),
    order: trytonRef('sale.sale', p.sale),
    fields: {
      ...(typeof p.sequence === 'number' ? { lineNumber: p.sequence } : {}),
      ...(str(product?.code) ? { sku: str(product?.code)! } : {}),
      ...(str(p.description) ? { description: str(p.description)! } : {}),
      quantity: typeof p.quantity === 'number' || typeof p.quantity === 'string' ? String(p.quantity) : '0',
      ...(unitPrice ? { unitPrice } : {}),
      ...(lineTotal ? { lineTotal } : {}),
    },
    sourceUpdatedAt: record.updatedAt,
  };
}

export function mapShipment(record: SourceRecord<Payload>): CanonicalDraft<'shipment'> {
  const p = record.payload;
  const status = TRYTON_SHIPMENT_STATES[String(p.state)] ?? 'pending';
  return draft(
    'shipment',
    record,
    compact({
      status,
      shippedAt: status === 'shipped' ? dayStart(p.effective_date) : undefined,
      attributes: compact({
        number: str(p.number),
        reference: str(p.reference),
        plannedDate: str(p.planned_date),
      }),
    }),
    // The order link comes from the sale's `related.shipments`: a shipment may serve several sales.
    { links: typeof p.customer === 'number' ? { customerId: trytonRef('party.party', p.customer) } : {} },
  );
}

export function invoiceState(p: Payload): InvoiceState {
  const base = TRYTON_INVOICE_STATES[String(p.state)] ?? 'draft';
  if (base === 'posted' && typeof p.amount_to_pay === 'string' && typeof p.total_amount === 'string') {
    const due = Number(p.amount_to_pay);
    if (due > 0 && due < Number(p.total_amount)) return 'partially_paid';
  }
  return base;
}

export function mapInvoice(record: SourceRecord<Payload>): CanonicalDraft<'invoice'> {
  const p = record.payload;
  const currency = currencyOf(p);
  const sales = ids(p.sales);
  return draft(
    'invoice',
    record,
    compact({
      number: str(p.number) ?? `draft-${record.externalId}`,
      status: invoiceState(p),
      total: money(p.total_amount, currency),
      amountDue: money(p.amount_to_pay, currency),
      issuedAt: dayStart(p.invoice_date),
    }),
    {
      links: {
        ...(typeof p.party === 'number' ? { customerId: trytonRef('party.party', p.party) } : {}),
        ...(sales[0] !== undefined ? { orderId: trytonRef('sale.sale', sales[0]) } : {}),
      },
    },
  );
}

export function mapParty(record: SourceRecord<Payload>): CanonicalDraft<'customer'> {
  const p = record.payload;
  return draft(
    'customer',
    record,
    compact({
      name: str(p.name) ?? `party ${record.externalId}`,
      email: str(p.email),
      phone: str(p.phone),
      active: p.active === undefined ? true : Boolean(p.active),
      attributes: compact({ code: str(p.code) }),
    }),
  );
}

export function mapComplaint(record: SourceRecord<Payload>): CanonicalDraft<'returnAuthorization'> {
  const p = record.payload;
  const actions = (p.actions_detail ?? []) as { action: string; result: string | null }[];
  let status = TRYTON_RETURN_STATES[String(p.state)] ?? 'requested';
  if (p.state === 'done' && actions.some((a) => a.action === 'credit_note' && a.result)) status = 'refunded';
  const [originModel, originId] = (typeof p.origin === 'string' ? p.origin : '').split(',');
  const links: Record<string, ExternalRef> = {};
  if (typeof p.customer === 'number') links.customerId = trytonRef('party.party', p.customer);
  if (originModel === 'sale.sale' && originId) links.orderId = trytonRef('sale.sale', originId);
  if (originModel === 'account.invoice' && originId) links.invoiceId = trytonRef('account.invoice', originId);
  if (originModel === 'sale.line' && originId) links.orderLineId = trytonRef('sale.line', originId);
  return draft(
    'returnAuthorization',
    record,
    compact({
      number: str(p.number),
      status,
      reason: str(p.description) ?? 'complaint',
      attributes: compact({
        reference: str(p.reference),
        actions: actions.map((a) => ({ action: a.action, result: a.result })),
      }),
    }),
    {
      links,
      related: {
        results: actions.flatMap((a) => {
          const [model, id] = String(a.result ?? '').split(',');
          return model && id ? [trytonRef(model, id)] : [];
        }),
      },
    },
  );
}

/** Maps any captured Tryton record by its stream. */
export function mapTrytonRecord(record: SourceRecord<Payload>): CanonicalDraft | OrderLineDraft {
  switch (record.stream) {
    case 'sale.sale':
      return mapSale(record);
    case 'sale.line':
      return mapSaleLine(record);
    case 'stock.shipment.out':
      return mapShipment(record);
    case 'account.invoice':
      return mapInvoice(record);
    case 'party.party':
      return mapParty(record);
    case 'sale.complaint':
      return mapComplaint(record);
    default:
      throw new RangeError(`no Tryton mapping for stream ${record.stream}`);
  }
}
