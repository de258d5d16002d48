// The traffic generator: drives realistic order lifecycles through the sandbox systems' HTTP APIs,
// the way the people and machines around a distributor would. Storefront and EDI orders, credit
// holds and releases, changes after submission, partial shipments, carrier scans (in transit,
// delayed, delivered, exceptions, damage, partial drops), invoices, payments and disputes, and
// customers opening helpdesk cases that name their order. Every decision comes from a seeded
// generator and steps run one at a time, so the same seed against fresh systems gives the same run.
import { setTimeout as sleep } from 'node:timers/promises';
import { ulid } from 'ulid';
import type { CreditCheckResult } from './erp/erp-state.ts';
import type { Customer, Item, SalesOrder, Shipment } from './erp/erp-types.ts';
import type { CarrierShipment, TrackingCode } from './carrier/carrier-server.ts';
import type { Case } from './helpdesk/helpdesk-types.ts';
import { Rng } from './rng.ts';
import { SandboxClient } from './sandbox-client.ts';
import { sandboxAuthHeaders, type SandboxSystem } from './sandbox.ts';
import type { WebOrder } from './storefront/storefront-server.ts';

/** Where the systems are: a started `Sandbox` fits. */
export interface TrafficTargets {
  readonly urls: Readonly<Record<SandboxSystem, string>>;
  readonly apiKeys: Readonly<Record<SandboxSystem, string>>;
}

export interface TrafficOptions {
  /** Seed of every decision (default 1). */
  readonly seed?: number;
  /** Customers created in the ERP before the first order (default 12). */
  readonly customers?: number;
  /** Items created in the ERP before the first order (default 10). */
  readonly items?: number;
  /** Order lifecycles in flight at once, their steps interleaved (default 4). */
  readonly concurrency?: number;
  /** Chance that an order without trouble gets a helpdesk case (default 0.15). */
  readonly caseRate?: number;
  /** Chance that a troubled order (held, delayed, exception, damaged, disputed) gets one (default 0.6). */
  readonly troubledCaseRate?: number;
  /** Timeout of one HTTP attempt, in ms (default 5000). */
  readonly requestTimeoutMs?: number;
}

export type DeliveryOutcome = 'delivered' | 'delayed' | 'exception' | 'damaged' | 'partial_delivery';
export type CaseKind =
  'status' | 'credit_hold' | 'delayed' | 'exception' | 'damaged' | 'partial_delivery' | 'invoice';

export interface TrafficOrder {
  readonly index: number;
  orderId: string | null;
  webOrderId: string | null;
  readonly customerId: string;
  readonly channel: 'web' | 'edi';
  changedAfterSubmission: boolean;
  held: boolean;
  released: boolean;
  cancelled: boolean;
  readonly shipments: { id: string; trackingNumber: string; outcome: DeliveryOutcome }[];
  readonly invoices: string[];
  payment: 'paid' | 'open' | 'disputed' | null;
  returnId: string | null;
  /** True once every planned step ran. */
  completed: boolean;
}

export interface TrafficCase {
  readonly caseId: number;
  readonly orderId: string;
  readonly kind: CaseKind;
  readonly subject: string;
  /** Where the order number appears. */
  readonly namedIn: 'subject' | 'body';
}

export interface TrafficStep {
  readonly seq: number;
  /** Index of the order lifecycle (-1 for setup). */
  readonly order: number;
  readonly action: string;
  readonly ref: string;
}

export interface TrafficResult {
  readonly seed: number;
  readonly orders: TrafficOrder[];
  readonly cases: TrafficCase[];
  readonly steps: TrafficStep[];
  /** Lifecycles that stopped on an error a retry could not fix. */
  readonly errors: { order: number; message: string }[];
  /** Attempts retried after 429/5xx (`status`) or a dropped or timed-out request (`network`). */
  readonly retries: { status: number; network: number };
}

export interface ContinuousTraffic {
  /** Stops after the current step; resolves with everything generated so far. */
  stop(): Promise<TrafficResult>;
  /** What has been generated so far. */
  snapshot(): TrafficResult;
}

const COMPANIES = [
  'Acme Industrial',
  'Northwind Supply',
  'Bluefin Marine',
  'Cedar & Pine Builders',
  'Delta Foodservice',
  'Evergreen Clinics',
  'Foxglove Labs',
  'Granite Works',
  'Harbor Logistics',
  'Ironwood Farms',
  'Juniper Hotels',
  'Keystone Schools',
  'Lakeside Brewing',
  'Maple Auto Parts',
  'Nimbus Data',
  'Oakridge Dental',
  'Pioneer Plumbing',
  'Quarry Stoneworks',
  'Redwood Cafes',
  'Summit Fitness',
];
const CITIES = [
  ['Springfield', 'US'],
  ['Rotterdam', 'NL'],
  ['Lyon', 'FR'],
  ['Leeds', 'GB'],
  ['Porto', 'PT'],
  ['Graz', 'AT'],
] as const;
const PRODUCTS = [
  ['Nitrile gloves, box of 100', 12.5],
  ['Pallet wrap 500 mm', 18.9],
  ['Safety goggles', 7.4],
  ['Hand sanitizer 5 L', 24.0],
  ['Cable ties 300 mm (1000)', 15.2],
  ['Hi-vis vest', 6.8],
  ['Steel shelving unit', 189.0],
  ['Label printer', 249.0],
  ['Packing tape 48 mm', 2.9],
  ['Hand truck', 129.0],
  ['First aid kit', 39.5],
  ['Ear defenders', 14.75],
] as const;
const EXCEPTIONS = [
  'Recipient not available',
  'Address not found',
  'Refused by consignee',
  'Held at customs',
];

type Lifecycle = AsyncGenerator<void, void, void>;

class TrafficRun {
  private readonly rng: Rng;
  private readonly schedule: Rng;
  private readonly runId = ulid();
  private readonly erp: SandboxClient;
  private readonly helpdesk: SandboxClient;
  private readonly carrier: SandboxClient;
  private readonly storefront: SandboxClient;
  private customers: Customer[] = [];
  private items: Item[] = [];
  readonly orders: TrafficOrder[] = [];
  readonly cases: TrafficCase[] = [];
  readonly steps: TrafficStep[] = [];
  readonly errors: { order: number; message: string }[] = [];

  constructor(
    targets: TrafficTargets,
    private readonly options: TrafficOptions,
  ) {
    const seed = options.seed ?? 1;
    this.rng = new Rng(seed);
    this.schedule = this.rng.fork(0x5eed);
    const auth = sandboxAuthHeaders(targets.apiKeys);
    const client = (system: SandboxSystem) =>
      new SandboxClient({
        system,
        baseUrl: targets.urls[system],
        authHeaders: { [auth[system].header]: auth[system].value },
        ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
      });
    this.erp = client('erp');
    this.helpdesk = client('helpdesk');
    this.carrier = client('carrier');
    this.storefront = client('storefront');
  }

  result(): TrafficResult {
    const clients = [this.erp, this.helpdesk, this.carrier, this.storefront];
    return {
      seed: this.options.seed ?? 1,
      orders: this.orders.map((o) => ({ ...o, shipments: [...o.shipments], invoices: [...o.invoices] })),
      cases: [...this.cases],
      steps: [...this.steps],
      errors: [...this.errors],
      retries: {
        status: clients.reduce((n, c) => n + c.retries.status, 0),
        network: clients.reduce((n, c) => n + c.retries.network, 0),
      },
    };
  }

  private log(order: number, action: string, ref: string): void {
    this.steps.push({ seq: this.steps.length + 1, order, action, ref });
  }

  private key(...parts: (string | number)[]): string {
    return `traffic-${this.runId}-${parts.join('-')}`;
  }

  async setup(): Promise<void> {
    const rng = this.rng.fork(1);
    for (let i = 0; i < (this.options.items ?? 10); i++) {
      const [description, price] = PRODUCTS[i % PRODUCTS.length] as readonly [string, number];
      const item = await this.erp.post<Item>(
        '/api/v1/items',
        { sku: `SKU-${String(i + 1).padStart(4, '0')}`, description, list_price: price, on_hand: 100_000 },
        { idempotencyKey: this.key('item', i) },
      );
      this.items.push(item);
      this.log(-1, 'erp.item.created', item.id);
    }
    for (let i = 0; i < (this.options.customers ?? 12); i++) {
      const name = `${COMPANIES[i % COMPANIES.length] as string}${i >= COMPANIES.length ? ` ${Math.floor(i / COMPANIES.length) + 1}` : ''}`;
      const [city, country] = rng.pick(CITIES);
      // About one customer in four has a tight limit, so credit holds happen.
      const tight = rng.chance(0.25);
      const customer = await this.erp.post<Customer>(
        '/api/v1/customers',
        {
          name,
          email: `orders@${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.example`,
          phone: `+1-555-${String(rng.int(1000, 9999))}`,
          credit_limit: tight ? rng.int(5, 15) * 100 : rng.int(50, 200) * 1000,
          ship_to: {
            line1: `${rng.int(1, 400)} Commerce Way`,
            city,
            postal_code: String(rng.int(10000, 99999)),
            country,
          },
        },
        { idempotencyKey: this.key('customer', i) },
      );
      this.customers.push(customer);
      this.log(-1, 'erp.customer.created', customer.id);
    }
  }

  /** Starts lifecycle `index`; it yields between steps so the scheduler can interleave orders. */
  private async *lifecycle(index: number): Lifecycle {
    const rng = this.rng.fork(1000 + index);
    const customer = rng.pick(this.customers);
    const lineCount = rng.int(1, 3);
    const chosen = new Set<Item>();
    while (chosen.size < Math.min(lineCount, this.items.length)) chosen.add(rng.pick(this.items));
    const lines = [...chosen].map((item) => ({ item, qty: rng.int(1, 12) }));
    const plan = {
      web: rng.chance(0.6),
      change: rng.pick(['qty', 'add_line', 'address'] as const),
      changes: rng.chance(0.25),
      release: rng.chance(0.8),
      manualHold: rng.chance(0.05),
      partial: rng.chance(0.3),
      outcomes: [0, 1].map(() =>
        rng.weighted<DeliveryOutcome>({
          delivered: 70,
          delayed: 12,
          exception: 7,
          damaged: 5,
          partial_delivery: 6,
        }),
      ),
      payment: rng.weighted({ paid: 55, open: 35, disputed: 10 } as const),
      caseRoll: rng.next(),
      inSubject: rng.chance(0.6),
      followUp: rng.chance(0.3),
      agent: rng.weighted({ none: 40, reply: 40, solve: 20 } as const),
    };
    const record: TrafficOrder = {
      index,
      orderId: null,
      webOrderId: null,
      customerId: customer.id,
      channel: plan.web ? 'web' : 'edi',
      changedAfterSubmission: false,
      held: false,
      released: false,
      cancelled: false,
      shipments: [],
      invoices: [],
      payment: null,
      returnId: null,
      completed: false,
    };
    this.orders.push(record);
    let caseOpened = false;
    const troubledRate = this.options.troubledCaseRate ?? 0.6;
    const openCase = async (kind: CaseKind, orderId: string, extra: string) => {
      if (caseOpened) return;
      const rate = kind === 'status' ? (this.options.caseRate ?? 0.15) : troubledRate;
      if (plan.caseRoll >= rate) return;
      caseOpened = true;
      openedCase = await this.openCase(index, customer, orderId, kind, extra, plan.inSubject, plan.followUp);
      if (plan.agent !== 'none') await this.agentReply(index, openedCase, orderId);
    };
    let openedCase = 0;

    // 1. The order arrives: through the storefront, or by EDI / phone straight into the ERP.
    if (plan.web) {
      const cartId = this.key('cart', index);
      const web = await this.storefront.post<WebOrder>(
        '/api/orders',
        {
          cart_id: cartId,
          customer: { email: customer.email, name: customer.name, account: customer.id },
          lines: lines.map((l) => ({ sku: l.item.sku, qty: l.qty })),
          ship_to: customer.ship_to,
        },
        { verify: () => this.findWebOrder(cartId) },
      );
      record.webOrderId = web.id;
      this.log(index, 'storefront.order.submitted', web.id);
      yield;
    }

    // 2. Order entry: synchronous stock and credit checks, then the sales order.
    const stock = await this.erp.post<{ all_available: boolean }>('/api/v1/stock-check', {
      lines: lines.map((l) => ({ item_id: l.item.id, qty: l.qty })),
    });
    const amount = lines.reduce((s, l) => s + l.qty * l.item.list_price, 0);
    const credit = await this.erp.post<CreditCheckResult>('/api/v1/credit-check', {
      customer_id: customer.id,
      amount,
    });
    this.log(
      index,
      'erp.checks',
      `stock:${stock.all_available ? 'ok' : 'short'} credit:${credit.approved ? 'ok' : (credit.reason ?? '')}`,
    );
    let order = await this.erp.post<SalesOrder>(
      '/api/v1/sales-orders',
      {
        customer_id: customer.id,
        customer_po: `PO-${String(rng.int(10000, 99999))}`,
        external_ref: record.webOrderId,
        lines: lines.map((l) => ({ item_id: l.item.id, qty: l.qty })),
      },
      { idempotencyKey: this.key('order', index) },
    );
    record.orderId = order.id;
    this.log(index, 'erp.order.created', `${order.id} ${order.status}`);
    if (record.webOrderId !== null) {
      const webId = record.webOrderId;
      await this.storefront.post<WebOrder>(`/api/orders/${webId}/accept`, { erp_order: order.id });
      this.log(index, 'storefront.order.accepted', `${webId} ${order.id}`);
    }
    yield;

    // 3. Some web customers change the order after submitting it.
    if (record.webOrderId !== null && plan.changes) {
      const webId = record.webOrderId;
      const newLines = lines.map((l) => ({ ...l }));
      let body: Record<string, unknown>;
      if (plan.change === 'qty') {
        (newLines[0] as { qty: number }).qty += rng.int(1, 5);
        body = { lines: newLines.map((l) => ({ sku: l.item.sku, qty: l.qty })) };
      } else if (plan.change === 'add_line') {
        const extra = this.items.find((i) => !newLines.some((l) => l.item.id === i.id));
        if (extra !== undefined) newLines.push({ item: extra, qty: rng.int(1, 6) });
        body = { lines: newLines.map((l) => ({ sku: l.item.sku, qty: l.qty })) };
      } else {
        body = { ship_to: { ...customer.ship_to, line1: `${rng.int(401, 900)} Dock Street` } };
      }
      const web = await this.storefront.patch<WebOrder>(`/api/orders/${webId}`, body, {
        verify: async () => {
          const current = await this.storefront.get<WebOrder>(`/api/orders/${webId}`);
          return current.revision > 1 ? current : undefined;
        },
      });
      this.log(index, 'storefront.order.changed', `${web.id} rev ${web.revision} ${plan.change}`);
      yield;
      const change =
        plan.change === 'address'
          ? { ship_to: body.ship_to }
          : {
              lines: newLines.map((l) => {
                const existing = order.lines.find((ol) => ol.item_id === l.item.id);
                return existing === undefined
                  ? { item_id: l.item.id, qty: l.qty }
                  : { line_no: existing.line_no, item_id: l.item.id, qty: l.qty };
              }),
            };
      order = await this.erp.patch<SalesOrder>(`/api/v1/sales-orders/${order.id}`, change, {
        idempotencyKey: this.key('change', index),
      });
      record.changedAfterSubmission = true;
      lines.splice(0, lines.length, ...newLines);
      this.log(index, 'erp.order.changed', `${order.id} ${order.status}`);
      yield;
    }

    // 4. Credit control: a held order is released by the credit manager, or cancelled.
    if (order.status_code === '20') {
      record.held = true;
      this.log(index, 'erp.order.held', order.id);
      await openCase('credit_hold', order.id, '');
      yield;
      if (!plan.release) {
        order = await this.erp.post<SalesOrder>(
          `/api/v1/sales-orders/${order.id}/cancel`,
          { reason: 'Credit not approved' },
          { idempotencyKey: this.key('cancel', index) },
        );
        record.cancelled = true;
        this.log(index, 'erp.order.cancelled', order.id);
        if (record.webOrderId !== null) {
          await this.storefront.post(
            `/api/orders/${record.webOrderId}/cancel`,
            { reason: 'Credit not approved' },
            {
              verify: () => this.webOrderIn(record.webOrderId as string, 'cancelled'),
            },
          );
          this.log(index, 'storefront.order.cancelled', record.webOrderId);
        }
        record.completed = true;
        return;
      }
      order = await this.erp.post<SalesOrder>(
        `/api/v1/sales-orders/${order.id}/release`,
        { released_by: 'credit.manager', note: 'Payment received' },
        { idempotencyKey: this.key('release', index) },
      );
      record.released = true;
      this.log(index, 'erp.order.released', `${order.id} ${order.status}`);
      yield;
    } else if (plan.manualHold) {
      order = await this.erp.post<SalesOrder>(
        `/api/v1/sales-orders/${order.id}/hold`,
        { note: 'Manual review' },
        { idempotencyKey: this.key('hold', index) },
      );
      record.held = true;
      this.log(index, 'erp.order.held', order.id);
      yield;
      order = await this.erp.post<SalesOrder>(
        `/api/v1/sales-orders/${order.id}/release`,
        { released_by: 'credit.manager', note: 'Reviewed' },
        { idempotencyKey: this.key('release', index) },
      );
      record.released = true;
      this.log(index, 'erp.order.released', `${order.id} ${order.status}`);
      yield;
    }

    // 5. Fulfilment: one shipment, or two when the warehouse ships what it has first.
    const totalQty = order.lines.reduce((n, l) => n + l.qty_ordered, 0);
    const waves =
      plan.partial && totalQty >= 2
        ? [
            order.lines.map((l) => ({ line_no: l.line_no, qty: Math.ceil(l.qty_ordered / 2) })),
            order.lines.map((l) => ({
              line_no: l.line_no,
              qty: l.qty_ordered - Math.ceil(l.qty_ordered / 2),
            })),
          ]
            .map((w) => w.filter((l) => l.qty > 0))
            // Lines of one unit all go in the first wave; a second wave may be left empty.
            .filter((w) => w.length > 0)
        : [order.lines.map((l) => ({ line_no: l.line_no, qty: l.qty_ordered }))];
    for (const [wave, shipLines] of waves.entries()) {
      const outcome = plan.outcomes[wave] as DeliveryOutcome;
      const shipment = await this.erp.post<Shipment>(
        '/api/v1/shipments',
        { order_id: order.id, lines: shipLines, carrier: 'SANDBOX_FREIGHT' },
        { idempotencyKey: this.key('ship', index, wave) },
      );
      this.log(index, 'erp.shipment.created', `${shipment.id} ${order.id}`);
      const pieces = Math.min(
        10,
        shipLines.reduce((n, l) => n + l.qty, 0),
      );
      const label = await this.carrier.post<CarrierShipment>(
        '/v1/shipments',
        {
          reference: shipment.id,
          service: rng.chance(0.2) ? 'EXPRESS' : 'GROUND',
          ship_to: order.ship_to,
          pieces,
        },
        { verify: () => this.findLabel(shipment.id) },
      );
      await this.erp.post(
        `/api/v1/shipments/${shipment.id}/status`,
        { status: 'SHIPPED', tracking_number: label.id },
        { idempotencyKey: this.key('ship-status', index, wave, 'SHIPPED') },
      );
      record.shipments.push({ id: shipment.id, trackingNumber: label.id, outcome });
      this.log(index, 'carrier.label.created', `${label.id} ${shipment.id}`);
      if (record.webOrderId !== null) {
        const webId = record.webOrderId;
        const complete = wave === waves.length - 1;
        await this.storefront.post(
          `/api/orders/${webId}/fulfillments`,
          { tracking_number: label.id, complete },
          {
            verify: async () => {
              const web = await this.storefront.get<WebOrder>(`/api/orders/${webId}`);
              return web.fulfillments.some((f) => f.tracking_number === label.id) ? web : undefined;
            },
          },
        );
        this.log(index, 'storefront.order.fulfilled', `${webId} ${label.id}`);
      }
      yield;

      const scan = async (
        code: TrackingCode,
        erpStatus: Shipment['status'] | null,
        extra: Record<string, unknown> = {},
      ) => {
        await this.carrierScan(label.id, code, extra);
        if (erpStatus !== null) {
          await this.erp.post(
            `/api/v1/shipments/${shipment.id}/status`,
            {
              status: erpStatus,
              ...(typeof extra.reason === 'string' ? { exception_reason: extra.reason } : {}),
              ...(typeof extra.delivered_pieces === 'number'
                ? { delivered_qty: extra.delivered_pieces }
                : {}),
            },
            { idempotencyKey: this.key('ship-status', index, wave, code) },
          );
        }
        this.log(index, `carrier.${code.toLowerCase()}`, `${label.id} ${shipment.id}`);
      };
      await scan('PICKED_UP', null);
      yield;
      await scan('IN_TRANSIT', 'IN_TRANSIT', { location: `${order.ship_to.city} hub` });
      yield;
      if (outcome === 'delayed') {
        await scan('DELAYED', 'DELAYED', { reason: 'Weather', delay_days: rng.int(1, 4) });
        await openCase('delayed', order.id, label.id);
        yield;
        await scan('OUT_FOR_DELIVERY', 'OUT_FOR_DELIVERY');
        yield;
        await scan('DELIVERED', 'DELIVERED');
      } else if (outcome === 'exception') {
        const reason = rng.pick(EXCEPTIONS);
        await scan('OUT_FOR_DELIVERY', 'OUT_FOR_DELIVERY');
        yield;
        await scan('DELIVERY_EXCEPTION', 'EXCEPTION', { reason });
        await openCase('exception', order.id, label.id);
      } else if (outcome === 'damaged') {
        await scan('DELIVERED', 'DELIVERED');
        yield;
        await scan('DAMAGED', 'DAMAGED', { reason: 'Crushed carton' });
        const rma = await this.erp.post<{ id: string }>(
          '/api/v1/returns',
          {
            order_id: order.id,
            lines: shipLines.slice(0, 1).map((l) => ({ line_no: l.line_no, qty: 1 })),
            reason: 'Damaged in transit',
          },
          { idempotencyKey: this.key('rma', index, wave) },
        );
        await this.erp.post(
          `/api/v1/returns/${rma.id}/status`,
          { status: 'AUTHORIZED' },
          {
            idempotencyKey: this.key('rma-auth', index, wave),
          },
        );
        record.returnId = rma.id;
        this.log(index, 'erp.return.authorized', `${rma.id} ${order.id}`);
        await openCase('damaged', order.id, label.id);
      } else if (outcome === 'partial_delivery' && pieces >= 2) {
        await scan('PARTIALLY_DELIVERED', 'PARTIALLY_DELIVERED', { delivered_pieces: pieces - 1 });
        await openCase('partial_delivery', order.id, label.id);
      } else {
        await scan('OUT_FOR_DELIVERY', 'OUT_FOR_DELIVERY');
        yield;
        await scan('DELIVERED', 'DELIVERED');
      }
      yield;

      // 6. Billing: each shipment is invoiced when it leaves.
      const invoice = await this.erp.post<{ id: string; amount: number }>(
        '/api/v1/invoices',
        { order_id: order.id, shipment_id: shipment.id },
        { idempotencyKey: this.key('invoice', index, wave) },
      );
      record.invoices.push(invoice.id);
      this.log(index, 'erp.invoice.created', `${invoice.id} ${order.id}`);
      yield;
    }

    // 7. Payment, or a dispute; then a plain "where is it" case for some untroubled orders.
    record.payment = plan.payment;
    for (const [n, invoiceId] of record.invoices.entries()) {
      if (plan.payment === 'paid') {
        const invoice = await this.erp.get<{ amount: number; amount_paid: number }>(
          `/api/v1/invoices/${invoiceId}`,
        );
        await this.erp.post(
          `/api/v1/invoices/${invoiceId}/payments`,
          { amount: invoice.amount - invoice.amount_paid },
          {
            idempotencyKey: this.key('pay', index, n),
          },
        );
        this.log(index, 'erp.invoice.paid', invoiceId);
      } else if (plan.payment === 'disputed' && n === 0) {
        await this.erp.post(
          `/api/v1/invoices/${invoiceId}/dispute`,
          { reason: 'Price differs from quote' },
          {
            idempotencyKey: this.key('dispute', index, n),
          },
        );
        this.log(index, 'erp.invoice.disputed', invoiceId);
        await openCase('invoice', order.id, invoiceId);
      }
    }
    await openCase('status', order.id, '');
    if (caseOpened && plan.agent === 'solve') await this.setCaseStatus(index, openedCase, 'solved');
    record.completed = true;
  }

  /** An agent answers the customer publicly and waits for them (status pending). */
  private async agentReply(index: number, caseId: number, orderId: string): Promise<void> {
    const body = `Thanks for reaching out, we are checking order ${orderId} with the warehouse.`;
    await this.helpdesk.post(
      `/api/v2/cases/${caseId}/comments`,
      { body, public: true, author: 'agent.smith' },
      {
        verify: async () => {
          const found = await this.helpdesk.get<{ data: unknown[] }>(
            `/api/v2/search/comments?case_id=${caseId}&q=${encodeURIComponent(body)}`,
          );
          return found.data[0];
        },
      },
    );
    this.log(index, 'helpdesk.case.replied', String(caseId));
    await this.setCaseStatus(index, caseId, 'pending');
  }

  private async setCaseStatus(index: number, caseId: number, status: Case['status']): Promise<void> {
    await this.helpdesk.request(
      'PATCH',
      `/api/v2/cases/${caseId}`,
      { status },
      { naturallyIdempotent: true },
    );
    this.log(index, `helpdesk.case.${status}`, String(caseId));
  }

  private async openCase(
    index: number,
    customer: Customer,
    orderId: string,
    kind: CaseKind,
    extra: string,
    inSubject: boolean,
    followUp: boolean,
  ): Promise<number> {
    const ref = `CR-${this.runId.slice(-6)}-${index}`;
    const subjects: Record<CaseKind, [string, string]> = {
      status: [`Status of order ${orderId}`, 'Status of our recent order'],
      credit_hold: [`Order ${orderId} not shipped yet`, 'Our order has not shipped yet'],
      delayed: [`Where is my order ${orderId}?`, 'Where is my order?'],
      exception: [`Delivery problem with ${orderId}`, 'Delivery problem'],
      damaged: [`Damaged goods received - order ${orderId}`, 'Damaged goods received'],
      partial_delivery: [`Only part of order ${orderId} arrived`, 'Only part of our order arrived'],
      invoice: [`Question about invoice ${extra} for ${orderId}`, `Question about invoice ${extra}`],
    };
    const bodies: Record<CaseKind, string> = {
      status: `Hello, could you tell us when order ${orderId} will arrive?`,
      credit_hold: `Hi, our order ${orderId} was placed a while ago and has not shipped. Is there a problem with our account?`,
      delayed: `Tracking ${extra} for order ${orderId} says delayed. We need these goods this week.`,
      exception: `The carrier reports a delivery exception on ${extra} (order ${orderId}). Please advise.`,
      damaged: `Shipment ${extra} for order ${orderId} arrived with a crushed carton. We want a replacement.`,
      partial_delivery: `We received only part of shipment ${extra} for order ${orderId}. Where is the rest?`,
      invoice: `Invoice ${extra} for order ${orderId} does not match the quoted price.`,
    };
    const [withNumber, without] = subjects[kind];
    const subject = inSubject ? withNumber : without;
    const created = await this.helpdesk.post<Case>(
      '/api/v2/cases',
      {
        subject,
        description: `${bodies[kind]}\n\nCustomer reference: ${ref}\n${customer.name}`,
        requester: { name: customer.name, email: customer.email },
        priority: kind === 'damaged' || kind === 'exception' ? 'high' : 'normal',
        tags: [kind],
      },
      { verify: () => this.findCase(ref) },
    );
    this.cases.push({ caseId: created.id, orderId, kind, subject, namedIn: inSubject ? 'subject' : 'body' });
    this.log(index, 'helpdesk.case.opened', `${created.id} ${orderId} ${kind}`);
    if (followUp) {
      const body = `Any update on ${orderId}? (${ref})`;
      await this.helpdesk.post(
        `/api/v2/cases/${created.id}/comments`,
        { body, public: true, author: customer.email },
        {
          verify: async () => {
            const found = await this.helpdesk.get<{ data: unknown[] }>(
              `/api/v2/search/comments?case_id=${created.id}&q=${encodeURIComponent(body)}`,
            );
            return found.data[0];
          },
        },
      );
      this.log(index, 'helpdesk.comment.added', String(created.id));
    }
    return created.id;
  }

  private async carrierScan(
    tracking: string,
    code: TrackingCode,
    extra: Record<string, unknown>,
  ): Promise<void> {
    const before = await this.carrier.get<CarrierShipment>(`/v1/tracking/${tracking}`);
    await this.carrier.post(
      `/v1/tracking/${tracking}/events`,
      { code, ...extra },
      {
        verify: async () => {
          const now = await this.carrier.get<CarrierShipment>(`/v1/tracking/${tracking}`);
          return now.events.length > before.events.length ? now : undefined;
        },
      },
    );
  }

  private async findWebOrder(cartId: string): Promise<WebOrder | undefined> {
    const page = await this.storefront.get<{ data: WebOrder[] }>(
      `/api/orders?cart_id=${encodeURIComponent(cartId)}`,
    );
    return page.data[0];
  }

  private async webOrderIn(id: string, status: WebOrder['status']): Promise<WebOrder | undefined> {
    const order = await this.storefront.get<WebOrder>(`/api/orders/${id}`);
    return order.status === status ? order : undefined;
  }

  private async findLabel(reference: string): Promise<CarrierShipment | undefined> {
    const page = await this.carrier.get<{ data: CarrierShipment[] }>(
      `/v1/tracking?reference=${encodeURIComponent(reference)}`,
    );
    return page.data[0];
  }

  private async findCase(ref: string): Promise<Case | undefined> {
    const page = await this.helpdesk.get<{ data: Case[] }>(`/api/v2/cases?q=${encodeURIComponent(ref)}`);
    return page.data[0];
  }

  /** Advances one lifecycle by a step, recording a failure instead of throwing. */
  async advance(active: { index: number; life: Lifecycle }[], k: number): Promise<void> {
    const entry = active[k] as { index: number; life: Lifecycle };
    try {
      const step = await entry.life.next();
      if (step.done === true) active.splice(k, 1);
    } catch (err) {
      this.errors.push({ order: entry.index, message: err instanceof Error ? err.message : String(err) });
      this.log(entry.index, 'error', err instanceof Error ? err.message.slice(0, 120) : String(err));
      active.splice(k, 1);
    }
  }

  start(index: number): { index: number; life: Lifecycle } {
    return { index, life: this.lifecycle(index) };
  }

  pickActive(count: number): number {
    return this.schedule.int(0, count - 1);
  }
}

/**
 * Bounded mode: sets up customers and items, runs `orders` lifecycles to the end (steps of up to
 * `concurrency` orders interleaved), and returns the orders and the cases that name them.
 */
export async function runTraffic(
  targets: TrafficTargets,
  options: TrafficOptions & { orders: number },
): Promise<TrafficResult> {
  const run = new TrafficRun(targets, options);
  await run.setup();
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const active: { index: number; life: Lifecycle }[] = [];
  let started = 0;
  while (started < options.orders || active.length > 0) {
    while (active.length < concurrency && started < options.orders) active.push(run.start(started++));
    await run.advance(active, run.pickActive(active.length));
  }
  return run.result();
}

/**
 * Continuous mode (for `npm start` and load tests): starts `ordersPerSecond` new orders a second
 * on average and advances in-flight lifecycles step by step until `stop()`.
 */
export function startTraffic(
  targets: TrafficTargets,
  options: TrafficOptions & {
    ordersPerSecond: number;
    /** Most lifecycles in flight; new orders wait beyond it (default 50). */
    maxInFlight?: number;
  },
): ContinuousTraffic {
  const run = new TrafficRun(targets, options);
  const maxInFlight = options.maxInFlight ?? 50;
  // About 15 steps make an order; pace steps so in-flight work keeps up with arrivals.
  const stepIntervalMs = Math.max(5, Math.floor(1000 / (options.ordersPerSecond * 15)));
  let stopping = false;
  const loop = (async () => {
    await run.setup();
    const active: { index: number; life: Lifecycle }[] = [];
    let started = 0;
    let budget = 1;
    let last = Date.now();
    while (!stopping) {
      const now = Date.now();
      budget += ((now - last) / 1000) * options.ordersPerSecond;
      last = now;
      while (budget >= 1 && active.length < maxInFlight) {
        active.push(run.start(started++));
        budget -= 1;
      }
      if (active.length > 0) await run.advance(active, run.pickActive(active.length));
      await sleep(stepIntervalMs);
    }
  })();
  // Failures surface from stop(); until then keep them from being reported as unhandled.
  loop.catch(() => undefined);
  return {
    stop: async () => {
      stopping = true;
      await loop;
      return run.result();
    },
    snapshot: () => run.result(),
  };
}
