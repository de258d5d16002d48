import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startErp, type SandboxErp } from '../../src/sandbox/erp/erp-server.ts';
import { FAULT_PRESETS } from '../../src/sandbox/fault-presets.ts';
import { FaultInjector, validateFaults } from '../../src/sandbox/faults.ts';
import { SandboxFaultsInvalidError } from '../../src/sandbox/errors.ts';
import { call } from './http-call.ts';

const KEY = { 'x-api-key': 'sandbox-erp-key' };
const ITEM = { sku: 'X', description: 'X', list_price: 1, on_hand: 1 };

let erp: SandboxErp | undefined;
afterEach(async () => {
  await erp?.stop();
  erp = undefined;
});

async function fetchError(url: string, init: RequestInit = {}): Promise<string | undefined> {
  try {
    await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
    return undefined;
  } catch (err) {
    const cause = (err as { cause?: { code?: string; name?: string } }).cause;
    return cause?.code ?? (err as Error).name;
  }
}

describe('sandbox fault injection', () => {
  it('answers 429 with Retry-After during a storm, then serves again when it ends', async () => {
    erp = await startErp();
    erp.faults.set({ rateLimitStorms: [{ durationMs: 1500, retryAfterSeconds: 2 }] });
    const storm = await call(`${erp.url}/api/v1/items`, { headers: KEY });
    expect(storm.status).toBe(429);
    expect(storm.headers.get('retry-after')).toBe('2');
    await sleep(1600);
    expect((await call(`${erp.url}/api/v1/items`, { headers: KEY })).status).toBe(200);
    expect(erp.faults.describe().stats.rateLimited).toBe(1);
  });

  it('commits a write, then drops the connection without an answer (applied but timed out)', async () => {
    erp = await startErp({ faults: { appliedButTimedOut: { rate: 1, mode: 'destroy', count: 1 } } });
    const error = await fetchError(`${erp.url}/api/v1/items`, {
      method: 'POST',
      headers: { ...KEY, 'content-type': 'application/json' },
      body: JSON.stringify(ITEM),
    });
    expect(error).toBeDefined();
    // The client saw a failure, yet the item exists: a blind retry would create a second one.
    const items = await call(`${erp.url}/api/v1/items`, { headers: KEY });
    expect(items.body.data.map((i: { sku: string }) => i.sku)).toEqual(['X']);
    expect(erp.faults.describe().stats.appliedButTimedOut).toBe(1);
  });

  it('commits a write, then holds the answer past the client timeout (delay mode)', async () => {
    erp = await startErp({ faults: { appliedButTimedOut: { rate: 1, mode: 'delay', delayMs: 5000 } } });
    const error = await fetch(`${erp.url}/api/v1/items`, {
      method: 'POST',
      headers: { ...KEY, 'content-type': 'application/json' },
      body: JSON.stringify(ITEM),
      signal: AbortSignal.timeout(200),
    }).then(
      () => 'answered',
      (err: Error) => err.name,
    );
    expect(error).toBe('TimeoutError');
    expect(erp.state.items.size).toBe(1);
  });

  it('refuses connections during an outage window and recovers on the same port afterwards', async () => {
    erp = await startErp();
    const url = erp.url;
    erp.faults.set({ outages: [{ durationMs: 400, mode: 'refuse' }] });
    await sleep(50);
    expect(await fetchError(`${url}/api/v1/items`, { headers: KEY })).toBe('ECONNREFUSED');
    await sleep(500);
    expect(erp.url).toBe(url);
    expect((await call(`${url}/api/v1/items`, { headers: KEY })).status).toBe(200);
  });

  it('answers 503 with Retry-After in a 503 outage, and resets connections in a reset outage', async () => {
    erp = await startErp({ faults: { outages: [{ durationMs: 2000, mode: '503' }] } });
    const down = await call(`${erp.url}/api/v1/items`, { headers: KEY });
    expect(down.status).toBe(503);
    expect(Number(down.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Admin routes stay up, so a test can end the outage early.
    const cleared = await call(`${erp.url}/_sandbox/faults`, { method: 'DELETE', headers: KEY });
    expect(cleared.body.down).toBe(false);
    expect((await call(`${erp.url}/api/v1/items`, { headers: KEY })).status).toBe(200);

    await call(`${erp.url}/_sandbox/faults`, {
      method: 'PUT',
      headers: KEY,
      body: { outages: [{ durationMs: 2000, mode: 'reset' }] },
    });
    expect(await fetchError(`${erp.url}/api/v1/items`, { headers: KEY })).toBeDefined();
  });

  it('changes faults at runtime through /_sandbox/faults and rejects out-of-range settings', async () => {
    erp = await startErp();
    const set = await call(`${erp.url}/_sandbox/faults`, {
      method: 'PUT',
      headers: KEY,
      body: { errorRate: 1, seed: 3 },
    });
    expect(set.body.config).toEqual({ errorRate: 1 });
    const failed = await call(`${erp.url}/api/v1/items`, { headers: KEY });
    expect([500, 502, 503]).toContain(failed.status);
    const bad = await call(`${erp.url}/_sandbox/faults`, {
      method: 'PATCH',
      headers: KEY,
      body: { errorRate: 2 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_FAULTS');
    expect(() => new FaultInjector({ latency: { fixedMs: -1 } })).toThrow(SandboxFaultsInvalidError);
  });

  it('fails exactly the next requests before applying them (failNext)', async () => {
    erp = await startErp({ faults: { failNext: { count: 2, mode: 'reset' } } });
    const post = () =>
      fetchError(`${erp!.url}/api/v1/items`, {
        method: 'POST',
        headers: { ...KEY, 'content-type': 'application/json' },
        body: JSON.stringify(ITEM),
      });
    expect(await post()).toBeDefined();
    expect(await post()).toBeDefined();
    expect(erp.state.items.size).toBe(0);
    expect(await post()).toBeUndefined();
    expect(erp.state.items.size).toBe(1);
    erp.faults.set({ failNext: { count: 1, mode: 503 } });
    expect((await call(`${erp.url}/api/v1/items`, { headers: KEY })).status).toBe(503);
    expect((await call(`${erp.url}/api/v1/items`, { headers: KEY })).status).toBe(200);
  });

  it('ships presets that pass validation', () => {
    for (const preset of Object.values(FAULT_PRESETS)) expect(() => validateFaults(preset)).not.toThrow();
    expect(new FaultInjector(FAULT_PRESETS.hostile).describe().down).toBe(false);
  });

  it('injects the same faults for the same seed', () => {
    const verdicts = (seed: number) => {
      const injector = new FaultInjector({ errorRate: 0.3, latency: { jitterMs: 10 } }, seed);
      return Array.from({ length: 50 }, () => injector.onRequest());
    };
    expect(verdicts(42)).toEqual(verdicts(42));
    expect(verdicts(42)).not.toEqual(verdicts(43));
    expect(verdicts(42).filter((v) => v.kind === 'error').length).toBeGreaterThan(0);
  });
});
