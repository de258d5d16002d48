// Cluster mode of the event service: one NATS connection per process, the JetStream relay (every
// process runs it, the consumer lease lets one publish at a time, the stream fences a stale one) and
// a partitioned consumer group per subscriber. Subscribers use the same API as in embedded mode;
// this module only decides which transport delivers to them.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger, MetricsRegistry } from '../telemetry/index.ts';
import type { ConsumerOptions, EventDispatcher, EventHandler } from './dispatcher.ts';
import { EventsNatsUnavailableError } from './errors.ts';
import { NatsRelay } from './nats-relay.ts';
import { PartitionedNatsConsumer } from './nats-partition-consumer.ts';

export interface EventClusterOptions {
  /** NATS server URLs (comma-separated in one string is accepted). */
  readonly servers: string;
  readonly token?: string;
  readonly user?: string;
  readonly password?: string;
  /** JetStream stream (default `CROSSDOCK_EVENTS`). */
  readonly stream?: string;
  /** Subject prefix (default `crossdock.events`). */
  readonly subjectPrefix?: string;
  /** Entity partitions (default 16). */
  readonly partitions?: number;
  /** JetStream ack wait of partition consumers, in ms (default 30000). */
  readonly ackWaitMs?: number;
  /** Duplicate window of a stream this process creates, in ms (default 600000). */
  readonly duplicateWindowMs?: number;
  /** How often partitions are rebalanced and their leases renewed, in ms (default 2000). */
  readonly rebalanceMs?: number;
}

interface Subscription {
  readonly handler: EventHandler;
  readonly options: ConsumerOptions;
  group: PartitionedNatsConsumer | undefined;
}

export class EventCluster {
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly partitions: number;
  readonly #o: EventClusterOptions;
  readonly #dispatcher: EventDispatcher;
  readonly #logger: Logger;
  readonly #metrics: MetricsRegistry | undefined;
  readonly #subscriptions = new Map<string, Subscription>();
  #nats: NatsConnection | undefined;
  #relay: NatsRelay | undefined;

  constructor(
    options: EventClusterOptions,
    deps: { dispatcher: EventDispatcher; logger: Logger; metrics?: MetricsRegistry },
  ) {
    this.#o = options;
    this.#dispatcher = deps.dispatcher;
    this.#logger = deps.logger;
    this.#metrics = deps.metrics;
    this.stream = options.stream ?? 'CROSSDOCK_EVENTS';
    this.subjectPrefix = options.subjectPrefix ?? 'crossdock.events';
    this.partitions = options.partitions ?? 16;
  }

  /** The connection, once started (for tests and tools). */
  get nats(): NatsConnection | undefined {
    return this.#nats;
  }

  /**
   * Connects (a NATS server that is down at start is an error; one that goes down later is waited
   * for: the client reconnects for ever), starts the relay and every registered subscriber.
   */
  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (error) {
      await this.stop().catch(() => undefined);
      // Credentials in a URL (`nats://user:pass@host`) stay out of the message.
      const servers = this.#o.servers.replace(/\/\/[^@/]*@/g, '//');
      throw new EventsNatsUnavailableError(servers, (error as Error).message, error);
    }
  }

  async #start(): Promise<void> {
    const nc = await connect({
      servers: this.#o.servers.split(',').map((s) => s.trim()),
      name: `crossdock ${this.#dispatcher.owner}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      ...(this.#o.token === undefined ? {} : { token: this.#o.token }),
      ...(this.#o.user === undefined ? {} : { user: this.#o.user }),
      ...(this.#o.password === undefined ? {} : { pass: this.#o.password }),
    });
    this.#nats = nc;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.#logger.warn({ server: s.server }, 'NATS disconnected');
        else if (s.type === 'reconnect') this.#logger.info({ server: s.server }, 'NATS reconnected');
      }
    })().catch(() => undefined);
    this.#relay = new NatsRelay({
      dispatcher: this.#dispatcher,
      nats: nc,
      stream: this.stream,
      subjectPrefix: this.subjectPrefix,
      partitions: this.partitions,
      ...(this.#o.duplicateWindowMs === undefined ? {} : { duplicateWindowMs: this.#o.duplicateWindowMs }),
    });
    await this.#relay.start();
    for (const [name, sub] of this.#subscriptions) await this.#startGroup(name, sub);
  }

  /**
   * Delivers to `handler` through the partitions: each entity's events in order, one process at a
   * time per partition. Before `start()` the subscription is kept and started with the cluster.
   */
  async subscribe(name: string, handler: EventHandler, options: ConsumerOptions = {}): Promise<void> {
    await this.unsubscribe(name);
    const sub: Subscription = { handler, options, group: undefined };
    this.#subscriptions.set(name, sub);
    if (this.#nats !== undefined) await this.#startGroup(name, sub);
  }

  async unsubscribe(name: string): Promise<void> {
    const sub = this.#subscriptions.get(name);
    this.#subscriptions.delete(name);
    await sub?.group?.stop();
  }

  /** The partitioned consumer of a subscriber (for metrics and tests). */
  group(name: string): PartitionedNatsConsumer | undefined {
    return this.#subscriptions.get(name)?.group;
  }

  async #startGroup(name: string, sub: Subscription): Promise<void> {
    const o = sub.options;
    const group = new PartitionedNatsConsumer({
      dispatcher: this.#dispatcher,
      nats: this.#nats!,
      group: name,
      handler: sub.handler,
      stream: this.stream,
      subjectPrefix: this.subjectPrefix,
      partitions: this.partitions,
      ...(this.#o.ackWaitMs === undefined ? {} : { ackWaitMs: this.#o.ackWaitMs }),
      ...(this.#o.rebalanceMs === undefined ? {} : { rebalanceMs: this.#o.rebalanceMs }),
      ...(o.maxAttempts === undefined ? {} : { maxAttempts: o.maxAttempts }),
      ...(this.#metrics === undefined ? {} : { metrics: this.#metrics }),
      consumerOptions: {
        ...(o.retry === undefined ? {} : { retry: o.retry }),
        ...(o.filter === undefined ? {} : { filter: o.filter }),
        ...(o.batchSize === undefined ? {} : { batchSize: o.batchSize }),
      },
    });
    sub.group = group;
    await group.start();
  }

  /** Readiness: NATS connected and JetStream answering for the stream. */
  async check(): Promise<void> {
    const nc = this.#nats;
    if (nc === undefined) throw new Error('NATS not connected yet');
    await nc.rtt();
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    await jsm.streams.info(this.stream);
  }

  async stop(): Promise<void> {
    for (const sub of this.#subscriptions.values()) {
      await sub.group?.stop();
      sub.group = undefined;
    }
    await this.#relay?.stop();
    this.#relay = undefined;
    const nc = this.#nats;
    this.#nats = undefined;
    if (nc !== undefined && !nc.isClosed()) await nc.close();
  }
}
