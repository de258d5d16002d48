// Cluster mode in one process: two "nodes" (dispatchers with their own identity) share the store and
// NATS; the relay publishes the log, partitions are leased to one node at a time, and every event
// is applied exactly once in entity order, also when a node leaves and the other takes over.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventDispatcher,
  EventLog,
  NatsRelay,
  PartitionedNatsConsumer,
  type LoggedEvent,
} from '../../src/events/index.ts';
import { createMetricsRegistry, type MetricsRegistry } from '../../src/telemetry/index.ts';
import { NATS_URL, natsAvailable } from '../support/services.ts';
import { dialects, until, type Opened } from './support/harness.ts';

const pgCase = dialects.find((d) => d.dialect === 'postgres');

describe.skipIf(!natsAvailable || pgCase === undefined)(
  'partitioned JetStream consumers on PostgreSQL',
  () => {
    const suffix = `${process.pid}_${Date.now().toString(36)}`;
    const stream = `CD_TEST_PARTS_${suffix}`;
    const prefix = `cdparts.${suffix}`;
    const partitions = 6;
    let opened: Opened;
    let log: EventLog;
    let relayNode: EventDispatcher;
    let relay: NatsRelay;
    let nc: NatsConnection;
    let jsm: JetStreamManager;
    const applied: { node: string; key: string; seq: number }[] = [];

    beforeAll(async () => {
      opened = await pgCase!.open();
      log = new EventLog({ store: opened.store });
      relayNode = new EventDispatcher({ log, pollIntervalMs: 3_600_000 });
      nc = await connect({ servers: NATS_URL });
      jsm = await jetstreamManager(nc);
      relay = new NatsRelay({ dispatcher: relayNode, nats: nc, stream, subjectPrefix: prefix, partitions });
      await relay.start();
    });
    afterAll(async () => {
      await relay.stop();
      await relayNode.stop();
      await log.stop();
      await jsm.streams.delete(stream).catch(() => false);
      await nc.close();
      await opened.cleanup();
    });

    const node = (name: string) => {
      const metrics = createMetricsRegistry({ defaultMetrics: false });
      const dispatcher = new EventDispatcher({ log, owner: name, pollIntervalMs: 200, leaseMs: 1500 });
      const consumer = new PartitionedNatsConsumer({
        dispatcher,
        nats: nc,
        group: 'sync',
        stream,
        subjectPrefix: prefix,
        partitions,
        rebalanceMs: 100,
        metrics,
        handler: (e: LoggedEvent) => {
          applied.push({ node: name, key: `${e.entity.kind}/${e.entity.id}`, seq: e.entitySeq });
        },
      });
      return { dispatcher, consumer, metrics };
    };

    const metricsText = (registry: MetricsRegistry) => registry.metrics();

    function check(expected: number, entities: number): void {
      const byEntity = new Map<string, number[]>();
      for (const a of applied) byEntity.set(a.key, [...(byEntity.get(a.key) ?? []), a.seq]);
      expect(applied).toHaveLength(expected);
      expect(byEntity.size).toBe(entities);
      for (const seqs of byEntity.values()) expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }

    it('applies every event once, in entity order, across two nodes and a handover', async () => {
      const a = node('node-a');
      const b = node('node-b');
      await a.consumer.start();
      await b.consumer.start();
      // A started alone and took every partition; at its next rebalance it sees B and gives half back.
      await until(() => a.consumer.owned().length === 3 && b.consumer.owned().length === 3);
      expect([...a.consumer.owned(), ...b.consumer.owned()].sort()).toEqual([0, 1, 2, 3, 4, 5]);

      const append = async (round: number) => {
        for (let i = 0; i < 5; i++) {
          await log.append(
            Array.from({ length: 12 }, (_, e) => ({
              type: 'order:changed' as const,
              tenantId: 'acme',
              entity: { id: `SO-${e}` },
              data: { round, i },
            })),
          );
        }
      };
      await append(1);
      await until(() => applied.length === 60);
      check(60, 12);
      expect(new Set(applied.map((x) => x.node))).toEqual(new Set(['node-a', 'node-b']));
      // Acknowledgements reach JetStream just after the outcome commits: lag drops to 0 then.
      const lagZero = (text: string) =>
        b.consumer
          .owned()
          .every((p) =>
            text.includes(`crossdock_events_partition_lag_messages{group="sync",partition="${p}"} 0`),
          );
      await until(async () => lagZero(await metricsText(b.metrics)));
      const exposition = await metricsText(b.metrics);
      for (const p of b.consumer.owned()) {
        expect(exposition).toContain(
          `crossdock_events_partition_owned{group="sync",partition="${p}",owner="node-b"} 1`,
        );
        expect(exposition).toContain(
          `crossdock_events_partition_lag_messages{group="sync",partition="${p}"} 0`,
        );
      }

      // Node A leaves; B takes all partitions over and continues each entity where A stopped.
      await a.consumer.stop();
      await a.dispatcher.stop();
      await until(() => b.consumer.owned().length === partitions);
      await append(2);
      await until(() => applied.length === 120);
      check(120, 12);
      await b.consumer.stop();
      await b.dispatcher.stop();
    });

    it('counts redeliveries per partition and applies a redelivered message once', async () => {
      const metrics = createMetricsRegistry({ defaultMetrics: false });
      const dispatcher = new EventDispatcher({ log, owner: 'node-slow', pollIntervalMs: 200, leaseMs: 1500 });
      const seen: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const consumer = new PartitionedNatsConsumer({
        dispatcher,
        nats: nc,
        group: 'slow',
        stream,
        subjectPrefix: prefix,
        partitions,
        rebalanceMs: 100,
        ackWaitMs: 1000,
        metrics,
        // The first event holds its partition's step past the ack wait, so JetStream redelivers
        // that partition's unacknowledged messages while the first copies are still queued.
        handler: async (e: LoggedEvent) => {
          seen.push(e.id);
          if (seen.length === 1) await gate;
        },
      });
      await consumer.start();
      const total = (await log.read(0, 10_000)).length;
      const redelivered = async () =>
        [
          ...(await metrics.metrics()).matchAll(
            /crossdock_events_partition_redeliveries_total\{[^}]*\} (\d+)/g,
          ),
        ]
          .map((m) => Number(m[1]))
          .reduce((a, b) => a + b, 0);
      await until(async () => (await redelivered()) > 0, 15_000);
      release();
      await until(() => seen.length >= total, 15_000);
      await dispatcher.idle();
      expect(seen).toHaveLength(total);
      expect(new Set(seen).size).toBe(total);
      expect(await redelivered()).toBeGreaterThan(0);
      await consumer.stop();
      await dispatcher.stop();
    });
  },
);
