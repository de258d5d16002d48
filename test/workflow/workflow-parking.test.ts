// Long waits leave memory: a run sleeping or waiting for a signal longer than `parkAfterMs` is parked in
// the store (`waiting`, with its wake-up time) and resumed by a poll when due or when signalled.
import { describe, expect, it } from 'vitest';
import {
  defineWorkflow,
  WorkflowAdminService,
  WorkflowRuntime,
  type WorkflowRuntimeOptions,
  type WorkflowTables,
} from '../../src/workflow/index.ts';
import { dialects, useWorkflowStore, until } from './support.ts';

const HOUR = 3_600_000;

describe.each(dialects)('parked runs on $dialect', ({ dialect, skip }) => {
  const t = useWorkflowStore(dialect, skip);
  const runtime = (options?: Partial<WorkflowRuntimeOptions>) => t.runtime(options);

  const waiting = async () =>
    Number(
      (
        await t.store
          .db<WorkflowTables>()
          .selectFrom('wf_runs')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where('status', '=', 'waiting')
          .executeTakeFirstOrThrow()
      ).n,
    );

  it.skipIf(skip)(
    '2,000 runs sleeping an hour hold no executions in memory and resume when due',
    async () => {
      let clock = Date.now();
      const rt = runtime({ now: () => clock, maxRecoveredRuns: 5000 });
      const nap = defineWorkflow({
        name: 'nap',
        version: 1,
        run: async (ctx, input: { i: number }) => {
          await ctx.sleep(HOUR);
          return ctx.step('after', async () => input.i * 2);
        },
      });
      rt.register(nap);
      let parked = 0;
      rt.events.on('run:parked', () => parked++);
      const ids = await Promise.all(
        Array.from({ length: 2000 }, async (_, i) => (await rt.start(nap, { i })).runId),
      );
      await until(() => parked === 2000 && rt.activeRuns === 0, 120_000);
      expect(await waiting()).toBe(2000);
      // Not due yet: a poll takes nothing.
      expect(await rt.recoverNow()).toBe(0);
      clock += HOUR + 1;
      expect(await rt.recoverNow()).toBe(2000);
      const results = await Promise.all(ids.map((id) => rt.result<number>(id)));
      expect(results).toEqual(ids.map((_, i) => i * 2));
      expect(await waiting()).toBe(0);
      expect(rt.activeRuns).toBe(0);
    },
    180_000,
  );

  it.skipIf(skip)('a parked signal wait resumes when another process sends the signal', async () => {
    const worker = runtime({ executorId: 'worker', pollIntervalMs: 20 });
    const approval = defineWorkflow({
      name: 'approval',
      version: 1,
      run: async (ctx) => {
        const decision = await ctx.waitForSignal<{ by: string }>('approved', 24 * HOUR);
        return decision.received ? decision.payload.by : 'timed out';
      },
    });
    worker.register(approval);
    await worker.launch();
    const { runId } = await worker.start(approval, undefined, { runId: 'approve-1' });
    await until(async () => (await waiting()) === 1 && worker.activeRuns === 0);
    const other = runtime({ executorId: 'api' }).register(approval);
    await other.sendSignal(runId, 'approved', { by: 'ops' });
    expect(await worker.result(runId)).toBe('ops');
    expect(await waiting()).toBe(0);
  });

  it.skipIf(skip)(
    'a signal to a parked run in the same process wakes it without waiting for a poll',
    async () => {
      const worker = runtime({ executorId: 'worker', pollIntervalMs: 3_600_000 });
      const approval = defineWorkflow({
        name: 'approval',
        version: 1,
        run: async (ctx) => (await ctx.waitForSignal<string>('approved', 24 * HOUR)).received,
      });
      worker.register(approval);
      await worker.launch();
      const { runId } = await worker.start(approval, undefined);
      await until(async () => (await waiting()) === 1 && worker.activeRuns === 0);
      await worker.sendSignal(runId, 'approved', 'yes');
      expect(await worker.result(runId)).toBe(true);
    },
  );

  it.skipIf(skip)('a parked run can be cancelled and is never resumed', async () => {
    let clock = Date.now();
    const rt = runtime({ now: () => clock });
    const nap = defineWorkflow({ name: 'nap', version: 1, run: (ctx) => ctx.sleep(HOUR) });
    rt.register(nap);
    const { runId } = await rt.start(nap, undefined);
    await until(async () => (await waiting()) === 1 && rt.activeRuns === 0);
    expect((await new WorkflowAdminService({ store: t.store }).show(runId)).status).toBe('waiting');
    await new WorkflowAdminService({ store: t.store, runtime: rt }).cancel(runId);
    clock += 2 * HOUR;
    expect(await rt.recoverNow()).toBe(0);
    await expect(rt.result(runId)).rejects.toMatchObject({ code: 'WORKFLOW_CANCELLED' });
  });

  it.skipIf(skip)('two workers polling at once resume each due run exactly once', async () => {
    let clock = Date.now();
    const effects = new Map<string, number>();
    const nap = defineWorkflow({
      name: 'nap',
      version: 1,
      run: async (ctx) => {
        await ctx.sleep(HOUR);
        await ctx.step('after', async () => void effects.set(ctx.runId, (effects.get(ctx.runId) ?? 0) + 1));
      },
    });
    const a = runtime({ executorId: 'a', now: () => clock, maxRecoveredRuns: 1000 }).register(nap);
    const ids = await Promise.all(
      Array.from({ length: 300 }, async () => (await a.start(nap, undefined)).runId),
    );
    await until(async () => (await waiting()) === 300 && a.activeRuns === 0, 60_000);
    // The second worker has its own connections, like another process.
    const otherStore = await t.db.open();
    try {
      const b = new WorkflowRuntime({
        store: otherStore,
        executorId: 'b',
        now: () => clock,
        maxRecoveredRuns: 1000,
      });
      b.register(nap);
      clock += HOUR + 1;
      const [takenA, takenB] = await Promise.all([a.recoverNow(), b.recoverNow()]);
      expect(takenA + takenB).toBe(300);
      await Promise.all(ids.map((id) => a.result(id)));
      await until(() => a.activeRuns === 0 && b.activeRuns === 0);
      await b.shutdown({ drainMs: 0 });
    } finally {
      await otherStore.close();
    }
    expect(effects.size).toBe(300);
    expect([...effects.values()].every((n) => n === 1)).toBe(true);
  });

  it.skipIf(skip)('a run parked before a restart is resumed by the next process when due', async () => {
    let clock = Date.now();
    const nap = defineWorkflow({
      name: 'nap',
      version: 1,
      run: async (ctx) => {
        await ctx.sleep(HOUR);
        return 'rested';
      },
    });
    const first = runtime({ now: () => clock }).register(nap);
    const { runId } = await first.start(nap, undefined);
    await until(async () => (await waiting()) === 1 && first.activeRuns === 0);
    await first.shutdown({ drainMs: 0 });
    clock += HOUR + 1;
    const second = runtime({ now: () => clock, pollIntervalMs: 20 }).register(nap);
    await second.launch();
    expect(await second.result(runId)).toBe('rested');
  });
});
