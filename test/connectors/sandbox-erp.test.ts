import { ulid } from 'ulid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Command } from '../../src/connectors/connector.ts';
import { WebhookSignatureInvalidError } from '../../src/connectors/errors.ts';
import { SANDBOX_ERP_COMMANDS, SandboxErpConnector } from '../../src/connectors/sandbox-erp/index.ts';
import { sourceUpdatedAt } from '../../src/connectors/sandbox-erp/sandbox-webhooks.ts';
import { startErp, type SandboxErp } from '../../src/sandbox/erp/erp-server.ts';
import { silentLogger } from '../../src/telemetry/index.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../sandbox/webhook-receiver.ts';
import { readAll, runConnectorContract } from './contract.ts';

const ADDRESS = { line1: '1 Main St', city: 'Springfield', postal_code: '12345', country: 'US' };
const KEY = 'sandbox-erp-key';

/** Makes a released order (and its customer and item) in the ERP's own books. */
function releasedOrder(erp: SandboxErp, creditLimit = 1_000_000) {
  const customer = erp.state.createCustomer({
    name: `C ${ulid()}`,
    email: 'c@x.example',
    credit_limit: creditLimit,
    ship_to: ADDRESS,
  });
  const item = erp.state.createItem({ sku: ulid(), description: 'Widget', list_price: 10, on_hand: 1000 });
  const order = erp.state.createOrder({ customer_id: customer.id, lines: [{ item_id: item.id, qty: 3 }] });
  return { customer, item, order };
}

function produceIn(erp: SandboxErp, stream: string): string[] {
  const { customer, item, order } = releasedOrder(erp);
  switch (stream) {
    case 'customer':
      return [customer.id];
    case 'item':
      return [item.id];
    case 'sales_order':
      return [order.id];
    case 'credit_hold': {
      const held = releasedOrder(erp, 1).order;
      return erp.state.holds.all((h) => h.order_id === held.id).map((h) => h.id);
    }
    case 'shipment':
      return [erp.state.createShipment({ order_id: order.id, lines: [{ line_no: 10, qty: 3 }] }).id];
    case 'invoice':
      erp.state.createShipment({ order_id: order.id, lines: [{ line_no: 10, qty: 3 }] });
      return [erp.state.createInvoice({ order_id: order.id }).id];
    case 'return':
      erp.state.createShipment({ order_id: order.id, lines: [{ line_no: 10, qty: 3 }] });
      return [
        erp.state.createReturn({ order_id: order.id, lines: [{ line_no: 10, qty: 1 }], reason: 'test' }).id,
      ];
    default:
      throw new RangeError(`cannot produce ${stream}`);
  }
}

function connect(erp: SandboxErp, apiKey = KEY, extra: Record<string, unknown> = {}, webhookSecret?: string) {
  return new SandboxErpConnector(
    { url: erp.url, ...extra },
    { apiKey, ...(webhookSecret === undefined ? {} : { webhookSecret }) },
    { logger: silentLogger() },
  );
}

runConnectorContract('sandbox-erp', async () => {
  const erp = await startErp();
  // One attempt per write, so a lost answer surfaces as `ambiguous` for the suite to check.
  const connector = connect(erp, KEY, { writeAttempts: 1 });
  const broken = connect(erp, 'wrong-key');
  return {
    connector,
    broken,
    secrets: [KEY, 'wrong-key'],
    produce: (stream) => Promise.resolve(produceIn(erp, stream)),
    command: (): Command => ({
      type: SANDBOX_ERP_COMMANDS.orderHold,
      idempotencyKey: ulid(),
      args: { order_id: releasedOrder(erp).order.id, note: 'contract' },
    }),
    effectCarriesKey: (externalId, command) =>
      Promise.resolve(
        (erp.idempotentAnswer(command.idempotencyKey) as { id?: string } | undefined)?.id === externalId,
      ),
    ambiguousWrite: (_command, applied) => {
      erp.faults.set(
        applied
          ? { appliedButTimedOut: { rate: 1, count: 1, mode: 'destroy' } }
          : { failNext: { count: 1, mode: 'reset' } },
      );
      return Promise.resolve();
    },
    close: async () => {
      await connector.close();
      await broken.close();
      await erp.stop();
    },
  };
});

describe('sandbox ERP connector', () => {
  let erp: SandboxErp;
  let receiver: WebhookReceiver | undefined;
  beforeEach(async () => {
    erp = await startErp();
  });
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
    await erp.stop();
  });

  it('reads every order when many share one second, in pages of two', async () => {
    erp.clock.freeze(Date.parse('2026-03-01T09:00:00Z'));
    const ids = Array.from({ length: 7 }, () => releasedOrder(erp).order.id);
    const connector = connect(erp);
    try {
      const { records, pages } = await readAll(connector, 'sales_order', undefined, 2);
      expect(pages).toBeGreaterThan(3);
      expect([...new Set(records.map((r) => r.externalId))]).toEqual(ids);
      // Second-resolution stamp, with the row version as microseconds (see sourceUpdatedAt).
      expect(records[0]!.updatedAt).toBe('2026-03-01T09:00:00.000001Z');
    } finally {
      await connector.close();
    }
  });

  it('finds a record written later in a second it already paged past, thanks to the overlap', async () => {
    // Reads page 1 (ending at SO-100002 @ T), then SO-100001 changes within T (behind the cursor),
    // then the clock moves on and the pass ends at T+1s. Only a restart before T finds the change.
    const missedWith = async (overlapMs: number): Promise<boolean> => {
      const local = await startErp();
      const connector = connect(local, KEY, { overlapMs });
      try {
        local.clock.freeze(Date.parse('2026-03-01T09:00:00Z'));
        const [a] = [
          releasedOrder(local).order.id,
          releasedOrder(local).order.id,
          releasedOrder(local).order.id,
        ];
        const page1 = await connector.read({ stream: 'sales_order', limit: 2 });
        expect(page1.hasMore).toBe(true);
        local.state.holdOrder(a, 'changed in the same second');
        local.clock.advance(1000);
        releasedOrder(local);
        const rest = await readAll(connector, 'sales_order', page1.cursor);
        const next = await readAll(connector, 'sales_order', rest.cursor);
        const versions = [...rest.records, ...next.records]
          .filter((r) => r.externalId === a)
          .map((r) => (r.payload as { version: number }).version);
        return !versions.includes(2);
      } finally {
        await connector.close();
        await local.stop();
      }
    };
    expect(await missedWith(0)).toBe(true);
    expect(await missedWith(2000)).toBe(false);
  });

  it('retries a write whose answer was lost and reports the ERP replayed it', async () => {
    const connector = connect(erp);
    try {
      const { order } = releasedOrder(erp);
      erp.faults.set({ appliedButTimedOut: { rate: 1, count: 1, mode: 'destroy' } });
      const outcome = await connector.write({
        type: SANDBOX_ERP_COMMANDS.orderCancel,
        idempotencyKey: ulid(),
        args: { order_id: order.id, reason: 'customer asked' },
      });
      expect(outcome).toMatchObject({
        status: 'applied',
        replayed: true,
        effect: { externalId: order.id, result: { status: 'CANCELLED' } },
      });
      expect(erp.state.getOrder(order.id).version).toBe(2);
    } finally {
      await connector.close();
    }
  });

  it('reports a write the ERP refuses as not applied, with the reason', async () => {
    const connector = connect(erp);
    try {
      const outcome = await connector.write({
        type: SANDBOX_ERP_COMMANDS.orderRelease,
        idempotencyKey: ulid(),
        args: { order_id: releasedOrder(erp).order.id },
      });
      expect(outcome.status).toBe('not-applied');
      if (outcome.status === 'not-applied') expect(outcome.error.message).toContain('not on hold');
    } finally {
      await connector.close();
    }
  });

  it('verifies and parses the ERP webhooks, and rejects a tampered one', async () => {
    receiver = await startWebhookReceiver();
    const sub = erp.webhooks.subscribe({ url: receiver.url, events: ['sales_order.created'] });
    const connector = connect(erp, KEY, {}, sub.secret);
    try {
      const { order } = releasedOrder(erp);
      const [hook] = await receiver.waitFor(1);
      const inbound = {
        headers: hook!.headers as Record<string, string>,
        rawBody: Buffer.from(hook!.body),
        receivedAt: new Date(),
      };
      await connector.webhooks.verify(inbound);
      const parsed = await connector.webhooks.parse(inbound);
      expect(parsed.records).toMatchObject([
        { stream: 'sales_order', externalId: order.id, payload: { status: 'RELEASED' } },
      ]);
      const tampered = { ...inbound, rawBody: Buffer.from(hook!.body.replace('RELEASED', 'CANCELLED')) };
      await expect(async () => connector.webhooks.verify(tampered)).rejects.toThrow(
        WebhookSignatureInvalidError,
      );
    } finally {
      await connector.close();
    }
  });
});

describe('sourceUpdatedAt', () => {
  it('keeps two changes of one record within a second distinct and in version order', () => {
    const first = sourceUpdatedAt({ updated_at: '2026-03-01T09:00:00Z', version: 7 });
    const second = sourceUpdatedAt({ updated_at: '2026-03-01T09:00:00Z', version: 8 });
    expect(first).toBe('2026-03-01T09:00:00.000007Z');
    expect(second > first).toBe(true);
    expect(sourceUpdatedAt({ updated_at: '2026-03-01T09:00:01Z', version: 2 }) > second).toBe(true);
  });
});
