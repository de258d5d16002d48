// The sandbox ERP over HTTP, in the style of an on-premises ERP's REST add-on: document numbers
// (`SO-100001`), status codes, `X-Api-Key` auth, "changed since" lists paged by (updated_at, id),
// synchronous credit and stock checks, an `Idempotency-Key` header on writes, and signed webhooks.
// Endpoints and payloads are documented in docs/sandbox.md.
import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SandboxClock } from '../clock.ts';
import type { FaultConfig } from '../faults.ts';
import { pageBody, parsePageQuery, type PagingQuerystring } from '../paging.ts';
import type { RecordTable, VersionedRecord } from '../record-table.ts';
import { SandboxHttpError, SandboxServer } from '../sandbox-server.ts';
import { WebhookDispatcher, type WebhookSubscriptionSpec } from '../webhook-dispatcher.ts';
import { ErpState } from './erp-state.ts';
import { SHIPMENT_STATUSES } from './erp-types.ts';

export interface ErpServerOptions {
  /** Value expected in `X-Api-Key` (default `sandbox-erp-key`). */
  readonly apiKey?: string;
  readonly faults?: FaultConfig;
  /** Seed of fault decisions (default 1). */
  readonly seed?: number;
  readonly clock?: SandboxClock;
  /** Webhook subscriptions to create at start. */
  readonly webhooks?: readonly WebhookSubscriptionSpec[];
  /** Delays before webhook retries, in ms (default [500, 2000, 10000, 30000, 60000]). */
  readonly webhookRetryDelaysMs?: readonly number[];
  /** How long an Idempotency-Key is remembered, in ms (default 24 h). */
  readonly idempotencyTtlMs?: number;
}

const Address = Type.Object({
  line1: Type.String(),
  city: Type.String(),
  postal_code: Type.String(),
  country: Type.String({ minLength: 2, maxLength: 2 }),
});
const NewCustomer = Type.Object({
  name: Type.String({ minLength: 1 }),
  email: Type.String({ minLength: 3 }),
  phone: Type.Optional(Type.String()),
  currency: Type.Optional(Type.String({ minLength: 3, maxLength: 3 })),
  payment_terms: Type.Optional(Type.String()),
  credit_limit: Type.Number({ minimum: 0 }),
  ship_to: Address,
});
const CustomerPatch = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1 })),
  email: Type.Optional(Type.String()),
  phone: Type.Optional(Type.String()),
  credit_limit: Type.Optional(Type.Number({ minimum: 0 })),
  credit_status: Type.Optional(Type.Union([Type.Literal('OK'), Type.Literal('HOLD')])),
  ship_to: Type.Optional(Address),
});
const NewItem = Type.Object({
  sku: Type.String({ minLength: 1 }),
  description: Type.String(),
  uom: Type.Optional(Type.String()),
  list_price: Type.Number({ minimum: 0 }),
  on_hand: Type.Integer({ minimum: 0 }),
});
const PriceBody = Type.Object({
  item_id: Type.String(),
  customer_id: Type.Union([Type.String(), Type.Null()]),
  unit_price: Type.Number({ minimum: 0 }),
});
const QtyLine = Type.Object({ item_id: Type.String(), qty: Type.Number({ exclusiveMinimum: 0 }) });
const NewOrder = Type.Object({
  customer_id: Type.String(),
  customer_po: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  external_ref: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  ship_to: Type.Optional(Address),
  lines: Type.Array(
    Type.Object({
      item_id: Type.String(),
      qty: Type.Number({ exclusiveMinimum: 0 }),
      unit_price: Type.Optional(Type.Number({ minimum: 0 })),
    }),
    { minItems: 1 },
  ),
});
const OrderChange = Type.Object({
  customer_po: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  ship_to: Type.Optional(Address),
  lines: Type.Optional(
    Type.Array(
      Type.Object({
        line_no: Type.Optional(Type.Integer()),
        item_id: Type.String(),
        qty: Type.Number({ exclusiveMinimum: 0 }),
        unit_price: Type.Optional(Type.Number({ minimum: 0 })),
      }),
      { minItems: 1 },
    ),
  ),
});
const Note = Type.Object({ note: Type.Optional(Type.String()), released_by: Type.Optional(Type.String()) });
const Reason = Type.Object({ reason: Type.String({ minLength: 1 }) });
const LineQty = Type.Array(
  Type.Object({ line_no: Type.Integer(), qty: Type.Number({ exclusiveMinimum: 0 }) }),
  {
    minItems: 1,
  },
);
const NewShipment = Type.Object({
  order_id: Type.String(),
  lines: LineQty,
  carrier: Type.Optional(Type.String()),
  tracking_number: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
const ShipmentStatusBody = Type.Object({
  status: Type.Union(SHIPMENT_STATUSES.map((s) => Type.Literal(s))),
  tracking_number: Type.Optional(Type.String()),
  exception_reason: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  delivered_qty: Type.Optional(Type.Integer({ minimum: 0 })),
});
const NewInvoice = Type.Object({
  order_id: Type.String(),
  shipment_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
const Payment = Type.Object({ amount: Type.Number({ exclusiveMinimum: 0 }) });
const NewReturn = Type.Object({
  order_id: Type.String(),
  lines: LineQty,
  reason: Type.String({ minLength: 1 }),
});
const ReturnTransition = Type.Object({
  status: Type.Union([
    Type.Literal('AUTHORIZED'),
    Type.Literal('RECEIVED'),
    Type.Literal('CREDITED'),
    Type.Literal('REJECTED'),
  ]),
});
const CreditCheck = Type.Object({ customer_id: Type.String(), amount: Type.Number({ minimum: 0 }) });
const StockCheck = Type.Object({ lines: Type.Array(QtyLine, { minItems: 1 }) });
const Subscription = Type.Object({
  url: Type.String({ minLength: 1 }),
  secret: Type.Optional(Type.String({ pattern: '^whsec_' })),
  events: Type.Optional(Type.Array(Type.String())),
});

interface IdParams {
  id: string;
}

interface StoredAnswer {
  readonly bodyHash: string;
  readonly status: number;
  readonly body: unknown;
  readonly expiresAt: number;
}

export class SandboxErp {
  readonly clock: SandboxClock;
  readonly state: ErpState;
  readonly webhooks: WebhookDispatcher;
  readonly server: SandboxServer;
  readonly apiKey: string;
  private readonly idempotency = new Map<string, StoredAnswer>();
  private readonly idempotencyTtlMs: number;

  constructor(options: ErpServerOptions = {}) {
    this.apiKey = options.apiKey ?? 'sandbox-erp-key';
    this.clock = options.clock ?? new SandboxClock();
    this.idempotencyTtlMs = options.idempotencyTtlMs ?? 86_400_000;
    this.server = new SandboxServer({
      name: 'erp',
      auth: { header: 'x-api-key', apiKey: this.apiKey },
      clock: this.clock,
      ...(options.faults === undefined ? {} : { faults: options.faults }),
      seed: options.seed ?? 1,
      renderError: (_status, code, message) => ({ error: { code, message } }),
      describe: () => this.describe(),
    });
    this.webhooks = new WebhookDispatcher({
      source: 'erp',
      faults: this.server.faults,
      ...(options.webhookRetryDelaysMs === undefined ? {} : { retryDelaysMs: options.webhookRetryDelaysMs }),
    });
    this.server.webhooks = this.webhooks;
    this.state = new ErpState(this.clock, (kind, record, change) => {
      this.webhooks.emit(`${kind}.${change}`, {
        object: kind,
        id: record.id,
        version: record.version,
        updated_at: record.updated_at,
        record,
      });
    });
    for (const spec of options.webhooks ?? []) this.webhooks.subscribe(spec);
    this.routes();
  }

  get url(): string {
    return this.server.url;
  }

  get faults(): SandboxServer['faults'] {
    return this.server.faults;
  }

  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    return this.server.listen(port, host);
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  /** The answer stored for a write with this Idempotency-Key, if one was made (any route). */
  idempotentAnswer(key: string): unknown {
    for (const [scoped, stored] of this.idempotency) if (scoped.endsWith(` ${key}`)) return stored.body;
    return undefined;
  }

  private describe(): Record<string, number> {
    const s = this.state;
    return {
      customers: s.customers.size,
      items: s.items.size,
      sales_orders: s.orders.size,
      credit_holds: s.holds.size,
      shipments: s.shipments.size,
      invoices: s.invoices.size,
      returns: s.returns.size,
    };
  }

  /**
   * Runs a write once per `Idempotency-Key`: a repeat with the same body gets the first answer
   * again (with `Idempotent-Replayed: true`), a repeat with another body is refused with 422.
   */
  private async idempotent(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    write: () => unknown,
  ): Promise<unknown> {
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || key === '') {
      reply.code(status);
      return write();
    }
    const now = Date.now();
    // Keys expire in insertion order (one TTL for all), so pruning stops at the first live one.
    for (const [k, v] of this.idempotency) {
      if (v.expiresAt >= now) break;
      this.idempotency.delete(k);
    }
    const scoped = `${request.method} ${request.routeOptions.url ?? request.url} ${key}`;
    const bodyHash = createHash('sha256')
      .update(JSON.stringify(request.body ?? null) + request.url)
      .digest('hex');
    const stored = this.idempotency.get(scoped);
    if (stored !== undefined) {
      if (stored.bodyHash !== bodyHash) {
        throw new SandboxHttpError(
          422,
          'IDEMPOTENCY_KEY_REUSED',
          `Idempotency-Key ${key} was used with another request`,
        );
      }
      reply.code(stored.status).header('idempotent-replayed', 'true');
      return stored.body;
    }
    const body = await write();
    this.idempotency.set(scoped, { bodyHash, status, body, expiresAt: now + this.idempotencyTtlMs });
    reply.code(status);
    return body;
  }

  private routes(): void {
    const app = this.server.app;
    const state = this.state;
    const list = <T extends VersionedRecord>(
      path: string,
      table: () => RecordTable<T>,
      filterKeys: readonly (keyof T & string)[],
    ) => {
      app.get<{ Querystring: PagingQuerystring & Record<string, string | undefined> }>(path, (request) => {
        const query = request.query;
        const filters = filterKeys.filter((k) => query[k] !== undefined);
        const filter =
          filters.length === 0 ? undefined : (r: T) => filters.every((k) => String(r[k]) === query[k]);
        return pageBody(table().page(parsePageQuery(query), filter));
      });
      app.get<{ Params: IdParams }>(`${path}/:id`, (request) => {
        const record = table().get(request.params.id);
        if (record === undefined)
          throw new SandboxHttpError(404, 'NOT_FOUND', `${table().kind} ${request.params.id} not found`);
        return record;
      });
    };

    list('/api/v1/customers', () => state.customers, ['credit_status', 'email']);
    list('/api/v1/items', () => state.items, ['sku']);
    list('/api/v1/prices', () => state.prices, ['item_id', 'customer_id']);
    list('/api/v1/sales-orders', () => state.orders, ['customer_id', 'status_code', 'external_ref']);
    list('/api/v1/credit-holds', () => state.holds, ['order_id', 'customer_id', 'status']);
    list('/api/v1/shipments', () => state.shipments, ['order_id', 'status', 'tracking_number']);
    list('/api/v1/invoices', () => state.invoices, ['order_id', 'customer_id', 'status']);
    list('/api/v1/returns', () => state.returns, ['order_id', 'customer_id', 'status']);

    app.post<{ Body: Static<typeof NewCustomer> }>(
      '/api/v1/customers',
      { schema: { body: NewCustomer } },
      (req, reply) => this.idempotent(req, reply, 201, () => state.createCustomer(req.body)),
    );
    app.patch<{ Params: IdParams; Body: Static<typeof CustomerPatch> }>(
      '/api/v1/customers/:id',
      { schema: { body: CustomerPatch } },
      (req, reply) => this.idempotent(req, reply, 200, () => state.updateCustomer(req.params.id, req.body)),
    );
    app.post<{ Body: Static<typeof NewItem> }>('/api/v1/items', { schema: { body: NewItem } }, (req, reply) =>
      this.idempotent(req, reply, 201, () => state.createItem(req.body)),
    );
    app.put<{ Body: Static<typeof PriceBody> }>(
      '/api/v1/prices',
      { schema: { body: PriceBody } },
      (req, reply) =>
        this.idempotent(req, reply, 200, () =>
          state.setPrice(req.body.item_id, req.body.customer_id, req.body.unit_price),
        ),
    );

    app.post<{ Body: Static<typeof CreditCheck> }>(
      '/api/v1/credit-check',
      { schema: { body: CreditCheck } },
      (req) => state.creditCheck(req.body.customer_id, req.body.amount),
    );
    app.post<{ Body: Static<typeof StockCheck> }>(
      '/api/v1/stock-check',
      { schema: { body: StockCheck } },
      (req) => state.stockCheck(req.body.lines),
    );

    app.post<{ Body: Static<typeof NewOrder> }>(
      '/api/v1/sales-orders',
      { schema: { body: NewOrder } },
      (req, reply) => this.idempotent(req, reply, 201, () => state.createOrder(req.body)),
    );
    app.patch<{ Params: IdParams; Body: Static<typeof OrderChange> }>(
      '/api/v1/sales-orders/:id',
      { schema: { body: OrderChange } },
      (req, reply) => this.idempotent(req, reply, 200, () => state.changeOrder(req.params.id, req.body)),
    );
    app.post<{ Params: IdParams; Body: Static<typeof Note> }>(
      '/api/v1/sales-orders/:id/hold',
      { schema: { body: Note } },
      (req, reply) =>
        this.idempotent(req, reply, 200, () => state.holdOrder(req.params.id, req.body.note ?? null)),
    );
    app.post<{ Params: IdParams; Body: Static<typeof Note> }>(
      '/api/v1/sales-orders/:id/release',
      { schema: { body: Note } },
      (req, reply) =>
        this.idempotent(req, reply, 200, () =>
          state.releaseOrder(req.params.id, req.body.released_by ?? 'API', req.body.note ?? null),
        ),
    );
    app.post<{ Params: IdParams; Body: Static<typeof Reason> }>(
      '/api/v1/sales-orders/:id/cancel',
      { schema: { body: Reason } },
      (req, reply) =>
        this.idempotent(req, reply, 200, () => state.cancelOrder(req.params.id, req.body.reason)),
    );

    app.post<{ Body: Static<typeof NewShipment> }>(
      '/api/v1/shipments',
      { schema: { body: NewShipment } },
      (req, reply) => this.idempotent(req, reply, 201, () => state.createShipment(req.body)),
    );
    app.post<{ Params: IdParams; Body: Static<typeof ShipmentStatusBody> }>(
      '/api/v1/shipments/:id/status',
      { schema: { body: ShipmentStatusBody } },
      (req, reply) =>
        this.idempotent(req, reply, 200, () =>
          state.updateShipmentStatus(req.params.id, {
            status: req.body.status,
            ...(req.body.tracking_number === undefined ? {} : { tracking_number: req.body.tracking_number }),
            ...(req.body.exception_reason === undefined
              ? {}
              : { exception_reason: req.body.exception_reason }),
            ...(req.body.delivered_qty === undefined ? {} : { delivered_qty: req.body.delivered_qty }),
          }),
        ),
    );

    app.post<{ Body: Static<typeof NewInvoice> }>(
      '/api/v1/invoices',
      { schema: { body: NewInvoice } },
      (req, reply) => this.idempotent(req, reply, 201, () => state.createInvoice(req.body)),
    );
    app.post<{ Params: IdParams; Body: Static<typeof Payment> }>(
      '/api/v1/invoices/:id/payments',
      { schema: { body: Payment } },
      (req, reply) =>
        this.idempotent(req, reply, 200, () => state.payInvoice(req.params.id, req.body.amount)),
    );
    app.post<{ Params: IdParams; Body: Static<typeof Reason> }>(
      '/api/v1/invoices/:id/dispute',
      { schema: { body: Reason } },
      (req, reply) =>
        this.idempotent(req, reply, 200, () => state.disputeInvoice(req.params.id, req.body.reason)),
    );

    app.post<{ Body: Static<typeof NewReturn> }>(
      '/api/v1/returns',
      { schema: { body: NewReturn } },
      (req, reply) => this.idempotent(req, reply, 201, () => state.createReturn(req.body)),
    );
    app.post<{ Params: IdParams; Body: Static<typeof ReturnTransition> }>(
      '/api/v1/returns/:id/status',
      { schema: { body: ReturnTransition } },
      (req, reply) =>
        this.idempotent(req, reply, 200, () => state.advanceReturn(req.params.id, req.body.status)),
    );

    app.get('/api/v1/webhook-subscriptions', () => ({ data: this.webhooks.subscriptions() }));
    app.post<{ Body: Static<typeof Subscription> }>(
      '/api/v1/webhook-subscriptions',
      { schema: { body: Subscription } },
      (req, reply) => {
        reply.code(201);
        return this.webhooks.subscribe(req.body);
      },
    );
    app.delete<{ Params: IdParams }>('/api/v1/webhook-subscriptions/:id', (req, reply) => {
      if (!this.webhooks.unsubscribe(req.params.id)) {
        throw new SandboxHttpError(404, 'NOT_FOUND', `subscription ${req.params.id} not found`);
      }
      return reply.code(204).send();
    });
  }
}

/** Creates the sandbox ERP and starts it on `port` (0 picks a free port). */
export async function startErp(options: ErpServerOptions & { port?: number } = {}): Promise<SandboxErp> {
  const erp = new SandboxErp(options);
  await erp.listen(options.port ?? 0);
  return erp;
}
