import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Release } from '../../src/budgets/index.ts';
import { HttpClient } from '../../src/connectors/http/index.ts';
import { CrossdockError, defineError } from '../../src/errors/index.ts';
import type { Store } from '../../src/store/index.ts';
import { defineWorkflow, WorkflowRuntime, type WorkflowTables } from '../../src/workflow/index.ts';
import { dialects, freshDatabase, gate, until, type TestDatabase } from './support.ts';

const TooManyDef = defineError({
  code: 'TEST_TOO_MANY_REQUESTS',
  status: 429,
  retryable: true,
  title: 'test: too many requests',
  description: 'Used by the budget tests only.',
});

const workerFile = path.join(import.meta.dirname, 'fixtures', 'budget-worker.ts');
const runTs = path.join(import.meta.dirname, '..', '..', 'bin', 'run-ts.js');

function budgetWorker(args: string[]) {
  const child = spawn(process.execPath, [runTs, workerFile, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const calls = new Promise<number[]>((resolve, reject) => {
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('CALLS '));
      if (code !== 0 || !line) reject(new Error(`budget worker failed (${code}): ${err}`));
      else resolve(JSON.parse(line.slice(6)) as number[]);
    });
  });
  /** Calls made by connector-style callers and by workflow steps (after `calls` resolved). */
  const kinds = () => {
    const line = out.split('\n').find((l) => l.startsWith('KINDS '));
    return JSON.parse(line!.slice(6)) as { connector: number; step: number };
  };
  return { child, calls, kinds, ready: () => out.includes('READY') };
}

describe.each(dialects)('rate budgets on $dialect', ({ dialect, skip }) => {
  let db: TestDatabase;
  let store: Store;
  let runtime: WorkflowRuntime | undefined;
  beforeEach(async () => {
    if (skip) return;
    db = await freshDatabase(dialect);
    store = await db.open();
  });
  afterEach(async () => {
    if (skip) return;
    await runtime?.shutdown({ drainMs: 0 });
    await store.close();
    await db.drop();
  });

  async function blockedUntil(name: string): Promise<number> {
    const row = await store
      .db<WorkflowTables>()
      .selectFrom('wf_budgets')
      .select('blocked_until')
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(row?.blocked_until ?? 0);
  }

  it.skipIf(skip)(
    'a budget of N calls/s holds across two processes within 10%, connectors and steps drawing on it alike',
    async () => {
      const rate = 20;
      const durationMs = 3000;
      const a = budgetWorker([JSON.stringify(db.config), String(rate)]);
      const b = budgetWorker([JSON.stringify(db.config), String(rate)]);
      await until(() => a.ready() && b.ready(), 30_000);
      const startAt = Date.now() + 200;
      for (const w of [a, b]) w.child.stdin.end(`${startAt} ${durationMs}\n`);
      const [callsA, callsB] = await Promise.all([a.calls, b.calls]);
      // Both processes got a share, and together they stayed on the budget: one token to start, then `rate`/s.
      expect(callsA.length).toBeGreaterThan(0);
      expect(callsB.length).toBeGreaterThan(0);
      // In each process both kinds of caller were served from the one budget.
      for (const w of [a, b]) {
        expect(w.kinds().connector).toBeGreaterThan(0);
        expect(w.kinds().step).toBeGreaterThan(0);
      }
      console.log(`budget: ${callsA.length} + ${callsB.length} calls in ${durationMs} ms at ${rate}/s`);
      const expected = 1 + (rate * durationMs) / 1000;
      const total = callsA.length + callsB.length;
      expect(Math.abs(total - expected) / expected).toBeLessThanOrEqual(0.1);
    },
    90_000,
  );

  it.skipIf(skip)('a 429 with Retry-After backs the budget off for every caller', async () => {
    runtime = new WorkflowRuntime({ store });
    await runtime.budgets.define({ name: 'carrier', ratePerSecond: 1000, burst: 10 });
    const calledAt: number[] = [];
    let first = true;
    const wf = defineWorkflow({
      name: 'track',
      version: 1,
      run: async (ctx) =>
        ctx.step(
          'poll-carrier',
          async () => {
            calledAt.push(Date.now());
            if (first) {
              first = false;
              throw new CrossdockError(TooManyDef, 'slow down', {}, { retryAfterMs: 300 });
            }
            return 'in transit';
          },
          { budget: 'carrier', retry: { maxAttempts: 1 } },
        ),
    });
    runtime.register(wf);
    await expect((await runtime.start(wf, undefined)).result()).rejects.toBeDefined();
    const row = await store
      .db<WorkflowTables>()
      .selectFrom('wf_budgets')
      .selectAll()
      .where('name', '=', 'carrier')
      .executeTakeFirstOrThrow();
    const blockedUntil = Number(row.blocked_until);
    expect(blockedUntil).toBeGreaterThanOrEqual(calledAt[0]! + 300);
    // Another run drawing on the same budget waits for the back-off to end.
    expect(await (await runtime.start(wf, undefined)).result()).toBe('in transit');
    expect(calledAt[1]).toBeGreaterThanOrEqual(blockedUntil);
  });

  it.skipIf(skip)(
    "a 429 with Retry-After seen by one process's connector pauses the other processes' callers",
    async () => {
      const server = http.createServer((_req, res) => {
        res.writeHead(429, { 'retry-after': '1' }).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        runtime = new WorkflowRuntime({ store });
        const erp = runtime.budgets.forSystem('erp', { ratePerSecond: 20 });
        const client = new HttpClient({
          system: 'erp',
          baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
          rateBudget: erp,
          retry: { maxAttempts: 1 },
          guard: () => undefined,
        });
        const a = budgetWorker([JSON.stringify(db.config), '20']);
        const b = budgetWorker([JSON.stringify(db.config), '20']);
        await until(() => a.ready() && b.ready(), 30_000);
        await expect(client.request({ method: 'GET', path: '/orders' })).rejects.toMatchObject({
          retryAfterMs: 1000,
        });
        await client.close();
        await until(async () => (await blockedUntil('erp')) > 0);
        const blocked = await blockedUntil('erp');
        const startAt = Date.now() + 100;
        for (const w of [a, b]) w.child.stdin.end(`${startAt} 2000\n`);
        const calls = [...(await a.calls), ...(await b.calls)];
        expect(calls.length).toBeGreaterThan(0);
        // Nobody called during the back-off; after it the budget's rate held.
        expect(Math.min(...calls)).toBeGreaterThanOrEqual(blocked);
        const expected = 1 + (20 * (startAt + 2000 - blocked)) / 1000;
        expect(Math.abs(calls.length - expected) / expected).toBeLessThanOrEqual(0.1);
      } finally {
        server.close();
      }
    },
    90_000,
  );

  it.skipIf(skip)('queue dispatch takes a slot of the queue budget per run start', async () => {
    runtime = new WorkflowRuntime({ store, pollIntervalMs: 20 });
    await runtime.budgets.define({ name: 'erp', ratePerSecond: 10 });
    const startedAt: number[] = [];
    const wf = defineWorkflow({
      name: 'push-item',
      version: 1,
      run: (ctx) => ctx.step('push', async () => void startedAt.push(Date.now())),
    });
    runtime.register(wf).registerQueue({ name: 'erp-writes', concurrency: 6, budget: 'erp' });
    const handles = [];
    for (let i = 0; i < 6; i++) handles.push(await runtime.enqueue(wf, undefined, { queue: 'erp-writes' }));
    const launchedAt = Date.now();
    await runtime.launch();
    await Promise.all(handles.map((h) => h.result()));
    // All six were claimed at once (concurrency 6) yet started one slot (100 ms) apart.
    const sorted = [...startedAt].sort((x, y) => x - y);
    sorted.forEach((t, i) => expect(t).toBeGreaterThanOrEqual(launchedAt + i * 100 - 1));
  });

  it.skipIf(skip)('a waiting high call goes before normal and low ones', async () => {
    runtime = new WorkflowRuntime({ store });
    const erp = await runtime.budgets.define({ name: 'erp', ratePerSecond: 200, maxInFlight: 1 });
    const first = await erp.acquire('low');
    const order: string[] = [];
    const take = (label: string, priority: 'high' | 'normal' | 'low') =>
      erp.acquire(priority).then((release) => {
        order.push(label);
        release();
      });
    const all = [take('low-1', 'low'), take('low-2', 'low'), take('normal', 'normal'), take('high', 'high')];
    expect(erp.waiting).toBe(4);
    first();
    await Promise.all(all);
    expect(order).toEqual(['high', 'normal', 'low-1', 'low-2']);
  });

  it.skipIf(skip)('low calls hold at most their share of the in-flight places', async () => {
    runtime = new WorkflowRuntime({ store });
    const erp = await runtime.budgets.define({
      name: 'erp',
      ratePerSecond: 200,
      maxInFlight: 4,
      lowShare: 0.5,
    });
    const lows: Release[] = [];
    const lowCalls = Array.from({ length: 4 }, () => erp.acquire('low').then((r) => void lows.push(r)));
    await until(() => lows.length === 2);
    // Several slots later the other two lows still wait: two places stay free for live calls.
    await new Promise((r) => setTimeout(r, 50));
    expect([lows.length, erp.waiting]).toEqual([2, 2]);
    const high = await erp.acquire('high');
    expect(erp.active).toBe(3);
    lows.shift()!();
    await until(() => lows.length === 2);
    expect(erp.active).toBe(3);
    high();
    for (const r of lows.splice(0)) r();
    await Promise.all(lowCalls);
    for (const r of lows) r();
  });

  it.skipIf(skip)('a budget wait given up by its caller frees nothing it did not hold', async () => {
    runtime = new WorkflowRuntime({ store });
    const erp = await runtime.budgets.define({ name: 'erp', ratePerSecond: 200, maxInFlight: 1 });
    const held = await erp.acquire();
    const abort = new AbortController();
    const waiting = erp.acquire('normal', abort.signal);
    abort.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    const next = gate<Release>();
    void erp.acquire().then(next.open);
    held();
    (await next.promise)();
    expect([erp.active, erp.waiting]).toEqual([0, 0]);
  });

  it.skipIf(skip)('a queue naming a budget this process has not defined stays queued', async () => {
    runtime = new WorkflowRuntime({ store });
    const wf = defineWorkflow({ name: 'push-item', version: 1, run: async () => 'pushed' });
    runtime.register(wf).registerQueue({ name: 'erp-writes', budget: 'erp' });
    const handle = await runtime.enqueue(wf, undefined, { queue: 'erp-writes' });
    expect(await runtime.dispatchQueues()).toBe(0);
    await runtime.budgets.define({ name: 'erp', ratePerSecond: 100 });
    expect(await runtime.dispatchQueues()).toBe(1);
    expect(await handle.result()).toBe('pushed');
  });
});
