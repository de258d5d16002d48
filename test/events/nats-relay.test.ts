// The JetStream relay against the real NATS server: log order, subjects by tenant/partition/type and
// Nats-Msg-Id; a relay that lost its commit republishes without duplicating anything; a relay that
// lost its lease cannot publish after its successor.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventDispatcher,
  EventLog,
  NatsRelay,
  entityPartition,
  eventSubject,
  type LoggedEvent,
} from '../../src/events/index.ts';
import type { EventsDb } from '../../src/events/tables.ts';
import { NATS_URL, natsAvailable } from '../support/services.ts';
import { dialects, until, type Opened } from './support/harness.ts';

const sqlite = dialects.find((d) => d.dialect === 'sqlite')!;

describe.skipIf(!natsAvailable)('NATS JetStream relay', () => {
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const stream = `CD_TEST_EVENTS_${suffix}`;
  const prefix = `cdtest.${suffix}`;
  let opened: Opened;
  let log: EventLog;
  let dispatcher: EventDispatcher;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    opened = await sqlite.open();
    log = new EventLog({ store: opened.store });
    dispatcher = new EventDispatcher({ log, pollIntervalMs: 3_600_000 });
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    await dispatcher.stop();
    await log.stop();
    await jsm.streams.delete(stream).catch(() => false);
    await nc.close();
    await opened.cleanup();
  });

  const count = async () => (await jsm.streams.info(stream)).state.messages;
  async function streamIds(): Promise<{ id: string; subject: string; msgId: string }[]> {
    const n = (await jsm.streams.info(stream)).state.last_seq;
    const out = [];
    for (let seq = 1; seq <= n; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m === null) continue;
      out.push({
        id: m.json<{ id: string }>().id,
        subject: m.subject,
        msgId: m.header.get('Nats-Msg-Id'),
      });
    }
    return out;
  }
  const relayOf = () => new NatsRelay({ dispatcher, nats: nc, stream, subjectPrefix: prefix, partitions: 4 });

  it('publishes the log in order, by tenant, partition and type, with Nats-Msg-Id', async () => {
    const relay = relayOf();
    await relay.start();
    for (let i = 0; i < 4; i++) {
      await log.append([
        { type: 'order:credit-held', tenantId: 'acme', entity: { id: `SO-${i}` }, data: { i } },
        { type: 'case:opened', tenantId: 'globex.eu', entity: { id: `K-${i}` }, data: { i } },
      ]);
    }
    await until(async () => (await count()) === 8);
    const logged = await log.read(0, 100);
    const published = await streamIds();
    expect(published.map((p) => p.id)).toEqual(logged.map((e) => e.id));
    expect(published.map((p) => p.msgId)).toEqual(logged.map((e) => e.id));
    expect(published.map((p) => p.subject)).toEqual(logged.map((e) => eventSubject(prefix, e, 4)));
    const first = logged[0]!;
    expect(published[0]!.subject).toBe(
      `${prefix}.acme.${entityPartition('acme', 'order', 'SO-0', 4)}.order.credit-held`,
    );
    expect(published[1]!.subject).toMatch(
      new RegExp(`^${prefix.replace('.', '\\.')}\\.globex~2eeu\\.\\d\\.case\\.opened$`),
    );
    expect(first.entity.id).toBe('SO-0');
    await relay.stop();
  });

  it('republishes after losing its committed position without duplicating anything', async () => {
    // As if the relay crashed after publishing but before committing: its position goes back to 0.
    await opened.store
      .db<EventsDb>()
      .updateTable('ev_consumers')
      .set({ position: 0 })
      .where('name', '=', 'nats-relay')
      .execute();
    const relay = relayOf();
    await relay.start();
    await log.append([
      { type: 'order:changed', tenantId: 'acme', entity: { id: 'SO-0' }, data: { after: true } },
    ]);
    await until(async () => (await count()) === 9);
    await dispatcher.idle();
    const published = await streamIds();
    expect(new Set(published.map((p) => p.id)).size).toBe(9);
    expect(published.map((p) => p.id)).toEqual((await log.read(0, 100)).map((e) => e.id));
    await relay.stop();
  });

  it('refuses a publish from a relay that was overtaken by its successor', async () => {
    const stale = relayOf();
    await stale.start();
    await dispatcher.idle();
    await stale.stop(); // it "pauses": another process takes the relay over
    const successor = relayOf();
    await successor.start();
    await log.append([{ type: 'invoice:issued', tenantId: 'acme', entity: { id: 'INV-1' }, data: {} }]);
    await until(async () => (await count()) === 10);
    await dispatcher.idle();
    const late: LoggedEvent = (await log.read(0, 100)).at(-1)!;
    const before = await count();
    await expect(stale.publish({ ...late, id: `${late.id}-stale` })).rejects.toThrow();
    expect(await count()).toBe(before);
    await successor.stop();
  });
});
