// The sandbox ERP's books: customers, items, prices, sales orders, credit holds, shipments,
// invoices and returns, with the rules an ERP enforces itself (credit control on order entry,
// no shipping on hold, no cancelling once shipped, order status derived from shipped and invoiced
// quantities). Every change is reported to `onChange`, which the server turns into webhooks.
import type { SandboxClock } from '../clock.ts';
import { RecordTable, type RecordChange, type VersionedRecord } from '../record-table.ts';
import { SandboxHttpError } from '../sandbox-server.ts';
import {
  ORDER_STATUS,
  type Address,
  type CreditHold,
  type Customer,
  type Invoice,
  type Item,
  type OrderLine,
  type OrderStatusCode,
  type PriceEntry,
  type ReturnAuthorization,
  type SalesOrder,
  type Shipment,
  type ShipmentStatus,
} from './erp-types.ts';

export interface NewCustomer {
  name: string;
  email: string;
  phone?: string;
  currency?: string;
  payment_terms?: string;
  credit_limit: number;
  ship_to: Address;
}

export interface NewItem {
  sku: string;
  description: string;
  uom?: string;
  list_price: number;
  on_hand: number;
}

export interface NewOrder {
  customer_id: string;
  customer_po?: string | null;
  external_ref?: string | null;
  ship_to?: Address;
  lines: { item_id: string; qty: number; unit_price?: number }[];
}

export interface OrderChange {
  customer_po?: string | null;
  ship_to?: Address;
  /** Replaces the lines: an existing `line_no` keeps its number, lines without one are added. */
  lines?: { line_no?: number; item_id: string; qty: number; unit_price?: number }[];
}

export interface CreditCheckResult {
  customer_id: string;
  amount: number;
  approved: boolean;
  credit_limit: number;
  exposure: number;
  available: number;
  credit_status: 'OK' | 'HOLD';
  reason: 'CREDIT_LIMIT' | 'ACCOUNT_HOLD' | null;
}

export type ErpChangeListener = (kind: string, record: VersionedRecord, change: RecordChange) => void;

const OPEN_ORDER: readonly OrderStatusCode[] = ['20', '30', '40'];

function money(n: number): number {
  return Math.round(n * 100) / 100;
}

function notFound(what: string, id: string): SandboxHttpError {
  return new SandboxHttpError(404, 'NOT_FOUND', `${what} ${id} not found`);
}

function invalidState(message: string): SandboxHttpError {
  return new SandboxHttpError(409, 'INVALID_STATE', message);
}

export class ErpState {
  readonly customers: RecordTable<Customer>;
  readonly items: RecordTable<Item>;
  readonly prices: RecordTable<PriceEntry>;
  readonly orders: RecordTable<SalesOrder>;
  readonly holds: RecordTable<CreditHold>;
  readonly shipments: RecordTable<Shipment>;
  readonly invoices: RecordTable<Invoice>;
  readonly returns: RecordTable<ReturnAuthorization>;
  private readonly counters = new Map<string, number>();

  constructor(
    private readonly clock: SandboxClock,
    onChange: ErpChangeListener = () => {},
  ) {
    this.customers = new RecordTable<Customer>('customer', clock, onChange);
    this.items = new RecordTable<Item>('item', clock, onChange);
    this.prices = new RecordTable<PriceEntry>('price', clock, onChange);
    this.orders = new RecordTable<SalesOrder>('sales_order', clock, onChange);
    this.holds = new RecordTable<CreditHold>('credit_hold', clock, onChange);
    this.shipments = new RecordTable<Shipment>('shipment', clock, onChange);
    this.invoices = new RecordTable<Invoice>('invoice', clock, onChange);
    this.returns = new RecordTable<ReturnAuthorization>('return', clock, onChange);
  }

  private nextNumber(prefix: string, start: number, width: number): string {
    const n = (this.counters.get(prefix) ?? start) + 1;
    this.counters.set(prefix, n);
    return `${prefix}-${String(n).padStart(width, '0')}`;
  }

  // ---- master data --------------------------------------------------------------------------

  createCustomer(input: NewCustomer): Customer {
    return this.customers.insert(
      {
        name: input.name,
        email: input.email,
        phone: input.phone ?? '',
        currency: input.currency ?? 'USD',
        payment_terms: input.payment_terms ?? 'NET30',
        credit_limit: input.credit_limit,
        credit_status: 'OK',
        ship_to: input.ship_to,
      },
      this.nextNumber('CUST', 10000, 5),
    );
  }

  updateCustomer(
    id: string,
    patch: Partial<Pick<Customer, 'name' | 'email' | 'phone' | 'credit_limit' | 'credit_status' | 'ship_to'>>,
  ): Customer {
    const updated = this.customers.update(id, (c) => Object.assign(c, patch));
    if (updated === undefined) throw notFound('customer', id);
    return updated;
  }

  createItem(input: NewItem): Item {
    const item = this.items.insert(
      {
        sku: input.sku,
        description: input.description,
        uom: input.uom ?? 'EA',
        list_price: input.list_price,
        on_hand: input.on_hand,
      },
      this.nextNumber('ITM', 1000, 4),
    );
    this.prices.insert(
      { item_id: item.id, customer_id: null, unit_price: item.list_price, currency: 'USD' },
      this.nextNumber('PL', 0, 6),
    );
    return item;
  }

  setPrice(itemId: string, customerId: string | null, unitPrice: number): PriceEntry {
    if (!this.items.has(itemId)) throw notFound('item', itemId);
    if (customerId !== null && !this.customers.has(customerId)) throw notFound('customer', customerId);
    const existing = this.prices.all((p) => p.item_id === itemId && p.customer_id === customerId)[0];
    if (existing !== undefined) {
      return this.prices.update(existing.id, (p) => (p.unit_price = unitPrice)) as PriceEntry;
    }
    return this.prices.insert(
      { item_id: itemId, customer_id: customerId, unit_price: unitPrice, currency: 'USD' },
      this.nextNumber('PL', 0, 6),
    );
  }

  /** Customer-specific price if there is one, else the list price. */
  priceFor(itemId: string, customerId: string): number {
    const entries = this.prices.all(
      (p) => p.item_id === itemId && (p.customer_id === customerId || p.customer_id === null),
    );
    const special = entries.find((p) => p.customer_id === customerId);
    const list = entries.find((p) => p.customer_id === null);
    const price = special ?? list;
    if (price === undefined) throw notFound('price for item', itemId);
    return price.unit_price;
  }

  // ---- synchronous checks -------------------------------------------------------------------

  /** Open invoices plus open orders' uninvoiced value: what the customer could owe. */
  exposure(customerId: string, excludeOrderId?: string): number {
    let total = 0;
    for (const inv of this.invoices.all(
      (i) => i.customer_id === customerId && i.status !== 'VOID' && i.status !== 'PAID',
    )) {
      total += inv.amount - inv.amount_paid;
    }
    for (const order of this.orders.all(
      (o) => o.customer_id === customerId && OPEN_ORDER.includes(o.status_code) && o.id !== excludeOrderId,
    )) {
      for (const line of order.lines) total += (line.qty_ordered - line.qty_invoiced) * line.unit_price;
    }
    return money(total);
  }

  creditCheck(customerId: string, amount: number, excludeOrderId?: string): CreditCheckResult {
    const customer = this.customers.get(customerId);
    if (customer === undefined) throw notFound('customer', customerId);
    const exposure = this.exposure(customerId, excludeOrderId);
    const available = money(customer.credit_limit - exposure);
    const reason =
      customer.credit_status === 'HOLD' ? 'ACCOUNT_HOLD' : amount > available ? 'CREDIT_LIMIT' : null;
    return {
      customer_id: customerId,
      amount: money(amount),
      approved: reason === null,
      credit_limit: customer.credit_limit,
      exposure,
      available,
      credit_status: customer.credit_status,
      reason,
    };
  }

  stockCheck(lines: { item_id: string; qty: number }[]): {
    lines: { item_id: string; qty: number; available: number; ok: boolean }[];
    all_available: boolean;
  } {
    const out = lines.map((l) => {
      const item = this.items.get(l.item_id);
      if (item === undefined) throw notFound('item', l.item_id);
      const available = item.on_hand - this.allocated(l.item_id);
      return { item_id: l.item_id, qty: l.qty, available, ok: available >= l.qty };
    });
    return { lines: out, all_available: out.every((l) => l.ok) };
  }

  /** Units on open orders not yet shipped. */
  private allocated(itemId: string): number {
    let n = 0;
    for (const o of this.orders.all((o) => OPEN_ORDER.includes(o.status_code))) {
      for (const l of o.lines) if (l.item_id === itemId) n += l.qty_ordered - l.qty_shipped;
    }
    return n;
  }

  // ---- sales orders -------------------------------------------------------------------------

  private buildLines(
    customerId: string,
    lines: { line_no?: number; item_id: string; qty: number; unit_price?: number }[],
    previous: OrderLine[] = [],
  ): OrderLine[] {
    if (lines.length === 0) throw new SandboxHttpError(422, 'VALIDATION', 'an order needs at least one line');
    let nextLineNo = Math.max(0, ...previous.map((l) => l.line_no)) + 10;
    return lines.map((l) => {
      const item = this.items.get(l.item_id);
      if (item === undefined) throw notFound('item', l.item_id);
      if (!(l.qty > 0)) throw new SandboxHttpError(422, 'VALIDATION', `qty of ${l.item_id} must be positive`);
      const before = l.line_no === undefined ? undefined : previous.find((p) => p.line_no === l.line_no);
      if (l.line_no !== undefined && before === undefined) {
        throw new SandboxHttpError(422, 'VALIDATION', `line ${l.line_no} does not exist`);
      }
      const lineNo = before?.line_no ?? nextLineNo;
      if (before === undefined) nextLineNo += 10;
      return {
        line_no: lineNo,
        item_id: item.id,
        description: item.description,
        qty_ordered: l.qty,
        qty_shipped: before?.qty_shipped ?? 0,
        qty_invoiced: before?.qty_invoiced ?? 0,
        unit_price: l.unit_price ?? before?.unit_price ?? this.priceFor(item.id, customerId),
      };
    });
  }

  createOrder(input: NewOrder): SalesOrder {
    const customer = this.customers.get(input.customer_id);
    if (customer === undefined) throw notFound('customer', input.customer_id);
    const lines = this.buildLines(customer.id, input.lines);
    const total = money(lines.reduce((s, l) => s + l.qty_ordered * l.unit_price, 0));
    const check = this.creditCheck(customer.id, total);
    const id = this.nextNumber('SO', 100000, 6);
    const order = this.orders.insert(
      {
        customer_id: customer.id,
        customer_po: input.customer_po ?? null,
        external_ref: input.external_ref ?? null,
        order_date: this.clock.stamp(),
        ship_to: input.ship_to ?? customer.ship_to,
        status_code: check.approved ? '30' : '20',
        status: check.approved ? ORDER_STATUS['30'] : ORDER_STATUS['20'],
        hold_code: check.approved ? null : 'CR',
        currency: customer.currency,
        total_amount: total,
        lines,
        cancel_reason: null,
      },
      id,
    );
    if (!check.approved) this.placeHold(order, check.reason ?? 'CREDIT_LIMIT', null);
    return order;
  }

  getOrder(id: string): SalesOrder {
    const order = this.orders.get(id);
    if (order === undefined) throw notFound('sales order', id);
    return order;
  }

  /** Changes an order that has not shipped; a larger total goes through credit control again. */
  changeOrder(id: string, change: OrderChange): SalesOrder {
    const order = this.getOrder(id);
    if (order.status_code !== '20' && order.status_code !== '30') {
      throw invalidState(`sales order ${id} is ${order.status} and can no longer be changed`);
    }
    const lines =
      change.lines === undefined
        ? order.lines
        : this.buildLines(order.customer_id, change.lines, order.lines);
    const total = money(lines.reduce((s, l) => s + l.qty_ordered * l.unit_price, 0));
    const recheck = total > order.total_amount && order.status_code === '30';
    const check = recheck ? this.creditCheck(order.customer_id, total, id) : undefined;
    const held = check !== undefined && !check.approved;
    const updated = this.orders.update(id, (o) => {
      if (change.customer_po !== undefined) o.customer_po = change.customer_po;
      if (change.ship_to !== undefined) o.ship_to = change.ship_to;
      o.lines = lines;
      o.total_amount = total;
      if (held) {
        o.status_code = '20';
        o.status = ORDER_STATUS['20'];
        o.hold_code = 'CR';
      }
    }) as SalesOrder;
    if (held) this.placeHold(updated, check.reason ?? 'CREDIT_LIMIT', null);
    return updated;
  }

  private placeHold(order: SalesOrder, reason: CreditHold['reason'], note: string | null): CreditHold {
    return this.holds.insert(
      {
        order_id: order.id,
        customer_id: order.customer_id,
        reason,
        amount: order.total_amount,
        status: 'ACTIVE',
        placed_at: this.clock.stamp(),
        released_at: null,
        released_by: null,
        note,
      },
      this.nextNumber('CH', 0, 6),
    );
  }

  holdOrder(id: string, note: string | null): SalesOrder {
    const order = this.getOrder(id);
    if (order.status_code !== '30' && order.status_code !== '40') {
      throw invalidState(`sales order ${id} is ${order.status} and cannot be put on hold`);
    }
    const updated = this.orders.update(id, (o) => {
      o.status_code = '20';
      o.status = ORDER_STATUS['20'];
      o.hold_code = 'CR';
    }) as SalesOrder;
    this.placeHold(updated, 'MANUAL', note);
    return updated;
  }

  releaseOrder(id: string, releasedBy: string, note: string | null): SalesOrder {
    const order = this.getOrder(id);
    if (order.status_code !== '20') throw invalidState(`sales order ${id} is ${order.status}, not on hold`);
    for (const hold of this.holds.all((h) => h.order_id === id && h.status === 'ACTIVE')) {
      this.holds.update(hold.id, (h) => {
        h.status = 'RELEASED';
        h.released_at = this.clock.stamp();
        h.released_by = releasedBy;
        h.note = note ?? h.note;
      });
    }
    return this.orders.update(id, (o) => {
      o.hold_code = null;
      this.deriveStatus(o);
    }) as SalesOrder;
  }

  cancelOrder(id: string, reason: string): SalesOrder {
    const order = this.getOrder(id);
    if (order.lines.some((l) => l.qty_shipped > 0) || !OPEN_ORDER.includes(order.status_code)) {
      throw invalidState(`sales order ${id} is ${order.status} and cannot be cancelled`);
    }
    for (const hold of this.holds.all((h) => h.order_id === id && h.status === 'ACTIVE')) {
      this.holds.update(hold.id, (h) => (h.status = 'CANCELLED'));
    }
    return this.orders.update(id, (o) => {
      o.status_code = '99';
      o.status = ORDER_STATUS['99'];
      o.hold_code = null;
      o.cancel_reason = reason;
    }) as SalesOrder;
  }

  /** Status from quantities and payments, for an order not on hold and not cancelled. */
  private deriveStatus(o: SalesOrder): void {
    if (o.status_code === '99' || o.hold_code !== null) return;
    const shipped = o.lines.every((l) => l.qty_shipped >= l.qty_ordered);
    const anyShipped = o.lines.some((l) => l.qty_shipped > 0);
    const invoiced = shipped && o.lines.every((l) => l.qty_invoiced >= l.qty_ordered);
    let code: OrderStatusCode = '30';
    if (invoiced) {
      const invoices = this.invoices.all((i) => i.order_id === o.id && i.status !== 'VOID');
      code = invoices.length > 0 && invoices.every((i) => i.status === 'PAID') ? '80' : '60';
    } else if (shipped) code = '50';
    else if (anyShipped) code = '40';
    o.status_code = code;
    o.status = ORDER_STATUS[code];
  }

  private refreshOrder(id: string): void {
    this.orders.update(id, (o) => this.deriveStatus(o));
  }

  // ---- shipments ----------------------------------------------------------------------------

  /** Ship confirmation: quantities leave stock and the order moves to partially shipped / shipped. */
  createShipment(input: {
    order_id: string;
    lines: { line_no: number; qty: number }[];
    carrier?: string;
    tracking_number?: string | null;
  }): Shipment {
    const order = this.getOrder(input.order_id);
    if (order.status_code !== '30' && order.status_code !== '40') {
      throw invalidState(`sales order ${order.id} is ${order.status} and cannot ship`);
    }
    if (input.lines.length === 0) throw new SandboxHttpError(422, 'VALIDATION', 'a shipment needs lines');
    const shipLines = input.lines.map((l) => {
      const line = order.lines.find((ol) => ol.line_no === l.line_no);
      if (line === undefined)
        throw new SandboxHttpError(422, 'VALIDATION', `line ${l.line_no} does not exist`);
      if (!(l.qty > 0) || line.qty_shipped + l.qty > line.qty_ordered) {
        throw new SandboxHttpError(422, 'VALIDATION', `line ${l.line_no}: cannot ship ${l.qty}`);
      }
      return { line_no: l.line_no, item_id: line.item_id, qty: l.qty };
    });
    const shipment = this.shipments.insert(
      {
        order_id: order.id,
        lines: shipLines,
        carrier: input.carrier ?? 'SANDBOX_FREIGHT',
        tracking_number: input.tracking_number ?? null,
        status: 'SHIPPED',
        shipped_at: this.clock.stamp(),
        delivered_at: null,
        delivered_qty: null,
        exception_reason: null,
      },
      this.nextNumber('SH', 200000, 6),
    );
    for (const l of shipLines) this.items.update(l.item_id, (i) => (i.on_hand -= l.qty));
    this.orders.update(order.id, (o) => {
      for (const l of shipLines) {
        const line = o.lines.find((ol) => ol.line_no === l.line_no) as OrderLine;
        line.qty_shipped += l.qty;
      }
      this.deriveStatus(o);
    });
    return shipment;
  }

  /** Carrier status reported back to the ERP (proof of delivery, exceptions). */
  updateShipmentStatus(
    id: string,
    update: {
      status: ShipmentStatus;
      tracking_number?: string;
      exception_reason?: string | null;
      delivered_qty?: number;
    },
  ): Shipment {
    const shipment = this.shipments.get(id);
    if (shipment === undefined) throw notFound('shipment', id);
    return this.shipments.update(id, (s) => {
      s.status = update.status;
      if (update.tracking_number !== undefined) s.tracking_number = update.tracking_number;
      if (update.exception_reason !== undefined) s.exception_reason = update.exception_reason;
      if (update.status === 'DELIVERED' || update.status === 'PARTIALLY_DELIVERED') {
        s.delivered_at = this.clock.stamp();
        s.delivered_qty = update.delivered_qty ?? s.lines.reduce((n, l) => n + l.qty, 0);
      }
    }) as Shipment;
  }

  // ---- invoices -----------------------------------------------------------------------------

  /** Invoices what has shipped and not been invoiced (of one shipment, or of the whole order). */
  createInvoice(input: { order_id: string; shipment_id?: string | null }): Invoice {
    const order = this.getOrder(input.order_id);
    let candidates: { line_no: number; qty: number }[];
    if (input.shipment_id !== undefined && input.shipment_id !== null) {
      const shipment = this.shipments.get(input.shipment_id);
      if (shipment === undefined || shipment.order_id !== order.id)
        throw notFound('shipment', input.shipment_id);
      if (this.invoices.all((i) => i.shipment_id === shipment.id && i.status !== 'VOID').length > 0) {
        throw invalidState(`shipment ${shipment.id} is already invoiced`);
      }
      candidates = shipment.lines;
    } else {
      candidates = order.lines.map((l) => ({ line_no: l.line_no, qty: l.qty_shipped - l.qty_invoiced }));
    }
    const lines = candidates
      .map((c) => {
        const line = order.lines.find((l) => l.line_no === c.line_no) as OrderLine;
        const qty = Math.min(c.qty, line.qty_shipped - line.qty_invoiced);
        return {
          line_no: c.line_no,
          item_id: line.item_id,
          qty,
          unit_price: line.unit_price,
          amount: money(qty * line.unit_price),
        };
      })
      .filter((l) => l.qty > 0);
    if (lines.length === 0) throw invalidState(`sales order ${order.id} has nothing shipped to invoice`);
    const today = this.clock.nowMs();
    const invoice = this.invoices.insert(
      {
        order_id: order.id,
        customer_id: order.customer_id,
        shipment_id: input.shipment_id ?? null,
        lines,
        currency: order.currency,
        amount: money(lines.reduce((s, l) => s + l.amount, 0)),
        amount_paid: 0,
        status: 'OPEN',
        invoice_date: this.clock.stamp(),
        due_date: new Date(today + 30 * 86_400_000).toISOString().slice(0, 10),
        dispute_reason: null,
      },
      this.nextNumber('INV', 300000, 6),
    );
    this.orders.update(order.id, (o) => {
      for (const l of lines)
        (o.lines.find((ol) => ol.line_no === l.line_no) as OrderLine).qty_invoiced += l.qty;
      this.deriveStatus(o);
    });
    return invoice;
  }

  payInvoice(id: string, amount: number): Invoice {
    const invoice = this.invoices.get(id);
    if (invoice === undefined) throw notFound('invoice', id);
    if (invoice.status === 'VOID' || invoice.status === 'PAID')
      throw invalidState(`invoice ${id} is ${invoice.status}`);
    if (!(amount > 0)) throw new SandboxHttpError(422, 'VALIDATION', 'amount must be positive');
    const updated = this.invoices.update(id, (i) => {
      i.amount_paid = money(Math.min(i.amount, i.amount_paid + amount));
      i.status = i.amount_paid >= i.amount ? 'PAID' : 'PARTIALLY_PAID';
    }) as Invoice;
    this.refreshOrder(invoice.order_id);
    return updated;
  }

  disputeInvoice(id: string, reason: string): Invoice {
    const invoice = this.invoices.get(id);
    if (invoice === undefined) throw notFound('invoice', id);
    if (invoice.status === 'VOID' || invoice.status === 'PAID')
      throw invalidState(`invoice ${id} is ${invoice.status}`);
    return this.invoices.update(id, (i) => {
      i.status = 'DISPUTED';
      i.dispute_reason = reason;
    }) as Invoice;
  }

  // ---- returns ------------------------------------------------------------------------------

  createReturn(input: {
    order_id: string;
    lines: { line_no: number; qty: number }[];
    reason: string;
  }): ReturnAuthorization {
    const order = this.getOrder(input.order_id);
    const lines = input.lines.map((l) => {
      const line = order.lines.find((ol) => ol.line_no === l.line_no);
      if (line === undefined || !(l.qty > 0) || l.qty > line.qty_shipped) {
        throw new SandboxHttpError(422, 'VALIDATION', `line ${l.line_no}: cannot return ${l.qty}`);
      }
      return { line_no: l.line_no, item_id: line.item_id, qty: l.qty };
    });
    return this.returns.insert(
      {
        order_id: order.id,
        customer_id: order.customer_id,
        lines,
        reason: input.reason,
        status: 'REQUESTED',
      },
      this.nextNumber('RMA', 400000, 6),
    );
  }

  advanceReturn(id: string, to: 'AUTHORIZED' | 'RECEIVED' | 'CREDITED' | 'REJECTED'): ReturnAuthorization {
    const rma = this.returns.get(id);
    if (rma === undefined) throw notFound('return', id);
    const allowed: Record<ReturnAuthorization['status'], readonly string[]> = {
      REQUESTED: ['AUTHORIZED', 'REJECTED'],
      AUTHORIZED: ['RECEIVED', 'REJECTED'],
      RECEIVED: ['CREDITED'],
      CREDITED: [],
      REJECTED: [],
    };
    if (!allowed[rma.status].includes(to))
      throw invalidState(`return ${id} is ${rma.status}, cannot become ${to}`);
    if (to === 'RECEIVED')
      for (const l of rma.lines) this.items.update(l.item_id, (i) => (i.on_hand += l.qty));
    return this.returns.update(id, (r) => (r.status = to)) as ReturnAuthorization;
  }
}
