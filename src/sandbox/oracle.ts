// The demo checker's ground truth, read straight from the sandbox systems' own state (never
// through Crossdock): for each ERP order its order, shipment, invoice and credit state, and for
// each helpdesk case its custom fields, comments and the order numbers it names. A checker
// compares what Crossdock wrote onto each case against `orders()`.
import type { SandboxErp } from './erp/erp-server.ts';
import type { Invoice, SalesOrder, Shipment } from './erp/erp-types.ts';
import type { SandboxHelpdesk } from './helpdesk/helpdesk-server.ts';
import type { CustomFieldValue } from './helpdesk/helpdesk-types.ts';

/** Aggregate shipment state of an order; see `shipmentStatusOf` for the rule. */
export type OrderShipmentStatus =
  | 'NONE'
  | 'IN_TRANSIT'
  | 'DELAYED'
  | 'PARTIALLY_DELIVERED'
  | 'DELIVERED'
  | 'EXCEPTION'
  | 'DAMAGED'
  | 'RETURNED';
export type OrderInvoiceStatus = 'NONE' | 'OPEN' | 'PARTIALLY_PAID' | 'PAID' | 'DISPUTED' | 'VOID';
/** `OK`: never held; `ON_HOLD`: an active credit hold; `RELEASED`: held, then released. */
export type OrderCreditState = 'OK' | 'ON_HOLD' | 'RELEASED';

export interface OrderTruth {
  readonly orderId: string;
  readonly externalRef: string | null;
  readonly customerId: string;
  readonly statusCode: string;
  readonly status: string;
  readonly creditState: OrderCreditState;
  readonly shipmentStatus: OrderShipmentStatus;
  readonly invoiceStatus: OrderInvoiceStatus;
  readonly shipments: readonly { id: string; status: string; trackingNumber: string | null }[];
  readonly invoices: readonly { id: string; status: string; amount: number; amountPaid: number }[];
  readonly creditHolds: readonly { id: string; status: string; reason: string }[];
  readonly returns: readonly { id: string; status: string }[];
  readonly updatedAt: string;
}

export interface CaseTruth {
  readonly caseId: number;
  readonly subject: string;
  readonly description: string;
  readonly status: string;
  readonly customFields: Readonly<Record<string, CustomFieldValue>>;
  readonly comments: readonly {
    id: number;
    body: string;
    public: boolean;
    author: string;
    createdAt: string;
  }[];
  /** ERP order numbers (`SO-123456`) in the subject or description, in order of appearance. */
  readonly mentionedOrders: readonly string[];
  readonly updatedAt: string;
}

export interface SandboxOracle {
  /** Every ERP sales order's final state, in order number order. */
  orders(): OrderTruth[];
  order(orderId: string): OrderTruth | undefined;
  /** Every helpdesk case with its fields and comments, in case id order. */
  cases(): CaseTruth[];
  case(caseId: number): CaseTruth | undefined;
  /** Helpdesk comments containing `marker` (e.g. `[cd:<key>]`), to count writes. */
  commentsContaining(marker: string): { caseId: number; commentId: number; body: string }[];
}

const ORDER_NUMBER = /\bSO-\d{6}\b/g;

export function mentionedOrders(text: string): string[] {
  return [...new Set(text.match(ORDER_NUMBER) ?? [])];
}

/**
 * Worst first: any damaged, else any exception, returned, delayed; else any still moving is
 * IN_TRANSIT; else all delivered and the order fully shipped is DELIVERED, otherwise
 * PARTIALLY_DELIVERED (a partial drop, or more still to ship).
 */
export function shipmentStatusOf(order: SalesOrder, shipments: readonly Shipment[]): OrderShipmentStatus {
  if (shipments.length === 0) return 'NONE';
  const has = (s: string) => shipments.some((x) => x.status === s);
  if (has('DAMAGED')) return 'DAMAGED';
  if (has('EXCEPTION')) return 'EXCEPTION';
  if (has('RETURNED')) return 'RETURNED';
  if (has('DELAYED')) return 'DELAYED';
  if (has('SHIPPED') || has('IN_TRANSIT') || has('OUT_FOR_DELIVERY')) return 'IN_TRANSIT';
  const fullyShipped = order.lines.every((l) => l.qty_shipped >= l.qty_ordered);
  return fullyShipped && shipments.every((s) => s.status === 'DELIVERED')
    ? 'DELIVERED'
    : 'PARTIALLY_DELIVERED';
}

/** Any disputed wins; all void is VOID; all (non-void) paid is PAID; some money in is PARTIALLY_PAID. */
export function invoiceStatusOf(invoices: readonly Invoice[]): OrderInvoiceStatus {
  if (invoices.length === 0) return 'NONE';
  const live = invoices.filter((i) => i.status !== 'VOID');
  if (live.length === 0) return 'VOID';
  if (live.some((i) => i.status === 'DISPUTED')) return 'DISPUTED';
  if (live.every((i) => i.status === 'PAID')) return 'PAID';
  if (live.some((i) => i.status === 'PAID' || i.status === 'PARTIALLY_PAID')) return 'PARTIALLY_PAID';
  return 'OPEN';
}

export function createOracle(erp: SandboxErp, helpdesk: SandboxHelpdesk): SandboxOracle {
  const truthOf = (order: SalesOrder): OrderTruth => {
    const s = erp.state;
    const shipments = s.shipments.all((x) => x.order_id === order.id);
    const invoices = s.invoices.all((x) => x.order_id === order.id);
    const holds = s.holds.all((x) => x.order_id === order.id);
    const returns = s.returns.all((x) => x.order_id === order.id);
    const creditState: OrderCreditState = holds.some((h) => h.status === 'ACTIVE')
      ? 'ON_HOLD'
      : holds.some((h) => h.status === 'RELEASED')
        ? 'RELEASED'
        : 'OK';
    return {
      orderId: order.id,
      externalRef: order.external_ref,
      customerId: order.customer_id,
      statusCode: order.status_code,
      status: order.status,
      creditState,
      shipmentStatus: shipmentStatusOf(order, shipments),
      invoiceStatus: invoiceStatusOf(invoices),
      shipments: shipments.map((x) => ({ id: x.id, status: x.status, trackingNumber: x.tracking_number })),
      invoices: invoices.map((x) => ({
        id: x.id,
        status: x.status,
        amount: x.amount,
        amountPaid: x.amount_paid,
      })),
      creditHolds: holds.map((x) => ({ id: x.id, status: x.status, reason: x.reason })),
      returns: returns.map((x) => ({ id: x.id, status: x.status })),
      updatedAt: order.updated_at,
    };
  };
  const caseTruth = (caseId: number): CaseTruth | undefined => {
    const c = helpdesk.state.cases.get(caseId);
    if (c === undefined) return undefined;
    return {
      caseId: c.id,
      subject: c.subject,
      description: c.description,
      status: c.status,
      customFields: c.custom_fields,
      comments: helpdesk.state.comments
        .all((m) => m.case_id === c.id)
        .map((m) => ({
          id: m.id,
          body: m.body,
          public: m.public,
          author: m.author,
          createdAt: m.created_at,
        })),
      mentionedOrders: mentionedOrders(`${c.subject}\n${c.description}`),
      updatedAt: c.updated_at,
    };
  };
  return {
    orders: () => erp.state.orders.all().map(truthOf),
    order: (orderId) => {
      const order = erp.state.orders.get(orderId);
      return order === undefined ? undefined : truthOf(order);
    },
    cases: () => helpdesk.state.cases.all().map((c) => caseTruth(c.id) as CaseTruth),
    case: caseTruth,
    commentsContaining: (marker) =>
      helpdesk.state
        .searchComments(marker)
        .map((m) => ({ caseId: m.case_id, commentId: m.id, body: m.body })),
  };
}
