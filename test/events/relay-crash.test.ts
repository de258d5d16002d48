// The relay process killed with SIGKILL while events are committed and published: its successor
// (another process, once the lease expires) republishes from the committed position, the stream's
// duplicate window absorbs what the dead one had already published, and downstream every event is
// applied once, in entity order. The exact crash point "published but position not committed" is
// also tested deterministically in nats-relay.test.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventDispatcher,
  EventLog,
  NatsRelay,
  PartitionedNatsConsumer,
  type LoggedEvent,
} from '../../src/events/index.ts';
import { NATS_URL, natsAvailable } from '../support/services.ts';
import { dialects, until, type Opened } from './support/harness.ts';

const pgCase = dialects.find((d) => d.dialect === 'postgres');

describe.skipIf(!natsAvailable || pgCase === undefined)('relay crash', () => {
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const stream = `CD_TEST_RELAYCRASH_${suffix}`;
  const prefix = `cdrelaycrash.${suffix}`;
  const partitions = 4;
  let opened: Opened;
  let log: EventLog;
  let nc: NatsConnection;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    opened = await pgCase!.open();
    log = new EventLog({ store: opened.store });
    nc = await connect({ servers: NATS_URL });
  });
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await log.stop();
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
    await nc.close();
    await opened.cleanup();
  });

  it('loses nothing and applies nothing twice when the relay process is killed mid-stream', async () => {
    child = spawn(
      process.execPath,
      [
        'bin/run-ts.js',
        'test/events/fixtures/relay-node.ts',
        opened.pgUrl!,
        stream,
        prefix,
        String(partitions),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve();
      });
      child!.once('exit', (code) => reject(new Error(`relay process exited with ${code}`)));
    });

    const applied: { id: string; key: string; seq: number }[] = [];
    const downstream = new EventDispatcher({ log, owner: 'down', pollIntervalMs: 200, leaseMs: 1500 });
    const consumer = new PartitionedNatsConsumer({
      dispatcher: downstream,
      nats: nc,
      group: 'down',
      stream,
      subjectPrefix: prefix,
      partitions,
      rebalanceMs: 100,
      handler: (e: LoggedEvent) => {
        applied.push({ id: e.id, key: e.entity.id, seq: e.entitySeq });
      },
    });
    await consumer.start();

    let appended = 0;
    let producing = true;
    const producer = (async () => {
      for (let r = 0; producing; r++) {
        await log.append(
          Array.from({ length: 10 }, (_, e) => ({
            type: 'order:changed' as const,
            tenantId: 'acme',
            entity: { id: `SO-${e}` },
            data: { r },
          })),
        );
        appended += 10;
        await new Promise((res) => setTimeout(res, 5));
      }
    })();
    await until(() => applied.length >= 100, 30_000);
    child.kill('SIGKILL');
    // The successor: another process identity, which gets the relay's lease once it expires.
    const successorNode = new EventDispatcher({ log, owner: 'relay-b', pollIntervalMs: 100, leaseMs: 1500 });
    const successor = new NatsRelay({
      dispatcher: successorNode,
      nats: nc,
      stream,
      subjectPrefix: prefix,
      partitions,
    });
    await successor.start();
    await new Promise((res) => setTimeout(res, 2500));
    producing = false;
    await producer;

    await until(() => applied.length >= appended, 30_000);
    await downstream.idle();
    expect(applied).toHaveLength(appended);
    expect(new Set(applied.map((a) => a.id)).size).toBe(appended);
    const byEntity = new Map<string, number[]>();
    for (const a of applied) byEntity.set(a.key, [...(byEntity.get(a.key) ?? []), a.seq]);
    for (const seqs of byEntity.values()) expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    // The stream itself holds each event once: the republish fell into the duplicate window.
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.state.messages).toBe(appended);

    await consumer.stop();
    await downstream.stop();
    await successor.stop();
    await successorNode.stop();
  }, 90_000);
});
