// Named consumers on both dialects: per-entity order with duplicates and gaps, retries and dead
// letters that hold back their entity until redriven or skipped, replay under a new generation,
// committed positions across restarts, single ownership across dispatchers, retention.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventDispatcher,
  EventLog,
  EventsAdmin,
  enforceRetention,
  type DeliveryContext,
  type LoggedEvent,
} from '../../src/events/index.ts';
import type { EventsDb } from '../../src/events/tables.ts';
import { dialects, until, type Opened } from './support/harness.ts';

interface Seen {
  readonly key: string;
  readonly seq: number;
  readonly position: number;
  readonly ctx: DeliveryContext;
}

function recorder() {
  const seen: Seen[] = [];
  const handler = (e: LoggedEvent, ctx: DeliveryContext) => {
    seen.push({ key: `${e.entity.kind}/${e.entity.id}`, seq: e.entitySeq, position: e.position, ctx });
  };
  return { seen, handler };
}

function byEntity(seen: readonly Seen[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const s of seen) (out[s.key] ??= []).push(s.seq);
  return out;
}

describe.each(dialects)('consumers on $dialect', ({ open }) => {
  let opened: Opened;
  let log: EventLog;
  let dispatcher: EventDispatcher;
  let admin: EventsAdmin;
  let tenantNo = 0;
  const freshTenant = () => `tenant-${++tenantNo}`;

  beforeAll(async () => {
    opened = await open();
    log = new EventLog({ store: opened.store });
    // The safety poll is set far out: deliveries in these tests come from the commit notification.
    dispatcher = new EventDispatcher({ log, pollIntervalMs: 3_600_000 });
    admin = new EventsAdmin(log, (name) => dispatcher.kick(name));
  });
  afterAll(async () => {
    await dispatcher.stop();
    await log.stop();
    await opened.cleanup();
  });

  it('wakes on commit and applies each entity in order exactly once', async () => {
    const tenant = freshTenant();
    const { seen, handler } = recorder();
    await dispatcher.subscribe('c-basic', (e, ctx) => (e.tenantId === tenant ? handler(e, ctx) : undefined));
    for (let i = 0; i < 5; i++) {
      await log.append([
        { type: 'order:changed', tenantId: tenant, entity: { id: 'o1' }, data: { i } },
        { type: 'case:updated', tenantId: tenant, entity: { id: 'k1' }, data: { i } },
      ]);
    }
    await until(() => seen.length === 10);
    expect(byEntity(seen)).toEqual({ 'order/o1': [1, 2, 3, 4, 5], 'case/k1': [1, 2, 3, 4, 5] });
    expect(new Set(seen.map((s) => s.ctx.deliveryId)).size).toBe(10);
  });

  it('applies out-of-order and duplicate deliveries in entity order, exactly once', async () => {
    const tenant = freshTenant();
    const appended: LoggedEvent[] = [];
    for (let i = 0; i < 6; i++) {
      await log.append(
        ['a', 'b', 'c'].map((id) => ({
          type: 'shipment:tracking-updated' as const,
          tenantId: tenant,
          entity: { id },
          data: { i },
        })),
      );
    }
    await log.publish();
    appended.push(...(await log.read(0, 10_000, { tenants: [tenant] })));
    expect(appended).toHaveLength(18);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: appended.length - 1 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 7 }),
        fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })),
        async (dupIndexes, chunk, randoms) => {
          const deliveries = [...appended, ...dupIndexes.map((i) => appended[i]!)];
          // Shuffle with the generated stream (Fisher-Yates), so fast-check can shrink a failure.
          const it = randoms[Symbol.iterator]();
          for (let i = deliveries.length - 1; i > 0; i--) {
            const j = Math.min(i, Math.floor((it.next().value as number) * (i + 1)));
            [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
          }
          const { seen, handler } = recorder();
          const runner = await dispatcher.subscribe(`c-external-${++run}`, handler, { source: 'external' });
          for (let i = 0; i < deliveries.length; i += chunk)
            await runner.offer(deliveries.slice(i, i + chunk));
          await runner.idle();
          expect(byEntity(seen)).toEqual({
            'shipment/a': [1, 2, 3, 4, 5, 6],
            'shipment/b': [1, 2, 3, 4, 5, 6],
            'shipment/c': [1, 2, 3, 4, 5, 6],
          });
          await dispatcher.unsubscribe(`c-external-${run}`);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('commits the steps of several consumers together, each fenced by its own lease', async () => {
    const tenant = freshTenant();
    await log.append(
      ['a', 'b'].map((id) => ({
        type: 'shipment:tracking-updated' as const,
        tenantId: tenant,
        entity: { id },
        data: {},
      })),
    );
    await log.publish();
    const events = await log.read(0, 10_000, { tenants: [tenant] });
    const db = opened.store.db<EventsDb>();
    const kept = recorder();
    const lost = recorder();
    const keptRunner = await dispatcher.subscribe('c-shared-kept', kept.handler, { source: 'external' });
    const lostRunner = await dispatcher.subscribe('c-shared-lost', lost.handler, { source: 'external' });
    await keptRunner.idle();
    await lostRunner.idle();
    // Another process takes one lease behind this one's back: this process still believes it holds it.
    await db
      .updateTable('ev_consumers')
      .set({ owner: 'someone-else', lease_until: Date.now() + 3_600_000 })
      .where('name', '=', 'c-shared-lost')
      .execute();
    // Offered in the same turn, so both steps commit together.
    const keptDone = keptRunner.offer(events);
    const lostDone = lostRunner.offer(events);
    await keptDone;
    await until(() => lost.seen.length === 2);
    await lostRunner.idle();
    const states = async (consumer: string) =>
      (
        await db
          .selectFrom('ev_consumer_entities')
          .select(['entity_id', 'last_seq'])
          .where('consumer', '=', consumer)
          .orderBy('entity_id')
          .execute()
      ).map((r) => [r.entity_id, Number(r.last_seq)]);
    expect(await states('c-shared-kept')).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    // The fenced-off step wrote nothing and its deliveries wait for the lease.
    expect(await states('c-shared-lost')).toEqual([]);
    await db
      .updateTable('ev_consumers')
      .set({ owner: null, lease_until: null })
      .where('name', '=', 'c-shared-lost')
      .execute();
    dispatcher.kick('c-shared-lost');
    await lostDone;
    expect(await states('c-shared-lost')).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    await dispatcher.unsubscribe('c-shared-kept');
    await dispatcher.unsubscribe('c-shared-lost');
  });

  it('dead-letters a poison event after N attempts, holds back its entity, and redrives after a fix', async () => {
    const tenant = freshTenant();
    const { seen, handler } = recorder();
    let broken = true;
    await dispatcher.subscribe(
      'c-poison',
      (e, ctx) => {
        if (e.tenantId !== tenant) return;
        if (broken && e.entity.id === 'bad' && e.entitySeq === 1) throw new Error('cannot map field x');
        handler(e, ctx);
      },
      { maxAttempts: 3, retry: { baseMs: 5, maxMs: 20 } },
    );
    await log.append([
      { type: 'order:created', tenantId: tenant, entity: { id: 'bad' }, data: {} },
      { type: 'order:changed', tenantId: tenant, entity: { id: 'bad' }, data: {} },
      { type: 'order:created', tenantId: tenant, entity: { id: 'good' }, data: {} },
      { type: 'order:changed', tenantId: tenant, entity: { id: 'good' }, data: {} },
    ]);
    await until(async () => (await admin.deadLetters([tenant], { consumer: 'c-poison' })).length === 1);
    await log.append([{ type: 'order:cancelled', tenantId: tenant, entity: { id: 'bad' }, data: {} }]);
    await until(() => seen.length === 2);
    await until(async () => (await admin.consumers()).find((c) => c.name === 'c-poison')!.parked === 2);
    expect(byEntity(seen)).toEqual({ 'order/good': [1, 2] });

    const [dl] = await admin.deadLetters([tenant], { consumer: 'c-poison' });
    expect(dl).toMatchObject({ attempts: 3, status: 'open', entitySeq: 1, type: 'order:created' });
    expect(dl!.history).toHaveLength(3);
    expect(dl!.history.every((h) => h.error.includes('cannot map field x'))).toBe(true);
    await expect(admin.deadLetter(dl!.id, ['other-tenant'])).rejects.toMatchObject({
      code: 'DEAD_LETTER_NOT_FOUND',
    });

    broken = false;
    await admin.redrive(dl!.id, [tenant], 'test-operator');
    await until(() => seen.length === 5);
    expect(byEntity(seen)).toEqual({ 'order/good': [1, 2], 'order/bad': [1, 2, 3] });
    expect((await admin.deadLetter(dl!.id, '*')).status).toBe('redriven');
    await expect(admin.redrive(dl!.id, '*', 'again')).rejects.toMatchObject({ code: 'DEAD_LETTER_RESOLVED' });
    await dispatcher.idle();
    expect((await admin.consumers()).find((c) => c.name === 'c-poison')!.parked).toBe(0);
  });

  it('releases the held events in order when an operator skips the dead letter', async () => {
    const tenant = freshTenant();
    const { seen, handler } = recorder();
    await dispatcher.subscribe(
      'c-skip',
      (e, ctx) => {
        if (e.tenantId !== tenant) return;
        if (e.entitySeq === 2) throw new Error('poison');
        handler(e, ctx);
      },
      { maxAttempts: 2, retry: { baseMs: 5, maxMs: 10 } },
    );
    await log.append(
      [1, 2, 3, 4].map(() => ({
        type: 'case:updated' as const,
        tenantId: tenant,
        entity: { id: 'k' },
        data: {},
      })),
    );
    await until(async () => (await admin.deadLetters([tenant], { consumer: 'c-skip' })).length === 1);
    expect(byEntity(seen)).toEqual({ 'case/k': [1] });
    const [dl] = await admin.deadLetters([tenant], { consumer: 'c-skip' });
    await admin.skip(dl!.id, [tenant], 'test-operator');
    await until(() => seen.length === 3);
    expect(byEntity(seen)).toEqual({ 'case/k': [1, 3, 4] });
    await dispatcher.idle();
    expect((await admin.consumers()).find((c) => c.name === 'c-skip')!.parked).toBe(0);
  });

  it('replays exactly the events after a position to one consumer, under a new generation', async () => {
    const tenant = freshTenant();
    const one = recorder();
    const other = recorder();
    const mine = (r: ReturnType<typeof recorder>) => (e: LoggedEvent, ctx: DeliveryContext) =>
      e.tenantId === tenant ? r.handler(e, ctx) : undefined;
    await dispatcher.subscribe('c-replay-1', mine(one));
    await dispatcher.subscribe('c-replay-2', mine(other));
    for (let i = 0; i < 4; i++) {
      await log.append([
        { type: 'invoice:issued', tenantId: tenant, entity: { id: `inv${i}` }, data: {} },
        { type: 'invoice:paid', tenantId: tenant, entity: { id: `inv${i}` }, data: {} },
      ]);
    }
    await until(() => one.seen.length === 8 && other.seen.length === 8);
    const positions = one.seen.map((s) => s.position);
    const from = positions[2]!;
    const started = await admin.replay('c-replay-1', { fromPosition: from });
    expect(started.generation).toBe(1);
    await until(() => one.seen.length === 8 + 5);
    const replayed = one.seen.slice(8);
    expect(replayed.map((s) => s.position)).toEqual(positions.filter((p) => p > from));
    expect(replayed.every((s) => s.ctx.generation === 1)).toBe(true);
    expect(new Set(one.seen.map((s) => s.ctx.deliveryId)).size).toBe(13);
    await dispatcher.idle();
    expect(other.seen).toHaveLength(8);

    // A filtered replay (one type, from a time) re-delivers only what matches, under the next generation.
    await admin.replay('c-replay-1', { fromTime: new Date(0).toISOString(), types: ['invoice:paid'] });
    await until(() => one.seen.length === 13 + 4);
    expect(one.seen.slice(13).every((s) => s.ctx.generation === 2 && s.seq === 2)).toBe(true);
    await dispatcher.idle();
    const info = (await admin.consumers()).find((c) => c.name === 'c-replay-1')!;
    expect(info.replay).toBeNull();
    await expect(admin.replay('nobody', { fromPosition: 0 })).rejects.toMatchObject({
      code: 'EVENT_CONSUMER_NOT_FOUND',
    });
  });

  it('resumes from its committed position after a restart and lets one dispatcher own a consumer', async () => {
    const tenant = freshTenant();
    const first = recorder();
    const mine = (r: ReturnType<typeof recorder>) => (e: LoggedEvent, ctx: DeliveryContext) =>
      e.tenantId === tenant ? r.handler(e, ctx) : undefined;
    await dispatcher.subscribe('c-restart', mine(first));
    await log.append([{ type: 'customer:changed', tenantId: tenant, entity: { id: 'cu1' }, data: {} }]);
    await until(() => first.seen.length === 1);
    await dispatcher.unsubscribe('c-restart');

    await log.append([{ type: 'customer:changed', tenantId: tenant, entity: { id: 'cu1' }, data: {} }]);
    const a = new EventDispatcher({ log, pollIntervalMs: 3_600_000 });
    const b = new EventDispatcher({ log, pollIntervalMs: 3_600_000 });
    const second = recorder();
    try {
      await a.subscribe('c-restart', mine(second));
      await b.subscribe('c-restart', mine(second));
      await log.append([{ type: 'customer:changed', tenantId: tenant, entity: { id: 'cu1' }, data: {} }]);
      await until(() => second.seen.length === 2);
      await a.idle();
      await b.idle();
      expect(byEntity(second.seen)).toEqual({ 'customer/cu1': [2, 3] });
    } finally {
      await a.stop();
      await b.stop();
    }
    await admin.remove('c-restart');
  });

  it('retains by age and size without removing what a consumer has not read, and reports the laggard', async () => {
    const tenant = freshTenant();
    const { seen, handler } = recorder();
    await dispatcher.subscribe('c-laggard', (e, ctx) =>
      e.tenantId === tenant ? handler(e, ctx) : undefined,
    );
    await until(async () => (await admin.consumers()).find((c) => c.name === 'c-laggard')!.lag === 0);
    await dispatcher.unsubscribe('c-laggard');
    await dispatcher.idle();
    await log.append(
      Array.from({ length: 10 }, (_, i) => ({
        type: 'item:changed' as const,
        tenantId: tenant,
        entity: { id: `it${i}` },
        data: { i },
      })),
    );
    await log.publish();
    const head = await log.head();
    const held = await enforceRetention(log, { maxAgeMs: 0 }, { now: Date.now() + 1000 });
    expect(held.wantedUpTo).toBe(head);
    expect(held.removedUpTo).toBe(head - 10);
    expect(held.lagging.map((l) => l.consumer)).toContain('c-laggard');
    expect((await log.read(head - 10, 100)).length).toBe(10);

    await dispatcher.subscribe('c-laggard', (e, ctx) =>
      e.tenantId === tenant ? handler(e, ctx) : undefined,
    );
    await until(() => seen.length === 10);
    await dispatcher.idle();
    // The newest event's data, {"i":9}, is 7 bytes: a 7-byte budget keeps exactly that one.
    const bySize = await enforceRetention(log, { maxBytes: 7 });
    expect(bySize.lagging).toEqual([]);
    expect(await log.read(0, 100)).toHaveLength(1);
  });
});
