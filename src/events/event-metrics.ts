// Prometheus metrics of the event log, registered on the registry the service is given. Gauges that
// describe stored state (lag, dead-letter depth, parked events) are computed from the store when
// scraped, so they are right whichever process changed the state.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { MetricsRegistry } from '../telemetry/index.ts';
import type { EventStore } from './store-port.ts';
import type { EventsDb } from './tables.ts';

export class EventMetrics {
  readonly appended: Counter<'type'>;
  readonly delivered: Counter<'consumer'>;
  readonly duplicates: Counter<'consumer'>;
  readonly failures: Counter<'consumer'>;
  readonly deadLettered: Counter<'consumer'>;
  readonly deliveryLatency: Histogram<'consumer'>;
  readonly webhookFailures: Counter<'endpoint'>;

  constructor(registry: MetricsRegistry | undefined, store: EventStore) {
    const registers = registry === undefined ? [] : [registry];
    this.appended = new Counter({
      name: 'crossdock_events_appended_total',
      help: 'Events appended to the log by this process, by type (rate() gives the append rate).',
      labelNames: ['type'],
      registers,
    });
    this.delivered = new Counter({
      name: 'crossdock_events_delivered_total',
      help: 'Events applied by a consumer (handler or webhook returned success).',
      labelNames: ['consumer'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'crossdock_events_duplicates_total',
      help: 'Deliveries recognised as duplicates (entity sequence already applied) and not applied again.',
      labelNames: ['consumer'],
      registers,
    });
    this.failures = new Counter({
      name: 'crossdock_events_delivery_failures_total',
      help: 'Failed delivery attempts (each retry counts).',
      labelNames: ['consumer'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'crossdock_events_dead_lettered_total',
      help: 'Events moved to the dead-letter list after their last attempt.',
      labelNames: ['consumer'],
      registers,
    });
    this.deliveryLatency = new Histogram({
      name: 'crossdock_events_delivery_latency_seconds',
      help: 'Time from an event being recorded to its consumer applying it (live deliveries only).',
      labelNames: ['consumer'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.webhookFailures = new Counter({
      name: 'crossdock_events_webhook_failures_total',
      help: 'Failed outbound webhook deliveries, by endpoint id.',
      labelNames: ['endpoint'],
      registers,
    });
    if (registry === undefined) return;

    const db = () => store.db<EventsDb>();
    new Gauge({
      name: 'crossdock_events_consumer_lag_events',
      help: 'Published events a consumer has not yet read (log head minus its committed position).',
      labelNames: ['consumer'],
      registers,
      async collect() {
        const head = await db()
          .selectFrom('ev_events')
          .select((eb) => eb.fn.max('position').as('max'))
          .executeTakeFirst();
        const top = Number(head?.max ?? 0);
        const consumers = await db()
          .selectFrom('ev_consumers')
          .select(['name', 'position'])
          .where('kind', 'not in', ['external', 'member'])
          .execute();
        this.reset();
        for (const c of consumers) this.set({ consumer: c.name }, Math.max(0, top - Number(c.position)));
      },
    });
    new Gauge({
      name: 'crossdock_events_dead_letters',
      help: 'Open dead letters (neither redriven nor skipped), by consumer.',
      labelNames: ['consumer'],
      registers,
      async collect() {
        const rows = await db()
          .selectFrom('ev_dead_letters')
          .select(['consumer', (eb) => eb.fn.countAll<number>().as('n')])
          .where('status', '=', 'open')
          .groupBy('consumer')
          .execute();
        this.reset();
        for (const r of rows) this.set({ consumer: r.consumer }, Number(r.n));
      },
    });
    new Gauge({
      name: 'crossdock_events_parked',
      help: 'Events a consumer holds back: waiting for an earlier sequence (gap), behind a failed event, or awaiting retry.',
      labelNames: ['consumer', 'reason'],
      registers,
      async collect() {
        const rows = await db()
          .selectFrom('ev_parked')
          .select(['consumer', 'reason', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy(['consumer', 'reason'])
          .execute();
        this.reset();
        for (const r of rows) this.set({ consumer: r.consumer, reason: r.reason }, Number(r.n));
      },
    });
    new Gauge({
      name: 'crossdock_events_consumer_paused',
      help: '1 for a consumer (or webhook endpoint, `webhook:<id>`) paused after repeated failures or by an operator.',
      labelNames: ['consumer'],
      registers,
      async collect() {
        const rows = await db().selectFrom('ev_consumers').select(['name', 'status']).execute();
        this.reset();
        for (const r of rows) this.set({ consumer: r.name }, r.status === 'paused' ? 1 : 0);
      },
    });
  }
}
