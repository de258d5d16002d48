// Cluster mode with real processes: two nodes consume the relayed log through partition leases; one
// is killed with SIGKILL mid-run and a third joins. Every event is recorded exactly once and each
// entity's events in sequence order (the handler is idempotent by event id, as at-least-once
// delivery across a crash requires).
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventDispatcher, EventLog, NatsRelay } from '../../src/events/index.ts';
import type { Migration } from '../../src/store/index.ts';
import { NATS_URL, natsAvailable } from '../support/services.ts';
import { dialects, until, type Opened } from './support/harness.ts';

const pgCase = dialects.find((d) => d.dialect === 'postgres');

const applied: Migration = {
  id: '0991_test_applied',
  description: 'what the cluster nodes applied',
  sqlite:
    'create table t_applied (n integer primary key, event_id text unique, entity text, seq integer, node text);',
  postgres:
    'create table t_applied (n bigserial primary key, event_id text unique, entity text, seq bigint, node text);',
};

describe.skipIf(!natsAvailable || pgCase === undefined)('cluster mode with processes', () => {
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const stream = `CD_TEST_CLUSTER_${suffix}`;
  const prefix = `cdcluster.${suffix}`;
  const partitions = 8;
  let opened: Opened;
  let log: EventLog;
  let relayNode: EventDispatcher;
  let relay: NatsRelay;
  let nc: NatsConnection;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    opened = await pgCase!.open([applied]);
    log = new EventLog({ store: opened.store });
    relayNode = new EventDispatcher({ log, pollIntervalMs: 3_600_000 });
    nc = await connect({ servers: NATS_URL });
    relay = new NatsRelay({ dispatcher: relayNode, nats: nc, stream, subjectPrefix: prefix, partitions });
    await relay.start();
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await relay.stop();
    await relayNode.stop();
    await log.stop();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => false);
    await nc.close();
    await opened.cleanup();
  });

  function startNode(name: string): Promise<ChildProcess> {
    const child = spawn(
      process.execPath,
      [
        'bin/run-ts.js',
        'test/events/fixtures/partition-node.ts',
        opened.pgUrl!,
        stream,
        prefix,
        String(partitions),
        name,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(child);
    return new Promise((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve(child);
      });
      child.once('exit', (code) => reject(new Error(`node ${name} exited with ${code}`)));
    });
  }

  const total = async () =>
    Number(
      (await sql<{ n: string }>`select count(*) as n from t_applied`.execute(opened.store.db())).rows[0]!.n,
    );

  it('records every event once, in entity order, through a SIGKILL and a join', async () => {
    const a = await startNode('node-a');
    await startNode('node-b');
    let appended = 0;
    const appendRound = async () => {
      for (let i = 0; i < 5; i++) {
        await log.append(
          Array.from({ length: 10 }, (_, e) => ({
            type: 'order:changed' as const,
            tenantId: 'acme',
            entity: { id: `SO-${e}` },
            data: { i },
          })),
        );
        appended += 10;
      }
    };
    await appendRound();
    await until(async () => (await total()) >= 20, 30_000);
    a.kill('SIGKILL');
    await appendRound();
    await startNode('node-c');
    await appendRound();
    await until(async () => (await total()) === appended, 60_000);

    const rows = (
      await sql<{
        entity: string;
        seq: string;
        node: string;
      }>`select entity, seq, node from t_applied order by n`.execute(opened.store.db())
    ).rows;
    expect(rows).toHaveLength(appended);
    const byEntity = new Map<string, number[]>();
    for (const r of rows) byEntity.set(r.entity, [...(byEntity.get(r.entity) ?? []), Number(r.seq)]);
    expect(byEntity.size).toBe(10);
    for (const seqs of byEntity.values()) expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(new Set(rows.map((r) => r.node)).size).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
