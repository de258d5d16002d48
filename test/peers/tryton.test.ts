// The Tryton connector against a real Tryton 6.0 (started by scripts/test-peers.sh on a fresh
// database): the connector contract, the JSON-RPC details (session reuse, re-login, encodings, user
// errors), capture of every stream, and the complaint and note commands.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  effectMarker,
  sourceRecordKey,
  type Command,
  type SourceRecord,
} from '../../src/connectors/connector.ts';
import {
  mapTrytonRecord,
  TrytonConnector,
  TrytonUserError,
  TRYTON_COMMANDS,
} from '../../src/connectors/tryton/index.ts';
import { silentLogger } from '../../src/telemetry/index.ts';
import { runConnectorContract, readAll } from '../connectors/contract.ts';
import { startFaultyProxy } from './support/faulty-proxy.ts';
import { trytonEnv } from './support/peers-env.ts';
import { TrytonFixture } from './support/tryton-fixture.ts';

const env = trytonEnv;

function connector(overrides: { url?: string; password?: string } = {}): TrytonConnector {
  return new TrytonConnector(
    { url: overrides.url ?? env!.TRYTON_RPC_URL!, user: env!.TRYTON_USER ?? 'admin', timeoutMs: 30_000 },
    { password: overrides.password ?? env!.TRYTON_PASSWORD ?? 'admin' },
    { logger: silentLogger() },
  );
}

describe.skipIf(!env)('tryton peer', () => {
  if (!env) return;

  runConnectorContract('tryton', async () => {
    const fixture = new TrytonFixture(env);
    const proxy = await startFaultyProxy(env.TRYTON_RPC_URL!);
    const viaProxy = connector({ url: proxy.url });
    const direct = connector();
    const { sale } = await fixture.sale();
    const produce = async (stream: string): Promise<string[]> => {
      switch (stream) {
        case 'party.party':
          return [String((await fixture.party()).party)];
        case 'sale.sale':
          return [String((await fixture.sale()).sale)];
        case 'sale.line': {
          const s = await fixture.sale();
          const [row] = await fixture.rpc.model<{ lines: number[] }[]>('sale.sale', 'read', [
            [s.sale],
            ['lines'],
          ]);
          return row!.lines.map(String);
        }
        case 'stock.shipment.out':
          return (await fixture.confirm((await fixture.sale()).sale)).shipments.map(String);
        case 'account.invoice':
          return (await fixture.confirm((await fixture.sale()).sale)).invoices.map(String);
        case 'sale.complaint': {
          const s = await fixture.sale();
          await fixture.confirm(s.sale);
          return [String(await fixture.complaint(s.sale, s.party))];
        }
        default:
          return [];
      }
    };
    return {
      connector: viaProxy,
      broken: connector({ password: 'not-the-password' }),
      // The peer's admin password equals its user name, which a check may name: only the wrong one is secret.
      secrets: ['not-the-password'],
      produce,
      command: (): Command => ({
        type: TRYTON_COMMANDS.saleNoteAdd,
        idempotencyKey: randomUUID(),
        args: { sale, text: 'Customer called about delivery' },
      }),
      effectCarriesKey: async (id, command) => {
        const [note] = await fixture.rpc.model<{ message: string; resource: string }[]>('ir.note', 'read', [
          [Number(id)],
          ['message', 'resource'],
        ]);
        return (
          note!.resource === `sale.sale,${sale}` &&
          note!.message.includes(effectMarker(command.idempotencyKey))
        );
      },
      ambiguousWrite: (_command, applied) => {
        proxy.loseNext(/"model\.ir\.note\.create"/, applied);
        return Promise.resolve();
      },
      close: async () => {
        await Promise.all([viaProxy.close(), direct.close(), fixture.close(), proxy.close()]);
      },
    };
  });

  describe('JSON-RPC client', () => {
    let fixture: TrytonFixture;
    let c: TrytonConnector;
    beforeAll(() => {
      fixture = new TrytonFixture(env);
      c = connector();
    });
    afterAll(async () => {
      await Promise.all([fixture.close(), c.close()]);
    });

    it('reuses one session for many calls and logs in again after the session is dropped', async () => {
      for (let i = 0; i < 5; i++) await c.read({ stream: 'party.party', limit: 1 });
      expect(c.rpc.logins).toBe(1);
      // End the session on the server, as an expiry would: the next call gets 401 and logs in again.
      await c.rpc.call('common.db.logout', []);
      const result = await c.read({ stream: 'party.party', limit: 1 });
      expect(result.records.length).toBe(1);
      expect(c.rpc.logins).toBe(2);
    });

    it('sends and reads Decimals and dates without losing digits', async () => {
      const { sale } = await fixture.sale({ unitPrice: '12.35', saleDate: '2026-01-31' });
      const { records } = await readAll(c, 'sale.line', undefined);
      const line = records.find((r) => (r.payload as { sale: number }).sale === sale)!;
      expect((line.payload as { unit_price: string }).unit_price).toBe('12.35');
      expect((line.payload as { amount: string }).amount).toBe('24.70');
      const [row] = await c.rpc.model<{ sale_date: string }[]>('sale.sale', 'read', [[sale], ['sale_date']]);
      expect(row!.sale_date).toBe('2026-01-31');
      expect(line.updatedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    });

    it("decodes Tryton's user errors into typed errors", async () => {
      const { sale } = await fixture.sale();
      await fixture.confirm(sale);
      const error = await c.rpc.model('sale.sale', 'delete', [[sale]]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TrytonUserError);
      expect((error as TrytonUserError).trytonType).toBe('UserError');
      expect((error as TrytonUserError).code).toBe('CONNECTOR_SYSTEM_ERROR');
      expect((error as TrytonUserError).retryable).toBe(false);
    });
  });

  describe('capture', () => {
    let fixture: TrytonFixture;
    let c: TrytonConnector;
    beforeAll(() => {
      fixture = new TrytonFixture(env);
      c = connector();
    });
    afterAll(async () => {
      await Promise.all([fixture.close(), c.close()]);
    });

    it('captures a record never written since creation (write_date empty), then its first write', async () => {
      const start = await readAll(c, 'party.party', undefined);
      const { party } = await fixture.party('Never Written');
      const afterCreate = await readAll(c, 'party.party', start.cursor);
      const created = afterCreate.records.find((r) => r.externalId === String(party))!;
      expect((created.payload as { write_date: unknown }).write_date).toBeNull();
      expect(created.updatedAt).toBe((created.payload as { create_date: string }).create_date);
      await fixture.rpc.model('party.party', 'write', [[party], { name: 'Written Once' }]);
      const afterWrite = await readAll(c, 'party.party', afterCreate.cursor);
      const written = afterWrite.records.find((r) => r.externalId === String(party))!;
      expect((written.payload as { name: string }).name).toBe('Written Once');
      expect(written.updatedAt > created.updatedAt).toBe(true);
    });

    it('follows a sale through confirmation, shipment, invoice and complaint across all streams', async () => {
      const cursors = new Map<string, unknown>();
      const streams = (await c.streams()).map((s) => s.name);
      for (const s of streams) cursors.set(s, (await readAll(c, s, undefined)).cursor);
      const { sale, party } = await fixture.sale();
      const { shipments, invoices } = await fixture.confirm(sale);
      await fixture.ship(shipments[0]!);
      await fixture.post(invoices[0]!);
      const complaint = await fixture.complaint(sale, party);
      const latest = new Map<string, Record<string, unknown>>();
      const mapped = new Map<string, unknown>();
      for (const s of streams) {
        const { records } = await readAll(c, s, cursors.get(s) as never);
        for (const r of records) {
          latest.set(`${s}/${r.externalId}`, r.payload as Record<string, unknown>);
          mapped.set(`${s}/${r.externalId}`, mapTrytonRecord(r as SourceRecord<Record<string, unknown>>));
        }
      }
      expect(latest.get(`sale.sale/${sale}`)).toMatchObject({ state: 'processing', shipment_state: 'sent' });
      expect(latest.get(`stock.shipment.out/${shipments[0]}`)).toMatchObject({ state: 'done' });
      expect(latest.get(`account.invoice/${invoices[0]}`)).toMatchObject({ state: 'posted', type: 'out' });
      expect(latest.get(`party.party/${party}`)).toBeDefined();
      expect(latest.get(`sale.complaint/${complaint}`)).toMatchObject({
        state: 'draft',
        origin: `sale.sale,${sale}`,
        actions_detail: [expect.objectContaining({ action: 'sale_return', result: null })],
      });
      // The same records in canonical terms.
      expect(mapped.get(`sale.sale/${sale}`)).toMatchObject({
        kind: 'order',
        fields: { status: 'shipped', currency: 'USD', total: { amount: '20.00', currency: 'USD' } },
        links: { customerId: { system: 'tryton', id: `party.party,${party}` } },
        related: { shipments: [{ id: `stock.shipment.out,${shipments[0]}` }] },
      });
      expect(mapped.get(`stock.shipment.out/${shipments[0]}`)).toMatchObject({
        kind: 'shipment',
        fields: { status: 'shipped' },
      });
      expect(mapped.get(`account.invoice/${invoices[0]}`)).toMatchObject({
        kind: 'invoice',
        fields: { status: 'posted', amountDue: { amount: '20.00', currency: 'USD' } },
        links: { orderId: { id: `sale.sale,${sale}` } },
      });
      expect(mapped.get(`sale.complaint/${complaint}`)).toMatchObject({
        kind: 'returnAuthorization',
        fields: { status: 'requested' },
      });
    });

    it('re-reads the overlap window on each pass and nothing older, so duplicates dedupe by (id, updated)', async () => {
      const first = await readAll(c, 'sale.sale', undefined);
      const second = await readAll(c, 'sale.sale', first.cursor);
      const seen = new Set(first.records.map(sourceRecordKey));
      const newest = Math.max(...first.records.map((r) => Date.parse(r.updatedAt)));
      for (const r of second.records) {
        expect(seen.has(sourceRecordKey(r))).toBe(true);
        expect(Date.parse(r.updatedAt)).toBeGreaterThanOrEqual(newest - 120_000);
      }
      // With no overlap nothing comes back at all: the repeats are the overlap, not a paging fault.
      const strict = new TrytonConnector(
        { url: env.TRYTON_RPC_URL!, user: env.TRYTON_USER ?? 'admin', overlapMs: 0 },
        { password: env.TRYTON_PASSWORD ?? 'admin' },
        { logger: silentLogger() },
      );
      try {
        const a = await readAll(strict, 'sale.sale', undefined, 3);
        const b = await readAll(strict, 'sale.sale', a.cursor, 3);
        const maxTs = Math.max(...a.records.map((r) => Date.parse(r.updatedAt)));
        expect(b.records.every((r) => Date.parse(r.updatedAt) >= maxTs)).toBe(true);
      } finally {
        await strict.close();
      }
    });
  });

  describe('commands', () => {
    let fixture: TrytonFixture;
    let c: TrytonConnector;
    beforeAll(() => {
      fixture = new TrytonFixture(env);
      c = connector();
    });
    afterAll(async () => {
      await Promise.all([fixture.close(), c.close()]);
    });

    it('creates and approves a sale_return complaint whose reference carries the marker, once', async () => {
      const { sale, party } = await fixture.sale();
      await fixture.confirm(sale);
      const command: Command = {
        type: TRYTON_COMMANDS.complaintCreate,
        idempotencyKey: randomUUID(),
        args: {
          customer: party,
          origin: { model: 'sale.sale', id: sale },
          action: 'sale_return',
          reference: 'RT-42',
          description: 'arrived broken',
        },
      };
      const outcome = await c.write(command);
      expect(outcome).toMatchObject({
        status: 'applied',
        replayed: false,
        effect: {
          stream: 'sale.complaint',
          result: {
            state: 'done',
            actions: [{ action: 'sale_return', result: expect.stringMatching(/^sale\.sale,\d+$/) }],
          },
        },
      });
      const id = outcome.status === 'applied' ? Number(outcome.effect.externalId) : 0;
      const [row] = await fixture.rpc.model<{ reference: string }[]>('sale.complaint', 'read', [
        [id],
        ['reference'],
      ]);
      expect(row!.reference).toBe(`RT-42 [${effectMarker(command.idempotencyKey)}]`);
      // Sending the same command again finds the complaint instead of making a second one.
      const again = await c.write(command);
      expect(again).toMatchObject({ status: 'applied', replayed: true, effect: { externalId: String(id) } });
      const count = await fixture.rpc.model<number>('sale.complaint', 'search_count', [
        [['reference', 'like', `%${command.idempotencyKey}%`]],
      ]);
      expect(count).toBe(1);
      expect(await c.findEffect(command)).toMatchObject({ found: true, effect: { externalId: String(id) } });
    });

    it('creates a credit note through a credit_note complaint on a posted invoice', async () => {
      const { sale, party } = await fixture.sale();
      const { invoices } = await fixture.confirm(sale);
      await fixture.post(invoices[0]!);
      const outcome = await c.write({
        type: TRYTON_COMMANDS.complaintCreate,
        idempotencyKey: randomUUID(),
        args: {
          customer: party,
          origin: { model: 'account.invoice', id: invoices[0]! },
          action: 'credit_note',
        },
      });
      expect(outcome.status).toBe('applied');
      const result =
        outcome.status === 'applied'
          ? (outcome.effect.result as { actions: { result: string }[] })
          : undefined;
      const credit = Number(result!.actions[0]!.result.split(',')[1]);
      const [invoice] = await fixture.rpc.model<{ total_amount: string; type: string }[]>(
        'account.invoice',
        'read',
        [[credit], ['total_amount', 'type']],
      );
      expect(invoice).toMatchObject({ type: 'out', total_amount: '-20.00' });
    });

    it('resumes a complaint left in draft by an interrupted write instead of creating another', async () => {
      const { sale, party } = await fixture.sale();
      await fixture.confirm(sale);
      const command: Command = {
        type: TRYTON_COMMANDS.complaintCreate,
        idempotencyKey: randomUUID(),
        args: {
          customer: party,
          origin: { model: 'sale.sale', id: sale },
          action: 'sale_return',
          approve: false,
        },
      };
      const draft = await c.write(command);
      expect(draft).toMatchObject({ status: 'applied', effect: { result: { state: 'draft' } } });
      const approving = { ...command, args: { ...(command.args as object), approve: true } };
      expect(await c.findEffect(approving)).toEqual({ found: false });
      const done = await c.write(approving);
      expect(done).toMatchObject({
        status: 'applied',
        effect: {
          externalId: draft.status === 'applied' ? draft.effect.externalId : '',
          result: { state: 'done' },
        },
      });
    });

    it('refuses a command on a record that does not exist, without writing a dangling reference', async () => {
      const outcome = await c.write({
        type: TRYTON_COMMANDS.saleNoteAdd,
        idempotencyKey: randomUUID(),
        args: { sale: 999_999, text: 'x' },
      });
      expect(outcome.status).toBe('not-applied');
      expect(outcome.status === 'not-applied' && outcome.error).toBeInstanceOf(TrytonUserError);
    });

    it('rejects arguments that do not match the command schema', async () => {
      await expect(
        c.write({
          type: TRYTON_COMMANDS.complaintCreate,
          idempotencyKey: randomUUID(),
          args: { customer: 'x' },
        }),
      ).rejects.toThrow(/invalid args/);
    });
  });
});
