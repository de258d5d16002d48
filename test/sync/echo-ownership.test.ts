// Echo suppression, field ownership and the causation cap, end to end through capture and the
// propagator: a read-back of what Crossdock wrote is an echo; a person editing the same field a second
// later is a genuine change and propagates; a helpdesk edit of an ERP-owned field is reported, not
// propagated; a loop between Crossdock and a system that keeps rewriting a field stops at the cap.
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  Command,
  Connector,
  JsonValue,
  SourceRecord,
  WriteOutcome,
} from '../../src/connectors/index.ts';
import {
  CaptureEngine,
  EchoMemory,
  EffectLedger,
  FieldOwnership,
  MapperRegistry,
  Propagator,
  SyncEvents,
  findExternalId,
  listDeadLetters,
  listViolations,
  setDesired,
  DEFAULT_OWNERSHIP,
  type CapturedChange,
  type SyncEventMap,
} from '../../src/sync/index.ts';
import { createMetricsRegistry } from '../../src/telemetry/index.ts';
import { dialects, freshTenant, type Opened } from './support/harness.ts';

/** In-memory stand-in for a helpdesk's write API (not a system): stores ticket fields the way a
 * helpdesk rewrites them (numbers as `3.00`, text trimmed, and optionally a suffix it appends). */
function memoryHelpdesk(rewrite: (field: string, value: JsonValue) => JsonValue) {
  const tickets = new Map<string, Record<string, JsonValue>>();
  let writes = 0;
  const connector: Pick<Connector, 'describe' | 'write' | 'findEffect'> = {
    describe: () => ({
      system: 'rt',
      kind: 'helpdesk',
      displayName: 'memory helpdesk',
      configSchema: Type.Object({}),
      secrets: [],
      commands: [
        { type: 'ticket.update', description: '', argsSchema: Type.Object({}), idempotency: 'native' },
      ],
      webhooks: false,
    }),
    write(command: Command): Promise<WriteOutcome> {
      writes++;
      const { ticket, fields } = command.args as { ticket: string; fields: Record<string, JsonValue> };
      const t = tickets.get(ticket) ?? {};
      for (const [k, v] of Object.entries(fields)) t[k] = rewrite(k, v);
      tickets.set(ticket, t);
      return Promise.resolve({ status: 'applied', effect: { externalId: ticket }, replayed: false });
    },
  };
  return { tickets, connector, writes: () => writes };
}

const T0 = Date.parse('2026-11-27T12:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

describe.each(dialects)('echo, ownership and causation on $dialect', ({ open }) => {
  let opened: Opened;
  beforeAll(async () => {
    opened = await open();
  });
  afterAll(async () => {
    await opened.cleanup();
  });

  function setup(maxCausationDepth = 8) {
    const tenant = freshTenant();
    const events = new SyncEvents();
    const metrics = createMetricsRegistry();
    const echo = new EchoMemory({ maxCausationDepth, events });
    const ownership = new FieldOwnership({
      config: { ...DEFAULT_OWNERSHIP, case: { owner: 'helpdesk', fields: { orderStatus: 'erp' } } },
      systems: { tryton: 'erp', rt: 'helpdesk' },
      events,
      metrics,
    });
    const changes: CapturedChange[] = [];
    const mappers = new MapperRegistry()
      .register('rt', 'ticket', {
        version: 'rt-ticket@1',
        map: (r) => ({ kind: 'case', fields: r.payload as Record<string, JsonValue> }),
      })
      .register('tryton', 'sale.sale', {
        version: 'tryton-sale@1',
        map: (r) => ({ kind: 'order', fields: r.payload as Record<string, JsonValue> }),
      });
    const capture = new CaptureEngine({
      store: opened.store,
      mappers,
      echo,
      ownership,
      events,
      sink: (_tx, c) => {
        changes.push(c);
        return Promise.resolve();
      },
    });
    const ledger = new EffectLedger({ store: opened.store });
    const emitted: SyncEventMap['sync:ownership-violated'][] = [];
    events.on('sync:ownership-violated', (e) => emitted.push(e));
    const ticket = (updatedAt: string, payload: Record<string, JsonValue>): SourceRecord => ({
      stream: 'ticket',
      externalId: '42',
      updatedAt,
      payload,
    });
    const last = () => changes.at(-1)!;
    const propagatorFor = (helpdesk: ReturnType<typeof memoryHelpdesk>) =>
      new Propagator({
        store: opened.store,
        ledger,
        echo,
        connector: () => helpdesk.connector,
        buildCommand: async (d) => {
          const id = d.recordKey.slice('case:'.length);
          const ticketId = await findExternalId(opened.store.db(), tenant, { kind: 'case', id }, 'rt');
          return { type: 'ticket.update', args: { ticket: ticketId!, fields: d.fields } };
        },
      });
    return { tenant, capture, ticket, last, echo, metrics, emitted, propagatorFor };
  }

  it('treats the read-back of a write as an echo and a person editing the field one second later as genuine', async () => {
    const { tenant, capture, ticket, last, propagatorFor } = setup();
    const helpdesk = memoryHelpdesk((_f, v) => (typeof v === 'number' ? v.toFixed(2) : v));
    await capture.ingest(tenant, 'rt', [ticket(at(0), { subject: 'Where is my order?', priority: '1.00' })]);
    const caseKey = `case:${last().entity.id}`;

    // Crossdock escalates the case: priority 3, written to the helpdesk, which stores it as "3.00".
    await opened.store.durable((tx) =>
      setDesired(tx, tenant, { system: 'rt', recordKey: caseKey }, { priority: 3 }),
    );
    expect((await propagatorFor(helpdesk).drain(tenant)).get(`rt/${caseKey}`)?.status).toBe('written');
    expect(helpdesk.tickets.get('42')).toEqual({ priority: '3.00' });

    await capture.ingest(tenant, 'rt', [
      ticket(at(200), { subject: 'Where is my order?', priority: '3.00' }),
    ]);
    expect(last()).toMatchObject({ changed: ['priority'], echoes: ['priority'], propagate: [] });

    await capture.ingest(tenant, 'rt', [ticket(at(1200), { subject: 'Where is my order?', priority: '4' })]);
    expect(last()).toMatchObject({
      changed: ['priority'],
      echoes: [],
      propagate: ['priority'],
      causationDepth: 1,
    });

    // The write is forgotten once replaced: setting it back to Crossdock's value is a person's change too.
    await capture.ingest(tenant, 'rt', [ticket(at(5000), { subject: 'Where is my order?', priority: '3' })]);
    expect(last()).toMatchObject({ echoes: [], propagate: ['priority'], causationDepth: 0 });
  });

  it('reports a helpdesk edit of an ERP-owned case field and does not propagate it', async () => {
    const { tenant, capture, ticket, last, metrics, emitted, propagatorFor } = setup();
    const helpdesk = memoryHelpdesk((_f, v) => v);
    await capture.ingest(tenant, 'rt', [ticket(at(0), { subject: 'Late', orderStatus: null })]);
    const caseEntity = last().entity;
    const caseKey = `case:${caseEntity.id}`;
    await capture.ingest(tenant, 'tryton', [
      { stream: 'sale.sale', externalId: 'S1', updatedAt: at(10), payload: { state: 'processing' } },
    ]);
    expect(last()).toMatchObject({ entity: { kind: 'order' }, propagate: ['state'], violations: [] });

    // Crossdock copies the order status onto the case; its read-back is an echo, not a violation.
    await opened.store.durable((tx) =>
      setDesired(tx, tenant, { system: 'rt', recordKey: caseKey }, { orderStatus: 'shipped' }),
    );
    await propagatorFor(helpdesk).drain(tenant);
    await capture.ingest(tenant, 'rt', [ticket(at(100), { subject: 'Late', orderStatus: 'shipped' })]);
    expect(last()).toMatchObject({ echoes: ['orderStatus'], violations: [] });

    // An agent overwrites it in the helpdesk, and edits the subject (which the helpdesk owns).
    await capture.ingest(tenant, 'rt', [
      ticket(at(1100), { subject: 'Very late', orderStatus: 'cancelled' }),
    ]);
    expect(last().propagate).toEqual(['subject']);
    expect(last().violations).toEqual([
      { system: 'rt', owner: 'erp', entity: caseEntity, field: 'orderStatus', value: 'cancelled' },
    ]);
    const listed = await listViolations(opened.store.db(), tenant);
    expect(listed.map((v) => [v.system, v.owner, v.entity.kind, v.field, v.value])).toEqual([
      ['rt', 'erp', 'case', 'orderStatus', 'cancelled'],
    ]);
    expect(emitted.map((e) => e.field)).toEqual(['orderStatus']);
    expect(await metrics.getSingleMetricAsString('crossdock_sync_ownership_violations_total')).toContain(
      'crossdock_sync_ownership_violations_total{system="rt",entity_kind="case"} 1',
    );
    expect(await listViolations(opened.store.db(), freshTenant())).toEqual([]);
  });

  it('stops a write/rewrite loop at the causation cap with a dead letter', async () => {
    const max = 3;
    const { tenant, capture, ticket, last, propagatorFor } = setup(max);
    // A helpdesk that appends to whatever subject it is given: every read-back differs from the write.
    const helpdesk = memoryHelpdesk((f, v) => (f === 'subject' ? `${JSON.stringify(v)}!` : v));
    const propagator = propagatorFor(helpdesk);
    await capture.ingest(tenant, 'rt', [ticket(at(0), { subject: 'Hi' })]);
    const caseKey = `case:${last().entity.id}`;
    // A (misconfigured) rule that writes the subject back whenever it changes: the loop under test.
    for (let round = 1; round <= 10; round++) {
      const change = last();
      if (!change.propagate.includes('subject')) break;
      await opened.store.durable((tx) =>
        setDesired(
          tx,
          tenant,
          { system: 'rt', recordKey: caseKey },
          { subject: change.fields.subject ?? null },
          change.causationDepth,
        ),
      );
      await propagator.drain(tenant);
      await capture.ingest(tenant, 'rt', [
        ticket(at(round * 1000), { subject: helpdesk.tickets.get('42')!.subject! }),
      ]);
    }
    expect(helpdesk.writes()).toBe(max + 1);
    expect(last().propagate).toEqual([]);
    const letters = await listDeadLetters(opened.store.db(), tenant);
    expect(letters.map((l) => [l.code, l.entityKey])).toEqual([['SYNC_CAUSATION_DEPTH_EXCEEDED', caseKey]]);
    expect(letters[0]!.detail).toMatchObject({ depth: max + 1, maxDepth: max });
  });

  it('dead-letters desired state whose causation depth is beyond the cap instead of writing it', async () => {
    const { tenant, propagatorFor } = setup();
    const helpdesk = memoryHelpdesk((_f, v) => v);
    const target = { system: 'rt', recordKey: 'case:deep' };
    await opened.store.durable((tx) => setDesired(tx, tenant, target, { subject: 'x' }, 9));
    const result = await propagatorFor(helpdesk).propagate(tenant, target);
    expect(result.status).toBe('dead-lettered');
    expect(result.status === 'dead-lettered' && result.error.code).toBe('SYNC_CAUSATION_DEPTH_EXCEEDED');
    expect(helpdesk.writes()).toBe(0);
    expect((await propagatorFor(helpdesk).propagate(tenant, target)).status).toBe('up-to-date');
    expect((await listDeadLetters(opened.store.db(), tenant)).map((l) => l.entityKey)).toEqual(['case:deep']);
  });
});
