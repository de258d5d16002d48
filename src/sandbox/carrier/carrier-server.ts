// The sandbox carrier / 3PL: shipments registered by the shipper get a tracking number; scans
// (pickup, in transit, delays, delivery, partial delivery, exceptions, damage) are posted to its
// operator API (by the traffic generator, standing in for the carrier's depots) and reported
// through tracking lookups, a "changed since" list and signed `tracking.updated` webhooks.
import { Type, type Static } from '@sinclair/typebox';
import { SandboxClock } from '../clock.ts';
import type { FaultConfig } from '../faults.ts';
import { pageBody, parsePageQuery, type PagingQuerystring } from '../paging.ts';
import { RecordTable, type VersionedRecord } from '../record-table.ts';
import { SandboxHttpError, SandboxServer } from '../sandbox-server.ts';
import { WebhookDispatcher, type WebhookSubscriptionSpec } from '../webhook-dispatcher.ts';

export const TRACKING_CODES = [
  'LABEL_CREATED',
  'PICKED_UP',
  'IN_TRANSIT',
  'DELAYED',
  'OUT_FOR_DELIVERY',
  'DELIVERED',
  'PARTIALLY_DELIVERED',
  'DELIVERY_EXCEPTION',
  'DAMAGED',
  'RETURNED_TO_SENDER',
] as const;
export type TrackingCode = (typeof TRACKING_CODES)[number];

export interface TrackingEvent {
  seq: number;
  code: TrackingCode;
  description: string;
  location: string | null;
  occurred_at: string;
}

export interface CarrierShipment extends VersionedRecord<string> {
  /** The shipper's reference (the ERP shipment number). */
  reference: string;
  service: 'GROUND' | 'EXPRESS';
  ship_to: { line1: string; city: string; postal_code: string; country: string };
  pieces: number;
  delivered_pieces: number;
  status: TrackingCode;
  estimated_delivery: string;
  exception_reason: string | null;
  events: TrackingEvent[];
}

export interface CarrierServerOptions {
  /** Value expected in `X-Carrier-Key` (default `sandbox-carrier-key`). */
  readonly apiKey?: string;
  readonly faults?: FaultConfig;
  readonly seed?: number;
  readonly clock?: SandboxClock;
  readonly webhooks?: readonly WebhookSubscriptionSpec[];
  readonly webhookRetryDelaysMs?: readonly number[];
}

const DESCRIPTIONS: Record<TrackingCode, string> = {
  LABEL_CREATED: 'Shipping label created',
  PICKED_UP: 'Picked up',
  IN_TRANSIT: 'In transit',
  DELAYED: 'Delayed',
  OUT_FOR_DELIVERY: 'Out for delivery',
  DELIVERED: 'Delivered',
  PARTIALLY_DELIVERED: 'Partially delivered',
  DELIVERY_EXCEPTION: 'Delivery exception',
  DAMAGED: 'Damaged in transit',
  RETURNED_TO_SENDER: 'Returned to sender',
};

// After these, only damage (found on unpacking) can still be reported.
const FINAL: readonly TrackingCode[] = ['DELIVERED', 'RETURNED_TO_SENDER'];

const NewShipment = Type.Object({
  reference: Type.String({ minLength: 1 }),
  service: Type.Optional(Type.Union([Type.Literal('GROUND'), Type.Literal('EXPRESS')])),
  ship_to: Type.Object({
    line1: Type.String(),
    city: Type.String(),
    postal_code: Type.String(),
    country: Type.String(),
  }),
  pieces: Type.Integer({ minimum: 1 }),
});
const NewEvent = Type.Object({
  code: Type.Union(TRACKING_CODES.filter((c) => c !== 'LABEL_CREATED').map((c) => Type.Literal(c))),
  description: Type.Optional(Type.String()),
  location: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  delivered_pieces: Type.Optional(Type.Integer({ minimum: 0 })),
  reason: Type.Optional(Type.String()),
  /** Days added to the estimated delivery date by a DELAYED event (default 2). */
  delay_days: Type.Optional(Type.Integer({ minimum: 0 })),
});
const Subscription = Type.Object({
  url: Type.String({ minLength: 1 }),
  secret: Type.Optional(Type.String({ pattern: '^whsec_' })),
  events: Type.Optional(Type.Array(Type.String())),
});

function addDays(isoDate: string, days: number): string {
  return new Date(Date.parse(isoDate) + days * 86_400_000).toISOString().slice(0, 10);
}

export class SandboxCarrier {
  readonly clock: SandboxClock;
  readonly shipments: RecordTable<CarrierShipment>;
  readonly webhooks: WebhookDispatcher;
  readonly server: SandboxServer;
  readonly apiKey: string;
  private nextTracking = 1;

  constructor(options: CarrierServerOptions = {}) {
    this.apiKey = options.apiKey ?? 'sandbox-carrier-key';
    this.clock = options.clock ?? new SandboxClock();
    this.server = new SandboxServer({
      name: 'carrier',
      auth: { header: 'x-carrier-key', apiKey: this.apiKey },
      clock: this.clock,
      ...(options.faults === undefined ? {} : { faults: options.faults }),
      seed: options.seed ?? 1,
      renderError: (status, code, message) => ({ fault: { status, code, detail: message } }),
      describe: () => ({ shipments: this.shipments.size }),
    });
    const dispatcher = new WebhookDispatcher({
      source: 'carrier',
      faults: this.server.faults,
      ...(options.webhookRetryDelaysMs === undefined ? {} : { retryDelaysMs: options.webhookRetryDelaysMs }),
    });
    this.webhooks = dispatcher;
    this.server.webhooks = dispatcher;
    this.shipments = new RecordTable<CarrierShipment>('tracking', this.clock, (_kind, record) => {
      const shipment = record as CarrierShipment;
      this.webhooks.emit('tracking.updated', {
        object: 'tracking',
        id: shipment.id,
        version: shipment.version,
        updated_at: shipment.updated_at,
        event: shipment.events[shipment.events.length - 1],
        record: shipment,
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

  register(input: Static<typeof NewShipment>): CarrierShipment {
    const tracking = `1ZSBX${String(this.nextTracking++).padStart(10, '0')}`;
    const now = this.clock.stamp();
    const service = input.service ?? 'GROUND';
    return this.shipments.insert(
      {
        reference: input.reference,
        service,
        ship_to: input.ship_to,
        pieces: input.pieces,
        delivered_pieces: 0,
        status: 'LABEL_CREATED',
        estimated_delivery: addDays(now, service === 'EXPRESS' ? 1 : 3),
        exception_reason: null,
        events: [
          {
            seq: 1,
            code: 'LABEL_CREATED',
            description: DESCRIPTIONS.LABEL_CREATED,
            location: null,
            occurred_at: now,
          },
        ],
      },
      tracking,
    );
  }

  scan(trackingNumber: string, input: Static<typeof NewEvent>): CarrierShipment {
    const shipment = this.shipments.get(trackingNumber);
    if (shipment === undefined)
      throw new SandboxHttpError(404, 'NOT_FOUND', `tracking number ${trackingNumber} not found`);
    if (FINAL.includes(shipment.status) && input.code !== 'DAMAGED') {
      throw new SandboxHttpError(409, 'INVALID_STATE', `shipment ${trackingNumber} is ${shipment.status}`);
    }
    if (input.code === 'PARTIALLY_DELIVERED') {
      const n = input.delivered_pieces;
      if (n === undefined || n < 1 || n >= shipment.pieces) {
        throw new SandboxHttpError(
          422,
          'VALIDATION',
          'PARTIALLY_DELIVERED needs delivered_pieces between 1 and pieces - 1',
        );
      }
    }
    return this.shipments.update(trackingNumber, (s) => {
      const occurred = this.clock.stamp();
      s.events.push({
        seq: s.events.length + 1,
        code: input.code,
        description:
          input.description ??
          (input.reason === undefined
            ? DESCRIPTIONS[input.code]
            : `${DESCRIPTIONS[input.code]}: ${input.reason}`),
        location: input.location ?? null,
        occurred_at: occurred,
      });
      s.status = input.code;
      if (input.code === 'DELAYED')
        s.estimated_delivery = addDays(s.estimated_delivery, input.delay_days ?? 2);
      if (input.code === 'DELIVERED') s.delivered_pieces = s.pieces;
      if (input.code === 'PARTIALLY_DELIVERED') s.delivered_pieces = input.delivered_pieces ?? 0;
      if (input.code === 'DELIVERY_EXCEPTION' || input.code === 'DAMAGED')
        s.exception_reason = input.reason ?? DESCRIPTIONS[input.code];
    }) as CarrierShipment;
  }

  private routes(): void {
    const app = this.server.app;
    app.post<{ Body: Static<typeof NewShipment> }>(
      '/v1/shipments',
      { schema: { body: NewShipment } },
      (request, reply) => {
        reply.code(201);
        return this.register(request.body);
      },
    );
    app.get<{ Querystring: PagingQuerystring & { reference?: string; status?: string } }>(
      '/v1/tracking',
      (request) => {
        const { reference, status } = request.query;
        const filter =
          reference === undefined && status === undefined
            ? undefined
            : (s: CarrierShipment) =>
                (reference === undefined || s.reference === reference) &&
                (status === undefined || s.status === status);
        return pageBody(this.shipments.page(parsePageQuery(request.query), filter));
      },
    );
    app.get<{ Params: { tracking: string } }>('/v1/tracking/:tracking', (request) => {
      const shipment = this.shipments.get(request.params.tracking);
      if (shipment === undefined)
        throw new SandboxHttpError(404, 'NOT_FOUND', `tracking number ${request.params.tracking} not found`);
      return shipment;
    });
    app.post<{ Params: { tracking: string }; Body: Static<typeof NewEvent> }>(
      '/v1/tracking/:tracking/events',
      { schema: { body: NewEvent } },
      (request, reply) => {
        reply.code(201);
        return this.scan(request.params.tracking, request.body);
      },
    );
    app.get('/v1/webhooks', () => ({ data: this.webhooks.subscriptions() }));
    app.post<{ Body: Static<typeof Subscription> }>(
      '/v1/webhooks',
      { schema: { body: Subscription } },
      (request, reply) => {
        reply.code(201);
        return this.webhooks.subscribe(request.body);
      },
    );
  }
}

/** Creates the sandbox carrier and starts it on `port` (0 picks a free port). */
export async function startCarrier(
  options: CarrierServerOptions & { port?: number } = {},
): Promise<SandboxCarrier> {
  const carrier = new SandboxCarrier(options);
  await carrier.listen(options.port ?? 0);
  return carrier;
}
