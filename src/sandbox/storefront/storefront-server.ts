// The sandbox storefront (B2B web shop): customers submit orders, and change or cancel them after
// submission, which is the case an integration has to carry into an ERP order already entered.
// Each change bumps `revision` and is kept in `changes`; `order.created` / `order.updated` webhooks
// are signed like the other systems'. Orders are accepted (linked to an ERP order) and fulfilled
// by the integration through the same API.
import { Type, type Static } from '@sinclair/typebox';
import { SandboxClock } from '../clock.ts';
import type { FaultConfig } from '../faults.ts';
import { pageBody, parsePageQuery, type PagingQuerystring } from '../paging.ts';
import { RecordTable, type VersionedRecord } from '../record-table.ts';
import { SandboxHttpError, SandboxServer } from '../sandbox-server.ts';
import { WebhookDispatcher, type WebhookSubscriptionSpec } from '../webhook-dispatcher.ts';

export interface WebOrderLine {
  sku: string;
  qty: number;
}

export interface WebOrder extends VersionedRecord<string> {
  /** The shopper's cart id, unique per checkout; lets a client find an order it is unsure it placed. */
  cart_id: string | null;
  customer: { email: string; name: string; account: string | null };
  lines: WebOrderLine[];
  ship_to: { line1: string; city: string; postal_code: string; country: string };
  status: 'submitted' | 'accepted' | 'partially_fulfilled' | 'fulfilled' | 'cancelled';
  /** Bumped by every customer change after submission (starts at 1). */
  revision: number;
  changes: { revision: number; at: string; fields: string[] }[];
  erp_order: string | null;
  fulfillments: { tracking_number: string; at: string }[];
  cancel_reason: string | null;
}

export interface StorefrontServerOptions {
  /** Value expected in `X-Shop-Token` (default `sandbox-storefront-key`). */
  readonly apiKey?: string;
  readonly faults?: FaultConfig;
  readonly seed?: number;
  readonly clock?: SandboxClock;
  readonly webhooks?: readonly WebhookSubscriptionSpec[];
  readonly webhookRetryDelaysMs?: readonly number[];
}

const Address = Type.Object({
  line1: Type.String(),
  city: Type.String(),
  postal_code: Type.String(),
  country: Type.String(),
});
const Lines = Type.Array(
  Type.Object({ sku: Type.String({ minLength: 1 }), qty: Type.Integer({ minimum: 1 }) }),
  { minItems: 1 },
);
const NewOrder = Type.Object({
  cart_id: Type.Optional(Type.String({ minLength: 1 })),
  customer: Type.Object({
    email: Type.String({ minLength: 3 }),
    name: Type.String(),
    account: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  }),
  lines: Lines,
  ship_to: Address,
});
const OrderChange = Type.Object({ lines: Type.Optional(Lines), ship_to: Type.Optional(Address) });
const Accept = Type.Object({ erp_order: Type.String({ minLength: 1 }) });
const Fulfillment = Type.Object({
  tracking_number: Type.String({ minLength: 1 }),
  complete: Type.Optional(Type.Boolean()),
});
const Cancel = Type.Object({ reason: Type.String({ minLength: 1 }) });
const Subscription = Type.Object({
  url: Type.String({ minLength: 1 }),
  secret: Type.Optional(Type.String({ pattern: '^whsec_' })),
  events: Type.Optional(Type.Array(Type.String())),
});

export class SandboxStorefront {
  readonly clock: SandboxClock;
  readonly orders: RecordTable<WebOrder>;
  readonly webhooks: WebhookDispatcher;
  readonly server: SandboxServer;
  readonly apiKey: string;
  private nextOrder = 5001;

  constructor(options: StorefrontServerOptions = {}) {
    this.apiKey = options.apiKey ?? 'sandbox-storefront-key';
    this.clock = options.clock ?? new SandboxClock();
    this.server = new SandboxServer({
      name: 'storefront',
      auth: { header: 'x-shop-token', apiKey: this.apiKey },
      clock: this.clock,
      ...(options.faults === undefined ? {} : { faults: options.faults }),
      seed: options.seed ?? 1,
      renderError: (_status, code, message) => ({ error: message, code }),
      describe: () => ({ orders: this.orders.size }),
    });
    const dispatcher = new WebhookDispatcher({
      source: 'storefront',
      faults: this.server.faults,
      ...(options.webhookRetryDelaysMs === undefined ? {} : { retryDelaysMs: options.webhookRetryDelaysMs }),
    });
    this.webhooks = dispatcher;
    this.server.webhooks = dispatcher;
    this.orders = new RecordTable<WebOrder>('order', this.clock, (kind, record, change) => {
      this.webhooks.emit(`order.${change}`, {
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

  private get(id: string): WebOrder {
    const order = this.orders.get(id);
    if (order === undefined) throw new SandboxHttpError(404, 'NOT_FOUND', `order ${id} not found`);
    return order;
  }

  submit(input: Static<typeof NewOrder>): WebOrder {
    return this.orders.insert(
      {
        cart_id: input.cart_id ?? null,
        customer: {
          email: input.customer.email,
          name: input.customer.name,
          account: input.customer.account ?? null,
        },
        lines: input.lines,
        ship_to: input.ship_to,
        status: 'submitted',
        revision: 1,
        changes: [],
        erp_order: null,
        fulfillments: [],
        cancel_reason: null,
      },
      `WEB-${this.nextOrder++}`,
    );
  }

  change(id: string, input: Static<typeof OrderChange>): WebOrder {
    const order = this.get(id);
    if (order.status !== 'submitted' && order.status !== 'accepted') {
      throw new SandboxHttpError(
        409,
        'INVALID_STATE',
        `order ${id} is ${order.status} and can no longer be changed`,
      );
    }
    const fields = [
      ...(input.lines === undefined ? [] : ['lines']),
      ...(input.ship_to === undefined ? [] : ['ship_to']),
    ];
    if (fields.length === 0) throw new SandboxHttpError(422, 'VALIDATION', 'nothing to change');
    return this.orders.update(id, (o) => {
      if (input.lines !== undefined) o.lines = input.lines;
      if (input.ship_to !== undefined) o.ship_to = input.ship_to;
      o.revision += 1;
      o.changes.push({ revision: o.revision, at: this.clock.stamp(), fields });
    }) as WebOrder;
  }

  private routes(): void {
    const app = this.server.app;
    app.get<{ Querystring: PagingQuerystring & { status?: string; cart_id?: string } }>(
      '/api/orders',
      (request) => {
        const { status, cart_id: cartId } = request.query;
        const filter =
          status === undefined && cartId === undefined
            ? undefined
            : (o: WebOrder) =>
                (status === undefined || o.status === status) &&
                (cartId === undefined || o.cart_id === cartId);
        return pageBody(this.orders.page(parsePageQuery(request.query), filter));
      },
    );
    app.get<{ Params: { id: string } }>('/api/orders/:id', (request) => this.get(request.params.id));
    app.post<{ Body: Static<typeof NewOrder> }>(
      '/api/orders',
      { schema: { body: NewOrder } },
      (request, reply) => {
        reply.code(201);
        return this.submit(request.body);
      },
    );
    app.patch<{ Params: { id: string }; Body: Static<typeof OrderChange> }>(
      '/api/orders/:id',
      { schema: { body: OrderChange } },
      (request) => this.change(request.params.id, request.body),
    );
    app.post<{ Params: { id: string }; Body: Static<typeof Accept> }>(
      '/api/orders/:id/accept',
      { schema: { body: Accept } },
      (request) => {
        const order = this.get(request.params.id);
        if (
          order.status !== 'submitted' &&
          !(order.status === 'accepted' && order.erp_order === request.body.erp_order)
        ) {
          throw new SandboxHttpError(409, 'INVALID_STATE', `order ${order.id} is ${order.status}`);
        }
        return this.orders.update(order.id, (o) => {
          o.status = 'accepted';
          o.erp_order = request.body.erp_order;
        });
      },
    );
    app.post<{ Params: { id: string }; Body: Static<typeof Fulfillment> }>(
      '/api/orders/:id/fulfillments',
      { schema: { body: Fulfillment } },
      (request) => {
        const order = this.get(request.params.id);
        if (order.status !== 'accepted' && order.status !== 'partially_fulfilled') {
          throw new SandboxHttpError(409, 'INVALID_STATE', `order ${order.id} is ${order.status}`);
        }
        return this.orders.update(order.id, (o) => {
          o.fulfillments.push({ tracking_number: request.body.tracking_number, at: this.clock.stamp() });
          o.status = request.body.complete === false ? 'partially_fulfilled' : 'fulfilled';
        });
      },
    );
    app.post<{ Params: { id: string }; Body: Static<typeof Cancel> }>(
      '/api/orders/:id/cancel',
      { schema: { body: Cancel } },
      (request) => {
        const order = this.get(request.params.id);
        if (order.status !== 'submitted' && order.status !== 'accepted') {
          throw new SandboxHttpError(409, 'INVALID_STATE', `order ${order.id} is ${order.status}`);
        }
        return this.orders.update(order.id, (o) => {
          o.status = 'cancelled';
          o.cancel_reason = request.body.reason;
        });
      },
    );
    app.get('/api/webhooks', () => ({ data: this.webhooks.subscriptions() }));
    app.post<{ Body: Static<typeof Subscription> }>(
      '/api/webhooks',
      { schema: { body: Subscription } },
      (request, reply) => {
        reply.code(201);
        return this.webhooks.subscribe(request.body);
      },
    );
  }
}

/** Creates the sandbox storefront and starts it on `port` (0 picks a free port). */
export async function startStorefront(
  options: StorefrontServerOptions & { port?: number } = {},
): Promise<SandboxStorefront> {
  const storefront = new SandboxStorefront(options);
  await storefront.listen(options.port ?? 0);
  return storefront;
}
