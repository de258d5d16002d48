// The event log's parts wired together for the composition root: log, dispatcher, operator actions,
// outbound webhooks, metrics and scheduled retention, started and stopped as one. With `cluster`
// options it also relays the log to NATS JetStream and delivers subscribers through partitions.
import type { Logger, MetricsRegistry } from '../telemetry/index.ts';
import { silentLogger } from '../telemetry/index.ts';
import { EventDispatcher, type ConsumerOptions, type EventHandler } from './dispatcher.ts';
import { EventCluster, type EventClusterOptions } from './event-cluster.ts';
import { EventLog } from './event-log.ts';
import { EventMetrics } from './event-metrics.ts';
import { EventsAdmin } from './events-admin.ts';
import { enforceRetention, type RetentionPolicy } from './retention.ts';
import type { EventStore } from './store-port.ts';
import { WebhookService, type WebhookOptions } from './webhooks.ts';

export interface EventServiceOptions {
  readonly store: EventStore;
  readonly logger?: Logger;
  /** Registry for `crossdock_events_*` metrics (default: none kept). */
  readonly metrics?: MetricsRegistry;
  /** PostgreSQL URL for LISTEN, so appends by other processes wake this one (default: none). */
  readonly listenUrl?: string;
  /** Safety poll of each consumer, in ms (default 5000); commits wake consumers at once regardless. */
  readonly pollIntervalMs?: number;
  /** Retention policy (default: keep everything). */
  readonly retention?: RetentionPolicy & {
    /** How often retention runs, in ms (default 3600000). */
    readonly intervalMs?: number;
  };
  readonly webhooks?: WebhookOptions;
  /**
   * Cluster mode (PostgreSQL): relay the log to NATS JetStream and deliver subscribers through
   * partitions leased to one process at a time (default: embedded, in-process delivery).
   */
  readonly cluster?: EventClusterOptions;
  /** Identity of this process in consumer and partition leases (default: a random UUID). */
  readonly owner?: string;
}

export class EventService {
  readonly log: EventLog;
  readonly dispatcher: EventDispatcher;
  readonly admin: EventsAdmin;
  readonly webhooks: WebhookService;
  readonly metrics: EventMetrics;
  /** Cluster mode's NATS side; undefined in embedded mode. */
  readonly cluster: EventCluster | undefined;
  readonly #logger: Logger;
  readonly #retention: EventServiceOptions['retention'];
  #retentionTimer: NodeJS.Timeout | undefined;

  constructor(options: EventServiceOptions) {
    this.#logger = options.logger ?? silentLogger();
    this.metrics = new EventMetrics(options.metrics, options.store);
    this.log = new EventLog({
      store: options.store,
      logger: this.#logger,
      metrics: this.metrics,
      ...(options.listenUrl === undefined ? {} : { listenUrl: options.listenUrl }),
    });
    this.dispatcher = new EventDispatcher({
      log: this.log,
      logger: this.#logger,
      metrics: this.metrics,
      ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
      ...(options.owner === undefined ? {} : { owner: options.owner }),
    });
    this.cluster =
      options.cluster === undefined
        ? undefined
        : new EventCluster(options.cluster, {
            dispatcher: this.dispatcher,
            logger: this.#logger,
            ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
          });
    this.admin = new EventsAdmin(this.log, (name) => this.dispatcher.kick(name));
    this.webhooks = new WebhookService({
      dispatcher: this.dispatcher,
      admin: this.admin,
      logger: this.#logger,
      metrics: this.metrics,
      ...(options.webhooks === undefined ? {} : { options: options.webhooks }),
    });
    this.#retention = options.retention;
  }

  /**
   * Registers a named subscriber: in embedded mode a consumer of the log in this process; in cluster
   * mode a partitioned group (consumers `<name>#<partition>`) fed from JetStream, each partition
   * applied by one process at a time. Per-entity order, duplicates, retries, dead letters and replay
   * behave the same in both. `halt`-mode subscribers need the whole log's order, which partitions do
   * not give, so they stay log consumers owned by one process at a time in cluster mode too.
   */
  async subscribe(name: string, handler: EventHandler, options: ConsumerOptions = {}): Promise<void> {
    if (this.cluster === undefined || options.failureMode === 'halt') {
      await this.dispatcher.subscribe(name, handler, options);
      return;
    }
    await this.cluster.subscribe(name, handler, options);
  }

  async unsubscribe(name: string): Promise<void> {
    if (this.cluster !== undefined) await this.cluster.unsubscribe(name);
    await this.dispatcher.unsubscribe(name);
  }

  async start(): Promise<void> {
    await this.log.start();
    try {
      await this.cluster?.start();
      await this.webhooks.start();
    } catch (error) {
      // A NATS server unreachable at start: leave nothing running behind the failed start.
      await this.cluster?.stop().catch(() => undefined);
      await this.dispatcher.stop();
      await this.log.stop();
      throw error;
    }
    const retention = this.#retention;
    if (retention !== undefined) {
      this.#retentionTimer = setInterval(() => {
        enforceRetention(this.log, retention, { logger: this.#logger }).catch((error: unknown) =>
          this.#logger.warn({ err: error }, 'event retention failed'),
        );
      }, retention.intervalMs ?? 3_600_000);
      this.#retentionTimer.unref();
    }
  }

  /** Stops webhooks and consumers (letting a running step finish), then the log's listener. */
  async stop(): Promise<void> {
    if (this.#retentionTimer !== undefined) clearInterval(this.#retentionTimer);
    this.#retentionTimer = undefined;
    await this.webhooks.stop();
    await this.cluster?.stop();
    await this.dispatcher.stop();
    await this.log.stop();
  }
}
