import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { runTraffic, startTraffic } from '../../src/sandbox/traffic.ts';
import { call } from './http-call.ts';

let sandboxes: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(sandboxes.map((s) => s.stop()));
  sandboxes = [];
});

async function fresh(options: Parameters<typeof startSandbox>[0] = {}): Promise<Sandbox> {
  const sandbox = await startSandbox({ ports: 0, ...options });
  sandboxes.push(sandbox);
  return sandbox;
}

describe('sandbox as a whole', () => {
  it('starts all four systems on free ports with their own auth headers', async () => {
    const sandbox = await fresh();
    for (const system of ['erp', 'helpdesk', 'carrier', 'storefront'] as const) {
      const { header, value } = sandbox.auth[system];
      const ok = await call(`${sandbox.urls[system]}/_sandbox/health`, { headers: { [header]: value } });
      expect(ok.body).toEqual({ ok: true, system });
    }
    const wrong = await call(`${sandbox.urls.helpdesk}/api/v2/cases`, {
      headers: { 'x-api-key': sandbox.apiKeys.erp },
    });
    expect(wrong.status).toBe(401);
  });
});

describe('traffic generator', () => {
  // Lifecycles run one step at a time over real HTTP; on a loaded machine they need more than the
  // default 30 s.
  it('produces the same lifecycle twice with the same seed', { timeout: 180_000 }, async () => {
    const [a, b] = [await fresh(), await fresh()];
    const first = await runTraffic(a, { orders: 15, seed: 11 });
    const second = await runTraffic(b, { orders: 15, seed: 11 });
    expect(first.errors).toEqual([]);
    expect(second.steps).toEqual(first.steps);
    expect(second.cases).toEqual(first.cases);
    expect(b.oracle.orders().map(({ updatedAt: _, ...rest }) => rest)).toEqual(
      a.oracle.orders().map(({ updatedAt: _, ...rest }) => rest),
    );
    const other = await runTraffic(await fresh(), { orders: 15, seed: 12 });
    expect(other.steps).not.toEqual(first.steps);
  });

  it(
    'drives holds, changes, partial shipments, carrier trouble, invoices and cases that name their order',
    { timeout: 180_000 },
    async () => {
      const sandbox = await fresh();
      const result = await runTraffic(sandbox, { orders: 50, seed: 3 });
      expect(result.errors).toEqual([]);
      expect(result.orders).toHaveLength(50);
      expect(result.orders.every((o) => o.completed)).toBe(true);
      const actions = new Set(result.steps.map((s) => s.action));
      for (const action of [
        'storefront.order.changed',
        'erp.order.held',
        'erp.order.released',
        'carrier.delayed',
        'carrier.delivered',
        'erp.invoice.created',
        'helpdesk.case.opened',
        'helpdesk.case.replied',
        'helpdesk.case.solved',
      ]) {
        expect(actions).toContain(action);
      }
      expect(result.orders.some((o) => o.shipments.length === 2)).toBe(true);
      expect(
        result.orders.some((o) => o.channel === 'edi') && result.orders.some((o) => o.channel === 'web'),
      ).toBe(true);

      // Every case names its order in the subject or the body, and the oracle agrees with the ERP.
      expect(result.cases.length).toBeGreaterThan(0);
      for (const c of result.cases) {
        const truth = sandbox.oracle.case(c.caseId)!;
        expect(truth.mentionedOrders).toContain(c.orderId);
        expect(truth.subject.includes(c.orderId)).toBe(c.namedIn === 'subject');
        expect(sandbox.oracle.order(c.orderId)).toBeDefined();
      }
      for (const o of result.orders) {
        const truth = sandbox.oracle.order(o.orderId!)!;
        if (o.cancelled) expect(truth.status).toBe('CANCELLED');
        if (o.released) expect(truth.creditState).toBe('RELEASED');
        if (o.shipments.some((s) => s.outcome === 'damaged')) expect(truth.shipmentStatus).toBe('DAMAGED');
        if (o.payment === 'paid') expect(truth.invoiceStatus).toBe('PAID');
        if (o.payment === 'disputed') expect(truth.invoiceStatus).toBe('DISPUTED');
        if (o.webOrderId !== null) {
          expect(truth.externalRef).toBe(o.webOrderId);
        }
      }
    },
  );

  it(
    'finishes every lifecycle through 429 storms, 5xx errors and applied-but-timed-out writes',
    { timeout: 180_000 },
    async () => {
      const sandbox = await fresh({
        faults: {
          all: { errorRate: 0.05 },
          erp: { appliedButTimedOut: { rate: 0.05, mode: 'destroy' } },
          helpdesk: { appliedButTimedOut: { rate: 0.3, mode: 'destroy' } },
          carrier: {
            appliedButTimedOut: { rate: 0.05, mode: 'destroy' },
            rateLimitStorms: [{ durationMs: 300 }],
          },
        },
        seed: 5,
      });
      const result = await runTraffic(sandbox, { orders: 20, seed: 4, troubledCaseRate: 1, caseRate: 1 });
      expect(result.errors).toEqual([]);
      expect(result.retries.network).toBeGreaterThan(0);
      expect(result.retries.status).toBeGreaterThan(0);
      // Retried writes were checked first, so nothing was applied twice.
      expect(sandbox.erp.state.orders.size).toBe(20);
      expect(sandbox.helpdesk.state.cases.size).toBe(result.cases.length);
      expect(sandbox.carrier.shipments.size).toBe(sandbox.erp.state.shipments.size);
    },
  );

  it('runs continuously at a rate until stopped', async () => {
    const sandbox = await fresh();
    const traffic = startTraffic(sandbox, { ordersPerSecond: 20, seed: 9 });
    while (sandbox.erp.state.orders.size < 5) await new Promise((r) => setTimeout(r, 50));
    const result = await traffic.stop();
    expect(result.errors).toEqual([]);
    expect(result.orders.length).toBeGreaterThanOrEqual(5);
    const after = sandbox.erp.state.orders.size;
    await new Promise((r) => setTimeout(r, 200));
    expect(sandbox.erp.state.orders.size).toBe(after);
  });
});
