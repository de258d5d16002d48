import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenBucketRateBudget, type Release } from '../../src/connectors/http/index.ts';

// The bucket's refill arithmetic is driven by fake timers (and the fake Date.now they bring), so these
// tests check the schedule exactly without depending on how fast the machine is.
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function track(promise: Promise<Release>): { release?: Release } {
  const slot: { release?: Release } = {};
  void promise.then((r) => (slot.release = r));
  return slot;
}

describe('TokenBucketRateBudget', () => {
  it('grants the burst at once, then one token per 1/rate seconds', async () => {
    const budget = new TokenBucketRateBudget({ ratePerSecond: 2, burst: 2, maxInFlight: 10 });
    const slots = [0, 1, 2, 3].map(() => track(budget.acquire()));
    await vi.advanceTimersByTimeAsync(0);
    expect(slots.map((s) => s.release !== undefined)).toEqual([true, true, false, false]);
    await vi.advanceTimersByTimeAsync(499);
    expect(slots[2]!.release).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(slots[2]!.release).toBeDefined();
    expect(slots[3]!.release).toBeUndefined();
    await vi.advanceTimersByTimeAsync(500);
    expect(slots[3]!.release).toBeDefined();
  });

  it('caps requests in flight and serves higher priorities first', async () => {
    const budget = new TokenBucketRateBudget({ ratePerSecond: 1000, maxInFlight: 1 });
    const first = track(budget.acquire());
    await vi.advanceTimersByTimeAsync(0);
    const low = track(budget.acquire('low'));
    const normal = track(budget.acquire('normal'));
    const high = track(budget.acquire('high'));
    await vi.advanceTimersByTimeAsync(10);
    expect([low.release, normal.release, high.release]).toEqual([undefined, undefined, undefined]);
    expect(budget.waiting).toBe(3);
    first.release!();
    await vi.advanceTimersByTimeAsync(10);
    expect(high.release).toBeDefined();
    expect(normal.release).toBeUndefined();
    high.release!();
    high.release!(); // a second release is harmless and frees nothing more
    await vi.advanceTimersByTimeAsync(10);
    expect(normal.release).toBeDefined();
    expect(low.release).toBeUndefined();
    expect(budget.active).toBe(1);
  });

  it('grants nothing during a back-off', async () => {
    const budget = new TokenBucketRateBudget({ ratePerSecond: 100, maxInFlight: 5 });
    budget.backOff(1_000);
    const slot = track(budget.acquire());
    await vi.advanceTimersByTimeAsync(999);
    expect(slot.release).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(slot.release).toBeDefined();
  });

  it('drops an aborted waiter and rejects it with the abort reason', async () => {
    const budget = new TokenBucketRateBudget({ ratePerSecond: 1000, maxInFlight: 1 });
    const held = track(budget.acquire());
    await vi.advanceTimersByTimeAsync(0);
    const controller = new AbortController();
    const waiting = budget.acquire('normal', controller.signal);
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    expect(budget.waiting).toBe(0);
    held.release!();
    expect(budget.active).toBe(0);
  });
});

describe('TokenBucketRateBudget low share', () => {
  it('lets low requests hold at most their share of the in-flight places', async () => {
    const budget = new TokenBucketRateBudget({ ratePerSecond: 1000, burst: 10, maxInFlight: 4 });
    const lows = [0, 1, 2, 3].map(() => track(budget.acquire('low')));
    await vi.advanceTimersByTimeAsync(0);
    expect(lows.map((s) => s.release !== undefined)).toEqual([true, true, false, false]);
    const high = track(budget.acquire('high'));
    await vi.advanceTimersByTimeAsync(0);
    expect(high.release).toBeDefined();
    expect(budget.active).toBe(3);
    lows[0]!.release!();
    await vi.advanceTimersByTimeAsync(0);
    expect(lows[2]!.release).toBeDefined();
    expect(lows[3]!.release).toBeUndefined();
  });

  it('gives low requests every place with lowShare 1', async () => {
    const budget = new TokenBucketRateBudget({ ratePerSecond: 1000, burst: 10, maxInFlight: 4, lowShare: 1 });
    const lows = [0, 1, 2, 3].map(() => track(budget.acquire('low')));
    await vi.advanceTimersByTimeAsync(0);
    expect(lows.every((s) => s.release !== undefined)).toBe(true);
  });
});
