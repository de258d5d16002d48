// The event log's parts wired together for the composition root: log, dispatcher, operator actions,
// outbound webhooks, metrics and scheduled retention, started and stopped as one.
import type { Logger, MetricsRegistry } from '../telemetry/index.ts';
import { silentLogger } from '../telemetry/index.ts';
import { EventDispatcher } from './dispatcher.ts';
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
}

export class EventService {
  readonly log: EventLog;
  readonly dispatcher: EventDispatcher;
  readonly admin: EventsAdmin;
  readonly webhooks: WebhookService;
  readonly metrics: EventMetrics;
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

  async start(): Promise<void> {
    await this.log.start();
    await this.webhooks.start();
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
    await this.dispatcher.stop();
    await this.log.stop();
  }
}
