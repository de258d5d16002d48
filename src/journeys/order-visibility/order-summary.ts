// What a helpdesk case shows about its order, derived from the order's captured ERP records (the
// order, its credit holds, shipments and invoices): the summary fields, and the milestones that have
// happened. Both are pure functions of the records, so a burst of changes seen at once yields the
// same milestones as seeing them one by one, and seeing a record twice yields nothing new.
import type { JsonValue } from '../../connectors/index.ts';

export type PartKind = 'order' | 'credit' | 'shipment' | 'invoice' | 'return';
export const PART_KINDS: readonly PartKind[] = ['order', 'credit', 'shipment', 'invoice', 'return'];

type Fields = Readonly<Record<string, JsonValue>>;

/** The captured records of one order, by kind, each with its canonical fields. */
export interface OrderParts {
  readonly orderNumber: string;
  readonly order: Fields | undefined;
  readonly credits: readonly Fields[];
  readonly shipments: readonly Fields[];
  readonly invoices: readonly Fields[];
}

export type CreditState = 'ok' | 'on_hold' | 'released';
export type ShipmentState =
  | 'none'
  | 'preparing'
  | 'in_transit'
  | 'delayed'
  | 'partially_delivered'
  | 'delivered'
  | 'exception'
  | 'damaged'
  | 'returned';
export type InvoiceState = 'none' | 'open' | 'partially_paid' | 'paid' | 'disputed' | 'void';

/** The helpdesk custom fields the journey sets (keys of the sandbox helpdesk's fields). */
export interface OrderSummary {
  readonly erp_order: string;
  readonly erp_order_status: string | null;
  readonly erp_customer: string | null;
  readonly credit_state: CreditState;
  readonly shipment_status: ShipmentState;
  readonly invoice_status: InvoiceState;
  /** Tracking numbers of the order's shipments, by shipment number, comma separated; null if none. */
  readonly tracking_number: string | null;
}

export interface Milestone {
  /** Unique per order and stable: the business key of its comment, e.g. `credit-hold:CH-000003`. */
  readonly key: string;
  readonly body: string;
}

const s = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);
const n = (v: JsonValue | undefined): number => (typeof v === 'number' ? v : 0);
const byNumber = (a: Fields, b: Fields) => ((s(a.number) ?? '') < (s(b.number) ?? '') ? -1 : 1);

export function creditStateOf(credits: readonly Fields[]): CreditState {
  if (credits.some((c) => c.status === 'ACTIVE')) return 'on_hold';
  if (credits.some((c) => c.status === 'RELEASED')) return 'released';
  return 'ok';
}

function orderLines(order: Fields | undefined): { qtyOrdered: number; qtyShipped: number }[] {
  const lines = order?.lines;
  if (!Array.isArray(lines)) return [];
  return lines.map((l) => {
    const line = (typeof l === 'object' && l !== null && !Array.isArray(l) ? l : {}) as Fields;
    return { qtyOrdered: n(line.qtyOrdered), qtyShipped: n(line.qtyShipped) };
  });
}

function fullyShipped(order: Fields | undefined): boolean {
  const lines = orderLines(order);
  return lines.length > 0 && lines.every((l) => l.qtyShipped >= l.qtyOrdered);
}

/** Shipments that are still going ahead (a cancelled one never leaves). */
const liveShipments = (shipments: readonly Fields[]) => shipments.filter((x) => x.status !== 'CANCELLED');
/** Shipments not yet handed to a carrier (Tryton's waiting, assigned, picked, packed). */
const notYetShipped = (x: Fields) => x.status === 'PENDING';

/**
 * Worst first, as an agent needs it: damaged, exception, returned, delayed, moving, delivered; an
 * order whose shipments are all still in the warehouse is `preparing`.
 */
export function shipmentStateOf(order: Fields | undefined, all: readonly Fields[]): ShipmentState {
  const shipments = liveShipments(all);
  if (shipments.length === 0) return 'none';
  if (shipments.every(notYetShipped)) return 'preparing';
  const has = (status: string) => shipments.some((x) => x.status === status);
  if (has('DAMAGED')) return 'damaged';
  if (has('EXCEPTION')) return 'exception';
  if (has('RETURNED')) return 'returned';
  if (has('DELAYED')) return 'delayed';
  if (has('SHIPPED') || has('IN_TRANSIT') || has('OUT_FOR_DELIVERY')) return 'in_transit';
  if (orderLines(order).length === 0 && !shipments.some(notYetShipped)) {
    // Without line quantities (Tryton), the shipments are the whole order.
    return shipments.every((x) => x.status === 'DELIVERED') ? 'delivered' : 'in_transit';
  }
  return fullyShipped(order) && shipments.every((x) => x.status === 'DELIVERED')
    ? 'delivered'
    : 'partially_delivered';
}

export function invoiceStateOf(invoices: readonly Fields[]): InvoiceState {
  // A draft invoice has not been sent to the customer yet.
  const issued = invoices.filter((i) => i.status !== 'DRAFT');
  if (issued.length === 0) return 'none';
  const live = issued.filter((i) => i.status !== 'VOID');
  if (live.length === 0) return 'void';
  if (live.some((i) => i.status === 'DISPUTED')) return 'disputed';
  if (live.every((i) => i.status === 'PAID')) return 'paid';
  if (live.some((i) => i.status === 'PAID' || i.status === 'PARTIALLY_PAID')) return 'partially_paid';
  return 'open';
}

/** The summary, or undefined while the order itself has not been captured yet. */
export function orderSummary(parts: OrderParts): OrderSummary | undefined {
  if (parts.order === undefined) return undefined;
  const tracking = [...parts.shipments]
    .sort(byNumber)
    .map((x) => s(x.trackingNumber))
    .filter((t): t is string => t !== null);
  return {
    erp_order: parts.orderNumber,
    erp_order_status: s(parts.order.status),
    erp_customer: s(parts.order.customerNumber),
    credit_state: creditStateOf(parts.credits),
    shipment_status: shipmentStateOf(parts.order, parts.shipments),
    invoice_status: invoiceStateOf(parts.invoices),
    tracking_number: tracking.length === 0 ? null : tracking.join(', '),
  };
}

const EXCEPTIONS: Readonly<Record<string, string>> = {
  DELAYED: 'is delayed',
  EXCEPTION: 'has a delivery exception',
  DAMAGED: 'was delivered damaged',
  RETURNED: 'is being returned to sender',
  PARTIALLY_DELIVERED: 'was only partly delivered',
};

/**
 * Every milestone the records show has happened, in the order they happen in a lifecycle. One per
 * credit hold placed and released, per shipment delivered or in exception, per invoice; the order-level
 * ones (confirmed, partially shipped, shipped) once per order.
 */
export function orderMilestones(parts: OrderParts): Milestone[] {
  const out: Milestone[] = [];
  const order = parts.orderNumber;
  const statusCode = s(parts.order?.statusCode);
  const credits = [...parts.credits].sort(byNumber);
  const shipments = [...parts.shipments].sort(byNumber);
  for (const c of credits) {
    const reason = s(c.reason) ?? 'credit';
    out.push({
      key: `credit-hold:${s(c.number)}`,
      body: `Order ${order} is on credit hold (${reason.toLowerCase().replaceAll('_', ' ')}, hold ${s(c.number)}).`,
    });
    if (c.status === 'RELEASED') {
      const by = s(c.releasedBy);
      out.push({
        key: `credit-release:${s(c.number)}`,
        body: `Credit hold ${s(c.number)} on order ${order} was released${by === null ? '' : ` by ${by}`}.`,
      });
    }
  }
  // Confirmed: accepted for fulfilment (released from any hold, or shipping), never when cancelled.
  // Sandbox orders say it with status codes, Tryton's mapper with a `confirmed` flag.
  const confirmed =
    parts.order?.confirmed === true ||
    (statusCode !== null && statusCode !== '20' && statusCode !== '99') ||
    shipments.length > 0;
  if (confirmed) out.push({ key: 'confirmed', body: `Order ${order} is confirmed.` });
  const orderedQty = orderLines(parts.order).reduce((sum, l) => sum + l.qtyOrdered, 0);
  const partial = shipments.find((x) => parts.order !== undefined && n(x.qty) < orderedQty);
  if (partial !== undefined) {
    out.push({
      key: 'partially-shipped',
      body: `Order ${order} is partially shipped (${s(partial.number)}${trackingText(partial)}).`,
    });
  }
  const live = liveShipments(shipments);
  const shipped =
    fullyShipped(parts.order) ||
    statusCode === '50' ||
    statusCode === '60' ||
    statusCode === '80' ||
    // Tryton says it on the sale (`shipment_state` sent): its shipments alone cannot tell, as a
    // backorder may follow. A milestone is never taken back, so nothing is guessed.
    parts.order?.shipped === true;
  if (shipped) {
    const list = live.map((x) => `${s(x.number)}${trackingText(x)}`).join(', ');
    out.push({ key: 'shipped', body: `Order ${order} is shipped${list === '' ? '' : ` (${list})`}.` });
  }
  for (const x of shipments) {
    const status = s(x.status) ?? '';
    // Damage is reported after delivery, so a damaged shipment was delivered first.
    if (status === 'DELIVERED' || status === 'DAMAGED') {
      out.push({
        key: `delivered:${s(x.number)}`,
        body: `Shipment ${s(x.number)} of order ${order} was delivered.`,
      });
    }
    const what = EXCEPTIONS[status];
    if (what !== undefined) {
      const reason = s(x.exceptionReason);
      out.push({
        key: `exception:${s(x.number)}:${status.toLowerCase()}`,
        body: `Delivery exception: shipment ${s(x.number)} of order ${order} ${what}${reason === null ? '' : ` (${reason})`}.`,
      });
    }
  }
  for (const i of [...parts.invoices].sort(byNumber)) {
    if (i.status === 'VOID' || i.status === 'DRAFT') continue;
    out.push({
      key: `invoiced:${s(i.number)}`,
      body:
        `Order ${order} was invoiced: ${s(i.number)} for ${n(i.amount).toFixed(2)} ${s(i.currency) ?? ''}`.trimEnd() +
        '.',
    });
  }
  return out;
}

function trackingText(shipment: Fields): string {
  const t = s(shipment.trackingNumber);
  return t === null ? '' : `, tracking ${t}`;
}
