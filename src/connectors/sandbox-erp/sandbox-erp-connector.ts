// Connector for the sandbox ERP (src/sandbox/erp): captures customers, items, sales orders, credit
// holds, shipments, invoices and returns by polling its "changed since" lists or from its Standard
// Webhooks, and writes order, invoice and return commands with the ERP's native Idempotency-Key.
// It talks HTTP only, like a connector to any other ERP; it never reaches into the sandbox's state.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type {
  CheckItem,
  CheckResult,
  Command,
  Connector,
  ConnectorDeps,
  ConnectorDescription,
  ConnectorFactory,
  ReadRequest,
  ReadResult,
  StreamDescription,
  WebhookHandler,
  WriteOutcome,
} from '../connector.ts';
import {
  ConnectorConfigInvalidError,
  ConnectorError,
  ConnectorUnknownCommandError,
  assertCommandArgs,
  schemaIssues,
} from '../errors.ts';
import { CrossdockError } from '../../errors/index.ts';
import { HttpClient, TokenBucketRateBudget } from '../http/index.ts';
import { sandboxWebhookHandler } from './sandbox-webhooks.ts';
import { readUpdatedSincePage, updatedSinceStreams } from './updated-since-cursor.ts';

const SYSTEM = 'sandbox-erp';

export const SandboxErpConfigSchema = Type.Object(
  {
    url: Type.String({ description: 'Base URL of the sandbox ERP, e.g. `http://127.0.0.1:7401`.' }),
    pageSize: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, description: 'Records per read (default 100).' }),
    ),
    overlapMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'How far before the newest seen timestamp a caught-up read restarts, in ms (default 2000; the ERP stamps to the second).',
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Per-request timeout in ms (default 10000).' }),
    ),
    ratePerSecond: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Requests per second (default 50).' }),
    ),
    maxInFlight: Type.Optional(Type.Integer({ minimum: 1, description: 'Concurrent requests (default 8).' })),
    writeAttempts: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'Attempts per write, the first included (default 3); safe to retry because every write carries its Idempotency-Key.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type SandboxErpConfig = Static<typeof SandboxErpConfigSchema>;

interface StreamSpec {
  readonly name: string;
  readonly entity: string;
  readonly path: string;
  readonly object: string;
}

export const SANDBOX_ERP_STREAMS: readonly StreamSpec[] = [
  { name: 'customer', entity: 'customer', path: '/api/v1/customers', object: 'customer' },
  { name: 'item', entity: 'item', path: '/api/v1/items', object: 'item' },
  { name: 'sales_order', entity: 'order', path: '/api/v1/sales-orders', object: 'sales_order' },
  { name: 'credit_hold', entity: 'credit_hold', path: '/api/v1/credit-holds', object: 'credit_hold' },
  { name: 'shipment', entity: 'shipment', path: '/api/v1/shipments', object: 'shipment' },
  { name: 'invoice', entity: 'invoice', path: '/api/v1/invoices', object: 'invoice' },
  { name: 'return', entity: 'return_authorization', path: '/api/v1/returns', object: 'return' },
];

const Address = Type.Object({
  line1: Type.String(),
  city: Type.String(),
  postal_code: Type.String(),
  country: Type.String({ minLength: 2, maxLength: 2 }),
});
export const OrderHoldArgs = Type.Object(
  { order_id: Type.String(), note: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export const OrderReleaseArgs = Type.Object(
  { order_id: Type.String(), released_by: Type.Optional(Type.String()), note: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export const OrderCancelArgs = Type.Object(
  { order_id: Type.String(), reason: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);
export const OrderChangeArgs = Type.Object(
  {
    order_id: Type.String(),
    customer_po: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    ship_to: Type.Optional(Address),
    lines: Type.Optional(
      Type.Array(
        Type.Object({
          line_no: Type.Optional(Type.Integer()),
          item_id: Type.String(),
          qty: Type.Number({ exclusiveMinimum: 0 }),
        }),
        { minItems: 1 },
      ),
    ),
  },
  { additionalProperties: false },
);
export const ReturnCreateArgs = Type.Object(
  {
    order_id: Type.String(),
    lines: Type.Array(Type.Object({ line_no: Type.Integer(), qty: Type.Number({ exclusiveMinimum: 0 }) }), {
      minItems: 1,
    }),
    reason: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);
export const InvoiceDisputeArgs = Type.Object(
  { invoice_id: Type.String(), reason: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);

export const SANDBOX_ERP_COMMANDS = {
  orderHold: 'sales_order.hold',
  orderRelease: 'sales_order.release',
  orderCancel: 'sales_order.cancel',
  orderChange: 'sales_order.change',
  returnCreate: 'return.create',
  invoiceDispute: 'invoice.dispute',
} as const;

interface CommandSpec {
  readonly description: string;
  readonly schema: TSchema;
  readonly stream: string;
  readonly method: 'POST' | 'PATCH';
  readonly path: (args: Record<string, unknown>) => string;
  readonly body: (args: Record<string, unknown>) => Record<string, unknown>;
}

const without = (args: Record<string, unknown>, key: string) => {
  const { [key]: _omitted, ...rest } = args;
  return rest;
};

const COMMANDS: Record<string, CommandSpec> = {
  [SANDBOX_ERP_COMMANDS.orderHold]: {
    description: 'Puts a released or partially shipped sales order on a MANUAL credit hold.',
    schema: OrderHoldArgs,
    stream: 'sales_order',
    method: 'POST',
    path: (a) => `/api/v1/sales-orders/${encodeURIComponent(String(a.order_id))}/hold`,
    body: (a) => without(a, 'order_id'),
  },
  [SANDBOX_ERP_COMMANDS.orderRelease]: {
    description: 'Releases the active credit holds of a sales order (status 20 → 30/40).',
    schema: OrderReleaseArgs,
    stream: 'sales_order',
    method: 'POST',
    path: (a) => `/api/v1/sales-orders/${encodeURIComponent(String(a.order_id))}/release`,
    body: (a) => without(a, 'order_id'),
  },
  [SANDBOX_ERP_COMMANDS.orderCancel]: {
    description: 'Cancels a sales order that has not shipped.',
    schema: OrderCancelArgs,
    stream: 'sales_order',
    method: 'POST',
    path: (a) => `/api/v1/sales-orders/${encodeURIComponent(String(a.order_id))}/cancel`,
    body: (a) => without(a, 'order_id'),
  },
  [SANDBOX_ERP_COMMANDS.orderChange]: {
    description:
      'Changes the PO, address or lines of a sales order that has not shipped (a larger total is credit-checked again).',
    schema: OrderChangeArgs,
    stream: 'sales_order',
    method: 'PATCH',
    path: (a) => `/api/v1/sales-orders/${encodeURIComponent(String(a.order_id))}`,
    body: (a) => without(a, 'order_id'),
  },
  [SANDBOX_ERP_COMMANDS.returnCreate]: {
    description: 'Requests a return authorization (RMA) for shipped lines of an order.',
    schema: ReturnCreateArgs,
    stream: 'return',
    method: 'POST',
    path: () => '/api/v1/returns',
    body: (a) => a,
  },
  [SANDBOX_ERP_COMMANDS.invoiceDispute]: {
    description: 'Marks an open invoice as disputed with a reason.',
    schema: InvoiceDisputeArgs,
    stream: 'invoice',
    method: 'POST',
    path: (a) => `/api/v1/invoices/${encodeURIComponent(String(a.invoice_id))}/dispute`,
    body: (a) => without(a, 'invoice_id'),
  },
};

const DESCRIPTION: ConnectorDescription = {
  system: SYSTEM,
  kind: 'erp',
  displayName: 'Sandbox ERP (REST, X-Api-Key)',
  configSchema: SandboxErpConfigSchema,
  secrets: [
    { name: 'apiKey', description: 'Value of the X-Api-Key header.' },
    {
      name: 'webhookSecret',
      description: 'whsec_ secret of the webhook subscription (needed to accept webhooks).',
      required: false,
    },
  ],
  commands: Object.entries(COMMANDS).map(([type, c]) => ({
    type,
    description: `${c.description} Sent with the command's idempotency key as Idempotency-Key.`,
    argsSchema: c.schema,
    idempotency: 'native' as const,
  })),
  webhooks: true,
};

type ErpRecord = Record<string, unknown> & { id: string; updated_at: string };

/** Requests per second and in flight when the configuration does not say. */
export const SANDBOX_ERP_RATE_DEFAULTS = { ratePerSecond: 50, maxInFlight: 8 } as const;

export class SandboxErpConnector implements Connector<ErpRecord> {
  readonly webhooks: WebhookHandler<ErpRecord>;
  private readonly http: HttpClient;
  private readonly pageSize: number;
  private readonly overlapMs: number;
  private readonly writeAttempts: number;

  constructor(
    readonly config: SandboxErpConfig,
    secrets: Readonly<Record<string, string>>,
    deps: ConnectorDeps,
  ) {
    const issues = schemaIssues(SandboxErpConfigSchema, config, ': ');
    if (typeof secrets.apiKey !== 'string' || secrets.apiKey === '') issues.push('secret apiKey: missing');
    if (issues.length > 0) throw new ConnectorConfigInvalidError(SYSTEM, issues);
    this.pageSize = config.pageSize ?? 100;
    this.overlapMs = config.overlapMs ?? 2000;
    this.writeAttempts = config.writeAttempts ?? 3;
    this.http = new HttpClient({
      system: SYSTEM,
      baseUrl: config.url,
      timeoutMs: config.timeoutMs ?? 10_000,
      headers: { 'x-api-key': secrets.apiKey ?? '' },
      rateBudget:
        deps.rateBudget ??
        new TokenBucketRateBudget({
          ratePerSecond: config.ratePerSecond ?? SANDBOX_ERP_RATE_DEFAULTS.ratePerSecond,
          maxInFlight: config.maxInFlight ?? SANDBOX_ERP_RATE_DEFAULTS.maxInFlight,
        }),
      logger: deps.logger,
      ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
    });
    this.webhooks = sandboxWebhookHandler<ErpRecord>(
      SYSTEM,
      secrets.webhookSecret,
      (object) => SANDBOX_ERP_STREAMS.find((s) => s.object === object)?.name,
    );
  }

  describe(): ConnectorDescription {
    return DESCRIPTION;
  }

  async check(options: { readonly signal?: AbortSignal } = {}): Promise<CheckResult> {
    const items: CheckItem[] = [];
    try {
      const page = await this.http.request({
        method: 'GET',
        path: '/api/v1/customers',
        query: { limit: 1 },
        maxAttempts: 1,
        accept: [401],
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      items.push({ name: 'reachable', ok: true, message: `the ERP answers at ${this.config.url}` });
      if (page.status === 401) {
        items.push({
          name: 'api-key',
          ok: false,
          message: 'the ERP refused the API key: check the apiKey secret',
        });
      } else {
        items.push({ name: 'api-key', ok: true, message: 'the API key is accepted' });
      }
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      items.push({
        name: 'reachable',
        ok: false,
        message: `${why}. Check that the ERP runs at ${this.config.url}`,
      });
    }
    return { ok: items.every((i) => i.ok), items, details: {} };
  }

  streams(): Promise<readonly StreamDescription[]> {
    return Promise.resolve(updatedSinceStreams(SANDBOX_ERP_STREAMS, this.overlapMs));
  }

  read(request: ReadRequest): Promise<ReadResult<ErpRecord>> {
    return readUpdatedSincePage<ErpRecord>(this.http, SYSTEM, SANDBOX_ERP_STREAMS, request, {
      pageSize: this.pageSize,
      overlapMs: this.overlapMs,
    });
  }

  async write(command: Command): Promise<WriteOutcome> {
    const spec = COMMANDS[command.type];
    if (spec === undefined) throw new ConnectorUnknownCommandError(SYSTEM, command.type);
    assertCommandArgs(SYSTEM, command.type, spec.schema, command.args);
    const args = command.args as Record<string, unknown>;
    try {
      const response = await this.http.request({
        method: spec.method,
        path: spec.path(args),
        json: spec.body(args),
        headers: { 'idempotency-key': command.idempotencyKey },
        // The ERP deduplicates by the key, so resending after a lost answer is safe.
        idempotent: true,
        maxAttempts: this.writeAttempts,
        operation: `${spec.method} ${command.type}`,
        ...(command.signal === undefined ? {} : { signal: command.signal }),
      });
      const record = response.json<ErpRecord>();
      return {
        status: 'applied',
        replayed: response.headers['idempotent-replayed'] === 'true',
        effect: {
          externalId: record.id,
          stream: spec.stream,
          result: {
            ...(typeof record.status === 'string' ? { status: record.status } : {}),
            ...(typeof record.status_code === 'string' ? { status_code: record.status_code } : {}),
            version: typeof record.version === 'number' ? record.version : null,
          },
        },
      };
    } catch (error) {
      if (error instanceof ConnectorError && error.ambiguous) return { status: 'ambiguous', error };
      if (error instanceof CrossdockError) return { status: 'not-applied', error };
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

export const sandboxErpConnectorFactory: ConnectorFactory<SandboxErpConfig, ErpRecord> = {
  describe: () => DESCRIPTION,
  create: (config, secrets, deps) => new SandboxErpConnector(config, secrets, deps),
};
