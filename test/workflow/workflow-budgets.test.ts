import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CrossdockError, defineError } from '../../src/errors/index.ts';
import type { Store } from '../../src/store/index.ts';
import { defineWorkflow, WorkflowRuntime, type WorkflowTables } from '../../src/workflow/index.ts';
import { dialects, freshDatabase, until, type TestDatabase } from './support.ts';

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
  return { child, calls, ready: () => out.includes('READY') };
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

  it.skipIf(skip)(
    'a budget of N calls/s holds across two processes within 10%',
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
      console.log(`budget: ${callsA.length} + ${callsB.length} calls in ${durationMs} ms at ${rate}/s`);
      const expected = 1 + (rate * durationMs) / 1000;
      const total = callsA.length + callsB.length;
      expect(Math.abs(total - expected) / expected).toBeLessThanOrEqual(0.1);
    },
    90_000,
  );

  it.skipIf(skip)('a 429 with Retry-After backs the budget off for every caller', async () => {
    runtime = new WorkflowRuntime({ store });
    await runtime.budgets.define({ name: 'carrier', ratePerSec: 1000, burst: 10 });
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
});
