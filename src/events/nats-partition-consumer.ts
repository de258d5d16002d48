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
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, Gauge } from 'prom-client';
import type { MetricsRegistry } from '../telemetry/index.ts';
import type { ConsumerRunner, EventDispatcher, EventHandler } from './dispatcher.ts';
import type { CloudEvent, LoggedEvent } from './envelope.ts';
import { eventTypeFromCloudEvents } from './event-types.ts';
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
  readonly #redeliveries: Counter<'group' | 'partition'> | undefined;

  constructor(options: PartitionedConsumerOptions) {
    this.#o = options;
    const registry = options.metrics;
    if (registry === undefined) return;
    const registers = [registry];
    const group = options.group;
    this.#redeliveries = new Counter({
      name: 'crossdock_events_partition_redeliveries_total',
      help: 'JetStream messages received again (not acknowledged in time, or after a handover), by partition.',
      labelNames: ['group', 'partition'],
      registers,
    });
    const owned = () => this.owned();
    const owner = options.dispatcher.owner;
    new Gauge({
      name: 'crossdock_events_partition_owned',
      help: 'Partitions this process owns (1), labelled with the owner identity.',
      labelNames: ['group', 'partition', 'owner'],
      registers,
      collect() {
        this.reset();
        for (const p of owned()) this.set({ group, partition: String(p), owner }, 1);
      },
    });
    const lag = async (p: number) => {
      const jsm = await jetstreamManager(options.nats);
      return (await jsm.consumers.info(options.stream, this.#durable(p))).num_pending;
    };
    new Gauge({
      name: 'crossdock_events_partition_lag_messages',
      help: 'Messages of an owned partition not yet delivered from JetStream.',
      labelNames: ['group', 'partition'],
      registers,
      async collect() {
        this.reset();
        for (const p of owned()) this.set({ group, partition: String(p) }, await lag(p));
      },
    });
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
      if (holder === undefined || holder === null) await this.#claim(p);
    }
  }

  async #claim(p: number): Promise<void> {
    const d = this.#o.dispatcher;
    const name = this.#name(p);
    const runner = await d.subscribe(name, this.#o.handler, {
      source: 'external',
      kind: 'partition',
      ...(this.#o.maxAttempts === undefined ? {} : { maxAttempts: this.#o.maxAttempts }),
    });
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
        if (m.redelivered) this.#redeliveries?.inc({ group: this.#o.group, partition: String(p) });
        const event = fromCloudEvent(m.json<CloudEvent>());
        if (event === undefined) {
          m.term();
          continue;
        }
        try {
          await runner.offer([event]);
          m.ack();
        } catch {
          m.nak(1000);
        }
      }
    })();
    this.#owned.set(p, { runner, messages, done });
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
