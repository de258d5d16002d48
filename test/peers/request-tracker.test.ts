// The Request Tracker connector against a real RT 5 (started by scripts/test-peers.sh on a fresh
// database, once in UTC and once with RT_TIMEZONE=America/Chicago): the connector contract, the time
// zone check, capture of tickets and transactions, custom fields, markers and coalesced updates.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { effectMarker, type Command } from '../../src/connectors/connector.ts';
import { HttpClient } from '../../src/connectors/http/index.ts';
import {
  mapTicket,
  RequestTrackerConnector,
  RT_COMMANDS,
} from '../../src/connectors/request-tracker/index.ts';
import { silentLogger } from '../../src/telemetry/index.ts';
import { readAll, runConnectorContract } from '../connectors/contract.ts';
import { startFaultyProxy } from './support/faulty-proxy.ts';
import { rtEnv } from './support/peers-env.ts';

const env = rtEnv;
const zone = env?.RT_TIMEZONE ?? 'UTC';

function connector(
  overrides: { url?: string; token?: string; timezone?: string } = {},
): RequestTrackerConnector {
  return new RequestTrackerConnector(
    { url: overrides.url ?? env!.RT_REST2_URL!, timezone: overrides.timezone ?? zone },
    { token: overrides.token ?? env!.RT_TOKEN! },
    { logger: silentLogger() },
  );
}

/** Acts on RT directly, as an agent or a customer e-mail would. */
class RtFixture {
  readonly http = new HttpClient({
    system: 'rt-fixture',
    baseUrl: env!.RT_REST2_URL!,
    headers: { authorization: `token ${env!.RT_TOKEN}` },
    circuit: false,
    timeoutMs: 30_000,
  });
  private seq = 0;

  async ticket(requestor = `customer-${Date.now()}-${++this.seq}@example.test`): Promise<string> {
    const r = await this.http.request({
      method: 'POST',
      path: 'ticket',
      json: {
        Queue: 'General',
        Subject: `Where is my order ${this.seq}?`,
        Requestor: requestor,
        Content: 'Hello',
        ContentType: 'text/plain',
      },
    });
    return String(r.json<{ id: string }>().id);
  }

  async transactions(ticket: string): Promise<string[]> {
    const r = await this.http.request({
      method: 'POST',
      path: 'transactions',
      json: [
        { field: 'ObjectId', operator: '=', value: ticket },
        { field: 'ObjectType', operator: '=', value: 'RT::Ticket' },
      ],
      query: { fields: 'Type' },
      idempotent: true,
    });
    return r
      .json<{ items: { id: string; Type: string }[] }>()
      .items.filter((t) => ['Create', 'Comment', 'Correspond', 'Status'].includes(t.Type))
      .map((t) => t.id);
  }

  async correspond(ticket: string, text: string): Promise<void> {
    await this.http.request({
      method: 'POST',
      path: `ticket/${ticket}/correspond`,
      json: { Content: text, ContentType: 'text/plain' },
    });
  }

  async attachmentText(transaction: string): Promise<string> {
    const r = await this.http.request({
      method: 'POST',
      path: 'attachments',
      json: [{ field: 'TransactionId', operator: '=', value: transaction }],
      query: { fields: 'Content' },
      idempotent: true,
    });
    return r
      .json<{ items: { Content?: string }[] }>()
      .items.map((a) => a.Content ?? '')
      .join('\n');
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

describe.skipIf(!env)(`request-tracker peer (RT time zone ${zone})`, () => {
  if (!env) return;

  runConnectorContract(`request-tracker (${zone})`, async () => {
    const fixture = new RtFixture();
    const proxy = await startFaultyProxy(env.RT_REST2_URL!);
    const viaProxy = connector({ url: proxy.url });
    const ticket = await fixture.ticket();
    return {
      connector: viaProxy,
      broken: connector({ token: '1-99-0123456789abcdef0123456789abcdef' }),
      secrets: [env.RT_TOKEN!, '1-99-0123456789abcdef0123456789abcdef'],
      produce: async (stream) => {
        const id = await fixture.ticket();
        if (stream === 'ticket') return [id];
        if (stream === 'transaction') {
          await fixture.correspond(id, 'We are looking into it.');
          return fixture.transactions(id);
        }
        return [];
      },
      command: (): Command => ({
        type: RT_COMMANDS.comment,
        idempotencyKey: randomUUID(),
        args: { ticket: Number(ticket), text: 'ERP: sale SO-000001 shipped' },
      }),
      effectCarriesKey: async (transaction, command) =>
        (await fixture.attachmentText(transaction)).includes(effectMarker(command.idempotencyKey)),
      ambiguousWrite: (command, applied) => {
        proxy.loseNext(new RegExp(command.idempotencyKey), applied);
        return Promise.resolve();
      },
      close: async () => {
        await Promise.all([viaProxy.close(), fixture.close(), proxy.close()]);
      },
    };
  });

  describe('connector', () => {
    let fixture: RtFixture;
    let c: RequestTrackerConnector;
    beforeAll(() => {
      fixture = new RtFixture();
      c = connector();
    });
    afterAll(async () => {
      await Promise.all([fixture.close(), c.close()]);
    });

    it(`verifies that TicketSQL reads dates in the configured zone (${zone}) and names the real offset when it is wrong`, async () => {
      await fixture.ticket();
      const right = await c.check();
      expect(right.items.find((i) => i.name === 'timezone')).toMatchObject({
        ok: true,
        message: expect.stringContaining('verified'),
      });
      const wrongZone = zone === 'UTC' ? 'Asia/Kolkata' : 'UTC';
      const wrong = connector({ timezone: wrongZone });
      try {
        const result = await wrong.check();
        expect(result.ok).toBe(false);
        const offset = right.details.timezoneOffsetMinutes as number;
        expect(result.details.timezoneOffsetMinutes).toBe(offset);
        const item = result.items.find((i) => i.name === 'timezone')!;
        expect(item.ok).toBe(false);
        expect(item.message).toContain(wrongZone);
      } finally {
        await wrong.close();
      }
    });

    it('finds a ticket updated seconds ago from a cursor, in any RT time zone', async () => {
      const id = await fixture.ticket();
      const before = await readAll(c, 'ticket', undefined);
      await fixture.correspond(id, 'A replacement is on its way.');
      const after = await readAll(c, 'ticket', before.cursor);
      const updated = after.records.filter((r) => r.externalId === id);
      expect(updated.length).toBe(1);
      expect((updated[0]!.payload as { Status: string }).Status).toBe('open');
    });

    it('never returns a version of a ticket whose second was not over, so one stamp means one content', async () => {
      // RT keeps LastUpdated to the second. A change landing in the same second as a read's version
      // would share its stamp with other content: a read leaves such tickets until the second is over.
      const subject = (id: string, text: string) =>
        fixture.http.request({ method: 'PUT', path: `ticket/${id}`, json: { Subject: text } });
      let sameSecond = 0;
      for (let attempt = 1; attempt <= 4; attempt++) {
        const since = new Date(Date.now() - 2_000).toISOString();
        const id = await fixture.ticket();
        await subject(id, 'first change');
        const [first] = await Promise.all([
          c.read({ stream: 'ticket', since }).then((r) => r.records.find((x) => x.externalId === id)),
          new Promise((r) => setTimeout(r, 150)).then(() => subject(id, 'second change')),
        ]);
        const later = (await c.read({ stream: 'ticket', since })).records.find((x) => x.externalId === id)!;
        expect((later.payload as { Subject: string }).Subject).toBe('second change');
        if (first === undefined) continue;
        if (first.updatedAt === later.updatedAt) {
          sameSecond++;
          expect(first.payload, `one stamp ${first.updatedAt}, two contents`).toEqual(later.payload);
        } else {
          expect(later.updatedAt > first.updatedAt).toBe(true);
        }
      }
      console.info(`reads that met both changes in one second: ${sameSecond} of 4`);
    });

    it('captures comments and correspondence with their text as transactions', async () => {
      const id = await fixture.ticket();
      const start = await readAll(c, 'transaction', undefined);
      await fixture.correspond(id, 'Your order left the warehouse.');
      const outcome = await c.write({
        type: RT_COMMANDS.comment,
        idempotencyKey: randomUUID(),
        args: { ticket: Number(id), text: 'ERP note' },
      });
      expect(outcome.status).toBe('applied');
      const { records } = await readAll(c, 'transaction', start.cursor);
      const mine = records.filter((r) => (r.payload as { ObjectId: string }).ObjectId === id);
      const byType = Object.fromEntries(
        mine.map((r) => [(r.payload as { Type: string }).Type, r.payload as { Content: string }]),
      );
      expect(byType.Correspond?.Content).toContain('Your order left the warehouse.');
      expect(byType.Comment?.Content).toContain('ERP note');
    });

    it('writes ERP Order and ERP Customer and reads them back with the requestor e-mail', async () => {
      const key = randomUUID();
      const created = await c.write({
        type: RT_COMMANDS.create,
        idempotencyKey: key,
        args: {
          subject: 'Damaged widget',
          requestor: 'Jane.Doe@example.test',
          text: 'It arrived broken',
          customFields: { 'ERP Order': 'SO-000042' },
        },
      });
      expect(created.status).toBe('applied');
      const ticket = created.status === 'applied' ? created.effect.externalId : '';
      expect(await c.findEffect({ type: RT_COMMANDS.create, idempotencyKey: key, args: {} })).toMatchObject({
        found: true,
        effect: { externalId: ticket },
      });
      const updated = await c.write({
        type: RT_COMMANDS.update,
        idempotencyKey: randomUUID(),
        args: { ticket: Number(ticket), customFields: { 'ERP Customer': 'C-00007' } },
      });
      expect(updated).toMatchObject({ status: 'applied', replayed: false });
      const [t] = (await c.searchTickets(`id = ${ticket}`)).items;
      const cfs = Object.fromEntries(
        (t!.CustomFields as { name: string; values: string[] }[]).map((cf) => [cf.name, cf.values]),
      );
      expect(cfs).toMatchObject({ 'ERP Order': ['SO-000042'], 'ERP Customer': ['C-00007'] });
      expect((t!.Requestor as { EmailAddress: string }[])[0]!.EmailAddress.toLowerCase()).toBe(
        'jane.doe@example.test',
      );
      const asCase = mapTicket({
        stream: 'ticket',
        externalId: ticket,
        updatedAt: new Date().toISOString(),
        payload: t!,
      });
      expect(asCase).toMatchObject({
        fields: { subject: 'Damaged widget', status: 'new' },
        lookups: {
          customerId: { kind: 'customer', field: 'email', value: 'jane.doe@example.test' },
          orderId: { kind: 'order', field: 'number', value: 'SO-000042' },
        },
      });
      // The same values again change nothing and say so.
      const again = await c.write({
        type: RT_COMMANDS.update,
        idempotencyKey: randomUUID(),
        args: { ticket: Number(ticket), customFields: { 'ERP Customer': 'C-00007' } },
      });
      expect(again).toMatchObject({ status: 'applied', replayed: true });
    });

    it('coalesces concurrent field updates of one ticket into one request and applies every field', async () => {
      const ticket = Number(await fixture.ticket());
      const before = c.updateRequests;
      const outcomes = await Promise.all([
        c.write({ type: RT_COMMANDS.update, idempotencyKey: randomUUID(), args: { ticket, status: 'open' } }),
        c.write({
          type: RT_COMMANDS.update,
          idempotencyKey: randomUUID(),
          args: { ticket, customFields: { 'ERP Order': 'SO-7' } },
        }),
        c.write({
          type: RT_COMMANDS.update,
          idempotencyKey: randomUUID(),
          args: { ticket, customFields: { 'ERP Customer': 'C-7' } },
        }),
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['applied', 'applied', 'applied']);
      expect(c.updateRequests - before).toBe(1);
      const [t] = (await c.searchTickets(`id = ${ticket}`)).items;
      expect(t!.Status).toBe('open');
      const cfs = Object.fromEntries(
        (t!.CustomFields as { name: string; values: string[] }[]).map((cf) => [cf.name, cf.values]),
      );
      expect(cfs).toMatchObject({ 'ERP Order': ['SO-7'], 'ERP Customer': ['C-7'] });
    });

    it('reports a value RT refused (RT answers 200) as not applied, and an unknown custom field as an error', async () => {
      const ticket = Number(await fixture.ticket());
      const outcome = await c.write({
        type: RT_COMMANDS.update,
        idempotencyKey: randomUUID(),
        args: { ticket, status: 'no-such-status' },
      });
      expect(outcome.status).toBe('not-applied');
      await expect(
        c.write({
          type: RT_COMMANDS.update,
          idempotencyKey: randomUUID(),
          args: { ticket, customFields: { 'No Such Field': 'x' } },
        }),
      ).rejects.toThrow(/unknown custom fields/);
    });

    it('reports a comment on a missing ticket as not applied', async () => {
      const outcome = await c.write({
        type: RT_COMMANDS.comment,
        idempotencyKey: randomUUID(),
        args: { ticket: 999_999, text: 'x' },
      });
      expect(outcome.status).toBe('not-applied');
    });
  });
});
