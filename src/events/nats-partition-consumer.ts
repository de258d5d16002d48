// Cluster-mode consumer of the JetStream relay: entities are hashed into a fixed number of partitions
// (the relay puts the partition in the subject) and each partition is owned by one process at a time
// through a lease in the store: the lease of the log consumer `<group>#<partition>`, so the process
// that holds it is also the only one that can commit that partition's entity states. For each owned
// partition the process reads a durable JetStream consumer with one subject filter
// (`<prefix>.*.<partition>.>`; NATS 2.9 has no multi-filter consumers), hands each message to the
// partition's consumer (`offer`: per-entity order, duplicates dropped, failures retried and
// dead-lettered as in embedded mode) and acknowledges it once the outcome is committed. Processes
// rebalance: each claims free or expired partitions up to its fair share and gives back extras.
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, Gauge } from 'prom-client';
import type { MetricsRegistry } from '../telemetry/index.ts';
import type { ConsumerOptions, ConsumerRunner, EventDispatcher, EventHandler } from './dispatcher.ts';
import type { CloudEvent, LoggedEvent } from './envelope.ts';
import { eventTypeFromCloudEvents } from './event-types.ts';
import { entityPartition } from './nats-relay.ts';
import type { EventsDb } from './tables.ts';

export interface PartitionedConsumerOptions {
  readonly dispatcher: EventDispatcher;
  readonly nats: NatsConnection;
  /** Consumer group name; partitions are the log consumers `<group>#<n>`. */
  readonly group: string;
  readonly handler: EventHandler;
  /** The relay's stream, subject prefix and partition count. */
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly partitions: number;
  /** How often this process rebalances and renews its partition leases, in ms (default 2000). */
  readonly rebalanceMs?: number;
  /** Failed attempts before a dead letter (default 5). */
  readonly maxAttempts?: number;
  /**
   * Options of each partition's consumer, as for an embedded consumer: `retry`, `filter`, `batchSize`.
   * (No `start`: a partition consumer expects each entity's history from sequence 1, so it always
   * reads the stream from its beginning.)
   */
  readonly consumerOptions?: Pick<ConsumerOptions, 'retry' | 'filter' | 'batchSize'>;
  /**
   * How long JetStream waits for an acknowledgement before redelivering, in ms (default 30000): after
   * a process dies, its unacknowledged messages reach the new owner after this delay.
   */
  readonly ackWaitMs?: number;
  /** Registry for the per-partition metrics of this process (default: none kept). */
  readonly metrics?: MetricsRegistry;
}

/** The log's form of an event relayed as a CloudEvent. */
export function fromCloudEvent(ce: CloudEvent): LoggedEvent | undefined {
  const type = eventTypeFromCloudEvents(ce.type);
  if (type === undefined) return undefined;
  return {
    position: Number(ce.sequence),
    id: ce.id,
    type,
    source: ce.source,
    subject: ce.subject,
    time: ce.time,
    tenantId: ce.tenantid,
    entity: { tenantId: ce.tenantid, kind: ce.entitykind, id: ce.entityid },
    entitySeq: ce.entityseq,
    schemaVersion: ce.dataversion,
    data: ce.data,
    correlationId: ce.correlationid,
    causationId: ce.causationid,
    traceparent: ce.traceparent,
    recordedAt: Date.parse(ce.time),
  };
}

interface PartitionMetrics {
  readonly redeliveries: Counter<'group' | 'partition'>;
  /** Running groups of this process; the gauges read them at scrape time. */
  readonly groups: Set<PartitionedNatsConsumer>;
}

/**
 * The per-partition metrics of one registry, created once and shared by every group registered on
 * it (a registry refuses a second metric of the same name).
 */
const metricsByRegistry = new WeakMap<MetricsRegistry, PartitionMetrics>();
function partitionMetrics(registry: MetricsRegistry): PartitionMetrics {
  const known = metricsByRegistry.get(registry);
  if (known !== undefined) return known;
  const registers = [registry];
  const groups = new Set<PartitionedNatsConsumer>();
  const redeliveries = new Counter({
    name: 'crossdock_events_partition_redeliveries_total',
    help: 'JetStream messages received again (not acknowledged in time, or after a handover), by partition.',
    labelNames: ['group', 'partition'],
    registers,
  });
  new Gauge({
    name: 'crossdock_events_partition_owned',
    help: 'Partitions this process owns (1), labelled with the owner identity.',
    labelNames: ['group', 'partition', 'owner'],
    registers,
    collect() {
      this.reset();
      for (const g of groups)
        for (const p of g.owned()) this.set({ group: g.group, partition: String(p), owner: g.owner }, 1);
    },
  });
  new Gauge({
    name: 'crossdock_events_partition_lag_messages',
    help: 'Messages of an owned partition not yet acknowledged: waiting in JetStream or being applied.',
    labelNames: ['group', 'partition'],
    registers,
    async collect() {
      this.reset();
      // Asked in parallel, each within 2 s; left out while NATS cannot be asked (down, restarting)
      // rather than failing or stalling the scrape.
      const asked = [...groups].flatMap((g) => g.owned().map(async (p) => ({ g, p, n: await g.lag(p) })));
      for (const { g, p, n } of await Promise.all(asked)) {
        if (n !== undefined) this.set({ group: g.group, partition: String(p) }, n);
      }
    },
  });
  const created = { redeliveries, groups };
  metricsByRegistry.set(registry, created);
  return created;
}

interface Owned {
  readonly runner: ConsumerRunner;
  readonly messages: ConsumerMessages;
  readonly done: Promise<void>;
}

export class PartitionedNatsConsumer {
  readonly #o: PartitionedConsumerOptions;
  readonly #owned = new Map<number, Owned>();
  #timer: NodeJS.Timeout | undefined;
  #rebalancing: Promise<void> | undefined;
  #stopped = false;
  readonly #metrics: PartitionMetrics | undefined;
  #jsm: JetStreamManager | undefined;

  constructor(options: PartitionedConsumerOptions) {
    this.#o = options;
    if (options.metrics !== undefined) {
      this.#metrics = partitionMetrics(options.metrics);
    }
  }

  /** Messages of partition `p` not yet acknowledged; undefined while NATS cannot be asked. */
  async lag(p: number): Promise<number | undefined> {
    try {
      this.#jsm ??= await jetstreamManager(this.#o.nats, { timeout: 2000, checkAPI: false });
      const jsm = this.#jsm;
      const info = await jsm.consumers.info(this.#o.stream, this.#durable(p));
      return info.num_pending + info.num_ack_pending;
    } catch {
      return undefined;
    }
  }

  get group(): string {
    return this.#o.group;
  }

  get owner(): string {
    return this.#o.dispatcher.owner;
  }

  #durable(p: number): string {
    return `${this.#o.group.replace(/[^A-Za-z0-9_-]/g, '_')}-p${p}`;
  }

  /** Partitions this process owns now. */
  owned(): number[] {
    return [...this.#owned.keys()].sort((a, b) => a - b);
  }

  #member(): string {
    return `${this.#o.group}@${this.#o.dispatcher.owner}`;
  }

  #name(p: number): string {
    return `${this.#o.group}#${p}`;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#metrics?.groups.add(this);
    await this.rebalance();
    this.#timer = setInterval(
      () => void this.rebalance().catch(() => undefined),
      this.#o.rebalanceMs ?? 2000,
    );
    this.#timer.unref();
  }

  /** Claims free partitions up to a fair share, renews owned ones, gives back extras and lost ones. */
  rebalance(): Promise<void> {
    this.#rebalancing ??= this.#rebalance().finally(() => {
      this.#rebalancing = undefined;
    });
    return this.#rebalancing;
  }

  async #rebalance(): Promise<void> {
    if (this.#stopped) return;
    const d = this.#o.dispatcher;
    const db = d.store.db<EventsDb>();
    const now = Date.now();
    // Membership: each process keeps a heartbeat row `<group>@<owner>` (kind `member`), so a process
    // that owns nothing yet still counts when others compute their fair share.
    const heartbeatUntil = now + 3 * (this.#o.rebalanceMs ?? 2000);
    await db
      .insertInto('ev_consumers')
      .values({
        name: this.#member(),
        kind: 'member',
        status: 'active',
        paused_reason: null,
        start_position: 0,
        position: 0,
        generation: 0,
        replay_position: null,
        replay_until: null,
        replay_filter: null,
        consecutive_failures: 0,
        admin_version: 0,
        retry_at: null,
        owner: d.owner,
        lease_until: heartbeatUntil,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.column('name').doUpdateSet({ lease_until: heartbeatUntil, updated_at: now }))
      .execute();
    const members = await db
      .selectFrom('ev_consumers')
      .select(['owner'])
      .where('kind', '=', 'member')
      .where('name', 'like', `${this.#o.group}@%`)
      .where('lease_until', '>', now)
      .execute();
    const live = new Set<string>([d.owner, ...members.flatMap((m) => (m.owner === null ? [] : [m.owner]))]);
    const names = Array.from({ length: this.#o.partitions }, (_, p) => this.#name(p));
    const rows = await db
      .selectFrom('ev_consumers')
      .select(['name', 'owner', 'lease_until'])
      .where('name', 'in', names)
      .execute();
    const ownerOf = new Map<string, string | null>();
    for (const r of rows) {
      const alive = r.owner !== null && Number(r.lease_until ?? 0) > now;
      ownerOf.set(r.name, alive ? r.owner : null);
    }
    const share = Math.ceil(this.#o.partitions / live.size);

    // Partitions whose lease went to another process are dropped at once.
    for (const p of this.owned()) {
      const holder = ownerOf.get(this.#name(p));
      if (holder !== undefined && holder !== null && holder !== d.owner) await this.#release(p);
    }
    // Extras beyond the fair share are given back, so a joining process gets work.
    while (this.#owned.size > share) await this.#release(this.owned().at(-1)!);
    for (let p = 0; p < this.#o.partitions && this.#owned.size < share; p++) {
      if (this.#owned.has(p) || this.#stopped) continue;
      const holder = ownerOf.get(this.#name(p));
      // A lease still held under our own name but not in use (a claim that failed half-way) is ours
      // to take again.
      if (holder === undefined || holder === null || holder === d.owner) await this.#claim(p);
    }
  }

  async #claim(p: number): Promise<void> {
    const d = this.#o.dispatcher;
    const name = this.#name(p);
    const extra = this.#o.consumerOptions ?? {};
    const userFilter = extra.filter;
    const partitions = this.#o.partitions;
    const runner = await d.subscribe(name, this.#o.handler, {
      ...(extra.retry === undefined ? {} : { retry: extra.retry }),
      ...(extra.batchSize === undefined ? {} : { batchSize: extra.batchSize }),
      source: 'external',
      kind: 'partition',
      // A replay of this partition's consumer reads the log, which holds every partition's events:
      // only this partition's entities are its to apply.
      filter: (e) =>
        entityPartition(e.tenantId, e.entity.kind, e.entity.id, partitions) === p &&
        (userFilter === undefined || userFilter(e)),
      ...(this.#o.maxAttempts === undefined ? {} : { maxAttempts: this.#o.maxAttempts }),
    });
    try {
      await this.#attach(p, runner);
    } catch (error) {
      // NATS unreachable, or the lease went elsewhere: give the partition back for the next round.
      if (this.#owned.get(p)?.runner !== runner) await d.unsubscribe(name);
      throw error;
    }
  }

  async #attach(p: number, runner: ConsumerRunner): Promise<void> {
    const d = this.#o.dispatcher;
    const name = this.#name(p);
    // The lease is taken by the consumer's first step; only read NATS once it is ours.
    await runner.idle();
    const row = await d.store
      .db<EventsDb>()
      .selectFrom('ev_consumers')
      .select(['owner'])
      .where('name', '=', name)
      .executeTakeFirst();
    if (row?.owner !== d.owner) {
      await d.unsubscribe(name);
      return;
    }
    const durable = this.#durable(p);
    const jsm = await jetstreamManager(this.#o.nats);
    try {
      await jsm.consumers.info(this.#o.stream, durable);
    } catch {
      await jsm.consumers.add(this.#o.stream, {
        durable_name: durable,
        filter_subject: `${this.#o.subjectPrefix}.*.${p}.>`,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: (this.#o.ackWaitMs ?? 30_000) * 1_000_000,
      });
    }
    const consumer = await jetstream(this.#o.nats).consumers.get(this.#o.stream, durable);
    const messages = await consumer.consume({ max_messages: 256 });
    const done = (async () => {
      for await (const m of messages) {
        if (m.redelivered) this.#metrics?.redeliveries.inc({ group: this.#o.group, partition: String(p) });
        let event: LoggedEvent | undefined;
        try {
          event = fromCloudEvent(m.json<CloudEvent>());
        } catch {
          event = undefined;
        }
        if (event === undefined) {
          m.term();
          continue;
        }
        // Not awaited: offers queue in arrival order and the consumer's next step takes all that
        // are queued, so one commit covers many messages. JetStream's ack-pending limit bounds how
        // many are in flight. A refused offer (step failed, partition closing) is redelivered.
        runner.offer([event]).then(
          () => m.ack(),
          () => m.nak(1000),
        );
      }
    })().finally(() => {
      // The message iterator ended without a release (the JetStream consumer went away, or the
      // client gave up on it): give the partition back so the next rebalance claims it afresh.
      if (this.#owned.get(p)?.messages === messages) void this.#release(p).catch(() => undefined);
    });
    this.#owned.set(p, { runner, messages, done });
    // Shown as 0 from the start, so a dashboard tells "no redeliveries" from "no data".
    this.#metrics?.redeliveries.inc({ group: this.#o.group, partition: String(p) }, 0);
  }

  async #release(p: number): Promise<void> {
    const owned = this.#owned.get(p);
    this.#owned.delete(p);
    if (owned === undefined) return;
    await owned.messages.close();
    await owned.done.catch(() => undefined);
    await this.#o.dispatcher.unsubscribe(this.#name(p));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#metrics?.groups.delete(this);
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#rebalancing;
    for (const p of this.owned()) await this.#release(p);
    await this.#o.dispatcher.store
      .db<EventsDb>()
      .deleteFrom('ev_consumers')
      .where('name', '=', this.#member())
      .execute();
  }
}
