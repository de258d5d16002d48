import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.ts';
import { CrossdockError, defineError } from '../../src/errors/index.ts';
import {
  defineWorkflow,
  type WorkflowTables,
  markNotApplied,
  WorkflowAdminService,
  WorkflowRuntime,
  type AttemptSummary,
  type WorkflowEventMap,
} from '../../src/workflow/index.ts';
import { dialects, freshDatabase, gate, until, type TestDatabase } from './support.ts';

const TargetRejectedDef = defineError({
  code: 'TEST_TARGET_REJECTED',
  status: 422,
  retryable: false,
  title: 'test: target rejected the request',
  description: 'Used by the workflow tests only.',
});
const TargetBusyDef = defineError({
  code: 'TEST_TARGET_BUSY',
  status: 429,
  retryable: true,
  title: 'test: target is busy',
  description: 'Used by the workflow tests only.',
});

describe.each(dialects)('workflow runtime on $dialect', ({ dialect, skip }) => {
  let db: TestDatabase;
  let store: Store;
  const runtimes: WorkflowRuntime[] = [];
  const newRuntime = (options: Partial<ConstructorParameters<typeof WorkflowRuntime>[0]> = {}) => {
    const rt = new WorkflowRuntime({ store, pollIntervalMs: 20, resultPollMs: 10, ...options });
    runtimes.push(rt);
    return rt;
  };

  beforeEach(async () => {
    if (skip) return;
    db = await freshDatabase(dialect);
    store = await db.open();
  });
  afterEach(async () => {
    if (skip) return;
    for (const rt of runtimes.splice(0)) await rt.shutdown({ drainMs: 0 });
    await store.close();
    await db.drop();
  });

  it.skipIf(skip)('starting twice with the same run id performs the side effect once', async () => {
    const effects: string[] = [];
    const wf = defineWorkflow({
      name: 'ship-replacement',
      version: 1,
      run: async (ctx, input: { order: string }) => {
        const shipment = await ctx.step('create-shipment', async (s) => {
          effects.push(s.idempotencyKey);
          return { id: `SHP-${input.order}` };
        });
        return shipment.id;
      },
    });
    const rt = newRuntime().register(wf);
    const [a, b] = await Promise.all([
      rt.start(wf, { order: 'SO-1' }, { runId: 'replace-SO-1' }),
      rt.start(wf, { order: 'SO-1' }, { runId: 'replace-SO-1' }),
    ]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(await a.result()).toBe('SHP-SO-1');
    expect(await b.result()).toBe('SHP-SO-1');
    const again = await rt.start(wf, { order: 'SO-1' }, { runId: 'replace-SO-1' });
    expect(again.created).toBe(false);
    expect(await again.result()).toBe('SHP-SO-1');
    // A second runtime (another process on the same store) attaches to the same run too.
    const other = newRuntime({ executorId: 'other' }).register(wf);
    const third = await other.start(wf, { order: 'SO-1' }, { runId: 'replace-SO-1' });
    expect(third.created).toBe(false);
    expect(await third.result()).toBe('SHP-SO-1');
    expect(effects).toEqual(['replace-SO-1:0']);
  });

  it.skipIf(skip)('refuses a run id already used by another workflow', async () => {
    const one = defineWorkflow({ name: 'one', version: 1, run: async () => 1 });
    const two = defineWorkflow({ name: 'two', version: 1, run: async () => 2 });
    const rt = newRuntime().register(one).register(two);
    await (await rt.start(one, undefined, { runId: 'shared' })).result();
    await expect(rt.start(two, undefined, { runId: 'shared' })).rejects.toMatchObject({
      code: 'WORKFLOW_RUN_CONFLICT',
    });
  });

  it.skipIf(skip)('parallel steps replay their own results after a restart', async () => {
    const calls: string[] = [];
    const hold = gate();
    const make = (holdLast: boolean) =>
      defineWorkflow({
        name: 'parallel',
        version: 1,
        run: async (ctx) => {
          // Finish in reverse call order, so ids assigned at completion would be swapped.
          const delays = [30, 15, 1];
          const results = await Promise.all(
            ['erp', 'helpdesk', 'carrier'].map((system, i) =>
              ctx.step(`notify-${system}`, async () => {
                calls.push(system);
                await new Promise((r) => setTimeout(r, delays[i]));
                return `${system}-ack`;
              }),
            ),
          );
          const summary = await ctx.step('summarise', async () => {
            calls.push('summarise');
            if (holdLast) await hold.promise;
            return results.join('+');
          });
          return { results, summary };
        },
      });
    const first = newRuntime({ executorId: 'node-a' }).register(make(true));
    await first.start('parallel', undefined, { runId: 'par-1' });
    await until(() => calls.includes('summarise'));
    // The process "dies" inside the last step: nothing more is written for the run.
    await first.shutdown({ drainMs: 0 });
    calls.length = 0;
    const second = newRuntime({ executorId: 'node-a' }).register(make(false));
    await second.launch();
    const output = await second.result<{ results: string[]; summary: string }>('par-1');
    expect(output.results).toEqual(['erp-ack', 'helpdesk-ack', 'carrier-ack']);
    expect(output.summary).toBe('erp-ack+helpdesk-ack+carrier-ack');
    expect(calls).toEqual(['summarise']);
    const detail = await new WorkflowAdminService({ store }).show('par-1');
    expect(detail.steps.map((s) => [s.stepId, s.name])).toEqual([
      [0, 'notify-erp'],
      [1, 'notify-helpdesk'],
      [2, 'notify-carrier'],
      [3, 'summarise'],
    ]);
    expect(detail.recoveryCount).toBe(1);
    // The step that may have been in flight at the "crash" carries an interrupted attempt.
    expect(detail.steps[3]!.attemptHistory.map((a) => [a.outcome, a.effect])).toEqual([
      ['interrupted', 'unknown'],
    ]);
  });

  it.skipIf(skip)('the retry schedule follows the policy and honours retryAfter', async () => {
    const startedAt: number[] = [];
    const retries: WorkflowEventMap['step:retry-scheduled'][] = [];
    const wf = defineWorkflow({
      name: 'flaky',
      version: 1,
      run: async (ctx) =>
        ctx.step(
          'call-carrier',
          async (s) => {
            startedAt.push(Date.now());
            if (s.attempt === 3)
              throw new CrossdockError(TargetBusyDef, 'slow down', {}, { retryAfterMs: 35 });
            if (s.attempt < 5) throw new Error('connection reset');
            return s.attempt;
          },
          { retry: { maxAttempts: 5, initialIntervalMs: 20, backoffRate: 2, maxIntervalMs: 50, jitter: 0 } },
        ),
    });
    const rt = newRuntime().register(wf);
    rt.events.on('step:retry-scheduled', (e) => retries.push(e));
    const handle = await rt.start(wf, undefined);
    expect(await handle.result()).toBe(5);
    // attempts 1, 2, 4 use the policy (20, 40, then 80 capped to 50); attempt 3 carried retryAfter 35.
    expect(retries.map((r) => [r.attempt, r.delayMs, r.error.code])).toEqual([
      [1, 20, 'ERROR'],
      [2, 40, 'ERROR'],
      [3, 35, 'TEST_TARGET_BUSY'],
      [4, 50, 'ERROR'],
    ]);
    const detail = await new WorkflowAdminService({ store }).show(handle.runId);
    const history = detail.steps[0]!.attemptHistory;
    expect(history.map((a) => a.nextRetryAt! - a.endedAt!)).toEqual([20, 40, 35, 50]);
    // Each retry started no earlier than its recorded schedule.
    for (let i = 0; i < history.length; i++)
      expect(startedAt[i + 1]).toBeGreaterThanOrEqual(history[i]!.nextRetryAt!);
    expect(detail.steps[0]!.attempts).toBe(5);
  });

  it.skipIf(skip)('jitter stays within its spread', async () => {
    const { resolveRetryPolicy, retryDelayMs } = await import('../../src/workflow/index.ts');
    const p = resolveRetryPolicy({ initialIntervalMs: 1000, jitter: 0.2 });
    expect(retryDelayMs(p, 1, () => 0)).toBe(800);
    expect(retryDelayMs(p, 1, () => 0.5)).toBe(1000);
    expect(retryDelayMs(p, 2, () => 0.999999)).toBe(2400);
  });

  it.skipIf(skip)(
    'a run that exhausts retries ends failed with its attempt history and an event',
    async () => {
      const failed: WorkflowEventMap['run:failed'][] = [];
      const wf = defineWorkflow({
        name: 'doomed',
        version: 1,
        run: async (ctx) => {
          await ctx.step('reserve', async () => 'ok');
          await ctx.step(
            'invoice',
            async () => {
              throw new Error('ERP down');
            },
            { retry: { maxAttempts: 2, initialIntervalMs: 1, jitter: 0 } },
          );
        },
      });
      const rt = newRuntime().register(wf);
      rt.events.on('run:failed', (e) => failed.push(e));
      const handle = await rt.start(wf, undefined, { runId: 'doomed-1' });
      await expect(handle.result()).rejects.toMatchObject({ code: 'WORKFLOW_RUN_FAILED' });
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ runId: 'doomed-1', stepId: 1, stepName: 'invoice' });
      expect(failed[0]!.error.code).toBe('WORKFLOW_STEP_FAILED');
      expect(failed[0]!.attempts.map((a: AttemptSummary) => [a.attempt, a.errorMessage])).toEqual([
        [1, 'ERP down'],
        [2, 'ERP down'],
      ]);
      const summary = (await new WorkflowAdminService({ store }).list({ status: 'failed' })).runs;
      expect(summary.map((r) => r.runId)).toEqual(['doomed-1']);
      expect(summary[0]!.error).toMatchObject({ stepId: 1, stepName: 'invoice' });
    },
  );

  it.skipIf(skip)('a non-retryable error fails the step at once', async () => {
    let calls = 0;
    const wf = defineWorkflow({
      name: 'reject',
      version: 1,
      run: async (ctx) =>
        ctx.step('post', async () => {
          calls++;
          throw new CrossdockError(TargetRejectedDef, 'bad address');
        }),
    });
    const rt = newRuntime().register(wf);
    await expect((await rt.start(wf, undefined)).result()).rejects.toMatchObject({
      code: 'WORKFLOW_RUN_FAILED',
    });
    expect(calls).toBe(1);
  });

  it.skipIf(skip)('a step that times out counts as a failed attempt with unknown effect', async () => {
    const wf = defineWorkflow({
      name: 'slow',
      version: 1,
      run: async (ctx) =>
        ctx.step(
          'hang',
          (s) =>
            new Promise((_, reject) =>
              s.signal.addEventListener('abort', () => reject(new Error('aborted'))),
            ),
          {
            timeoutMs: 20,
            retry: { maxAttempts: 2, initialIntervalMs: 1, jitter: 0 },
            input: { amount: 5 },
          },
        ),
    });
    const rt = newRuntime().register(wf);
    const admin = new WorkflowAdminService({ store, runtime: rt });
    const handle = await rt.start(wf, undefined, { runId: 'slow-1' });
    await expect(handle.result()).rejects.toMatchObject({ code: 'WORKFLOW_RUN_FAILED' });
    const detail = await admin.show('slow-1');
    expect(detail.steps[0]!.attemptHistory.map((a) => [a.outcome, a.effect, a.errorCode])).toEqual([
      ['timeout', 'unknown', 'WORKFLOW_STEP_TIMEOUT'],
      ['timeout', 'unknown', 'WORKFLOW_STEP_TIMEOUT'],
    ]);
    // The request may have landed: an edited resume under a new key is refused.
    await expect(admin.resume('slow-1', { amount: 6 })).rejects.toMatchObject({
      code: 'WORKFLOW_RESUME_UNSAFE',
    });
    expect((await admin.show('slow-1')).status).toBe('failed');
  });

  it.skipIf(skip)('a replay with a different step sequence fails with WORKFLOW_NONDETERMINISM', async () => {
    const hold = gate();
    const v1 = defineWorkflow({
      name: 'credit-hold',
      version: 1,
      run: async (ctx) => {
        await ctx.step('check-credit', async () => 'ok');
        await ctx.step('place-hold', () => hold.promise);
      },
    });
    const first = newRuntime().register(v1);
    await first.start(v1, undefined, { runId: 'hold-1' });
    await until(async () => (await new WorkflowAdminService({ store }).show('hold-1')).steps.length === 1);
    await first.shutdown({ drainMs: 0 });
    // Same name and version, different code: the deployment changed a workflow in place.
    const changed = defineWorkflow({
      name: 'credit-hold',
      version: 1,
      run: async (ctx) => {
        await ctx.step('notify-customer', async () => 'sent');
        await ctx.step('place-hold', async () => 'held');
      },
    });
    const second = newRuntime().register(changed);
    await second.launch();
    await expect(second.result('hold-1')).rejects.toMatchObject({
      code: 'WORKFLOW_RUN_FAILED',
      errorCode: 'WORKFLOW_NONDETERMINISM',
    });
    const run = await new WorkflowAdminService({ store }).show('hold-1');
    expect(run.error).toMatchObject({ code: 'WORKFLOW_NONDETERMINISM' });
    expect(run.error!.message).toContain('"check-credit"');
  });

  it.skipIf(skip)('a replay that skips journaled steps fails with WORKFLOW_NONDETERMINISM', async () => {
    const hold = gate();
    const v1 = defineWorkflow({
      name: 'dispute',
      version: 1,
      run: async (ctx) => {
        await ctx.step('open-case', async () => 'RT-1');
        await ctx.step('wait', () => hold.promise);
        return 'done';
      },
    });
    const first = newRuntime().register(v1);
    await first.start(v1, undefined, { runId: 'dispute-1' });
    await until(async () => (await new WorkflowAdminService({ store }).show('dispute-1')).steps.length === 1);
    await first.shutdown({ drainMs: 0 });
    const changed = defineWorkflow({ name: 'dispute', version: 1, run: async () => 'nothing to do' });
    const second = newRuntime().register(changed);
    await second.launch();
    await expect(second.result('dispute-1')).rejects.toMatchObject({ errorCode: 'WORKFLOW_NONDETERMINISM' });
  });

  it.skipIf(skip)('runs stay on the version they started with', async () => {
    const hold = gate();
    const seen: string[] = [];
    const v1 = defineWorkflow({
      name: 'returns',
      version: 1,
      run: async (ctx) => {
        await ctx.step('authorize', async () => seen.push('v1:authorize'));
        await ctx.step('refund', async () => {
          seen.push('v1:refund');
          await hold.promise;
        });
        return 'v1';
      },
    });
    const v2 = defineWorkflow({
      name: 'returns',
      version: 2,
      run: async (ctx) => {
        await ctx.step('inspect', async () => seen.push('v2:inspect'));
        return 'v2';
      },
    });
    const first = newRuntime().register(v1);
    await first.start(v1, undefined, { runId: 'ret-1' });
    await until(() => seen.includes('v1:refund'));
    await first.shutdown({ drainMs: 0 });
    hold.open();
    // The new deployment carries both versions; new runs start on v2, the run in flight stays on v1.
    const second = newRuntime().register(v1).register(v2);
    await second.launch();
    expect(await second.result('ret-1')).toBe('v1');
    expect(await (await second.start('returns', undefined, { runId: 'ret-2' })).result()).toBe('v2');
    const runs = (await new WorkflowAdminService({ store }).list({ workflowName: 'returns' })).runs;
    expect(Object.fromEntries(runs.map((r) => [r.runId, r.workflowVersion]))).toEqual({
      'ret-1': 1,
      'ret-2': 2,
    });
  });

  it.skipIf(skip)(
    'a run whose version is not registered waits, visibly, instead of running other code',
    async () => {
      const hold = gate();
      const v1 = defineWorkflow({
        name: 'legacy',
        version: 1,
        run: async (ctx) => ctx.step('wait', () => hold.promise),
      });
      const first = newRuntime().register(v1);
      await first.start(v1, undefined, { runId: 'legacy-1' });
      await until(
        async () =>
          (await store.db<{ wf_runs: { run_id: string } }>().selectFrom('wf_runs').select('run_id').execute())
            .length === 1,
      );
      await first.shutdown({ drainMs: 0 });
      const v2 = defineWorkflow({ name: 'legacy', version: 2, run: async () => 'v2' });
      const second = newRuntime().register(v2);
      const missing: string[] = [];
      second.events.on('run:version-missing', (e) => missing.push(`${e.runId}@${e.workflowVersion}`));
      await second.launch();
      expect(missing).toEqual(['legacy-1@1']);
      expect((await new WorkflowAdminService({ store }).show('legacy-1')).status).toBe('running');
    },
  );

  it.skipIf(skip)(
    'an operator retry runs the failed step again with the same key, not the steps before it',
    async () => {
      const calls: string[] = [];
      let erpUp = false;
      const wf = defineWorkflow({
        name: 'invoice',
        version: 1,
        run: async (ctx) => {
          await ctx.step('fetch-order', async (s) => calls.push(`fetch ${s.idempotencyKey}`));
          return ctx.step(
            'post-invoice',
            async (s) => {
              calls.push(`post ${s.idempotencyKey} #${s.attempt}`);
              if (!erpUp) throw new Error('ERP down');
              return 'INV-9';
            },
            { retry: { maxAttempts: 1 } },
          );
        },
      });
      const rt = newRuntime().register(wf);
      const admin = new WorkflowAdminService({ store, runtime: rt });
      const handle = await rt.start(wf, undefined, { runId: 'inv-1' });
      await expect(handle.result()).rejects.toMatchObject({ code: 'WORKFLOW_RUN_FAILED' });
      erpUp = true;
      expect((await admin.retry('inv-1')).status).toBe('pending');
      expect(await rt.result('inv-1')).toBe('INV-9');
      expect(calls).toEqual(['fetch inv-1:0', 'post inv-1:1 #1', 'post inv-1:1 #2']);
      await expect(admin.retry('inv-1')).rejects.toMatchObject({ code: 'WORKFLOW_RUN_STATE' });
    },
  );

  it.skipIf(skip)('an edited resume uses a new idempotency key, never the first one', async () => {
    const keys: string[] = [];
    const wf = defineWorkflow({
      name: 'address-fix',
      version: 1,
      run: async (ctx, input: { zip: string }) =>
        ctx.step(
          'update-address',
          async (s) => {
            keys.push(`${s.idempotencyKey} ${s.input.zip}`);
            if (s.input.zip.length !== 5)
              throw markNotApplied(new CrossdockError(TargetRejectedDef, 'invalid zip'));
            return `saved ${s.input.zip}`;
          },
          { input: { zip: input.zip } },
        ),
    });
    const rt = newRuntime().register(wf);
    const admin = new WorkflowAdminService({ store, runtime: rt });
    const handle = await rt.start(wf, { zip: '123' }, { runId: 'addr-1' });
    await expect(handle.result()).rejects.toMatchObject({ code: 'WORKFLOW_RUN_FAILED' });
    const failed = await admin.show('addr-1');
    expect(failed.steps[0]!.attemptHistory.map((a) => [a.effect, a.idempotencyKey])).toEqual([
      ['none', 'addr-1:0'],
    ]);
    await admin.resume('addr-1', { zip: '1234' });
    await expect(rt.result('addr-1')).rejects.toMatchObject({ code: 'WORKFLOW_RUN_FAILED' });
    await admin.resume('addr-1', { zip: '12345' });
    expect(await rt.result('addr-1')).toBe('saved 12345');
    expect(keys).toEqual(['addr-1:0 123', 'addr-1:0:e1 1234', 'addr-1:0:e2 12345']);
    const done = await admin.show('addr-1');
    expect(done.steps[0]).toMatchObject({
      status: 'completed',
      idempotencyKey: 'addr-1:0:e2',
      input: { zip: '12345' },
    });
  });

  it.skipIf(skip)('an edited resume is refused when an attempt may have had an effect', async () => {
    const wf = defineWorkflow({
      name: 'charge',
      version: 1,
      run: async (ctx) =>
        ctx.step(
          'charge-card',
          async () => {
            throw new Error('socket hang up');
          },
          { input: { cents: 100 }, retry: { maxAttempts: 1 } },
        ),
    });
    const noInput = defineWorkflow({
      name: 'no-input',
      version: 1,
      run: async (ctx) =>
        ctx.step(
          'x',
          async () => {
            throw markNotApplied(new Error('rejected'));
          },
          { retry: { maxAttempts: 1 } },
        ),
    });
    const rt = newRuntime().register(wf).register(noInput);
    const admin = new WorkflowAdminService({ store, runtime: rt });
    await expect((await rt.start(wf, undefined, { runId: 'charge-1' })).result()).rejects.toBeDefined();
    await expect(admin.resume('charge-1', { cents: 90 })).rejects.toMatchObject({
      code: 'WORKFLOW_RESUME_UNSAFE',
      stepId: 0,
      attempt: 1,
    });
    await expect((await rt.start(noInput, undefined, { runId: 'ni-1' })).result()).rejects.toBeDefined();
    await expect(admin.resume('ni-1', {})).rejects.toMatchObject({ code: 'WORKFLOW_RESUME_NOT_APPLICABLE' });
  });

  it.skipIf(skip)('cancel stops a running run at once and ends it cancelled', async () => {
    const started = gate();
    let after = false;
    const wf = defineWorkflow({
      name: 'cancellable',
      version: 1,
      run: async (ctx) => {
        await ctx.step('wait-for-carrier', (s) => {
          started.open();
          return new Promise((_, reject) =>
            s.signal.addEventListener('abort', () => reject(new Error('aborted'))),
          );
        });
        await ctx.step('after', async () => (after = true));
      },
    });
    const rt = newRuntime().register(wf);
    const admin = new WorkflowAdminService({ store, runtime: rt });
    const handle = await rt.start(wf, undefined, { runId: 'c-1' });
    await started.promise;
    expect((await admin.cancel('c-1')).status).toBe('cancelled');
    await expect(handle.result()).rejects.toMatchObject({ code: 'WORKFLOW_CANCELLED' });
    expect(after).toBe(false);
    await expect(admin.cancel('c-1')).rejects.toMatchObject({ code: 'WORKFLOW_RUN_STATE' });
    await expect(admin.retry('c-1')).rejects.toMatchObject({ code: 'WORKFLOW_RUN_STATE' });
  });

  it.skipIf(skip)('a worker that lost its lease writes nothing more for the run', async () => {
    const proceed = gate();
    const wrote: string[] = [];
    const wf = defineWorkflow({
      name: 'fenced',
      version: 1,
      run: async (ctx) => {
        await ctx.step('one', async () => {
          wrote.push(`one by ${ctx.runId}`);
          await proceed.promise;
          return 1;
        });
        return 'done';
      },
    });
    const slow = newRuntime({ executorId: 'paused-worker', leaseMs: 60_000 }).register(wf);
    const lost: string[] = [];
    slow.events.on('run:lease-lost', (e) => lost.push(e.runId));
    await slow.start(wf, undefined, { runId: 'f-1' });
    await until(() => wrote.length === 1);
    // Simulate the lease expiring while the worker is paused: another worker claims the run.
    await store
      .db<{ wf_runs: { lease_expires_at: number; run_id: string } }>()
      .updateTable('wf_runs')
      .set({ lease_expires_at: 0 })
      .where('run_id', '=', 'f-1')
      .execute();
    const other = newRuntime({ executorId: 'healthy-worker' }).register(wf);
    expect(await other.recoverNow()).toBe(1);
    proceed.open();
    expect(await other.result('f-1')).toBe('done');
    await until(() => lost.length === 1);
    const detail = await new WorkflowAdminService({ store }).show('f-1');
    expect(detail.steps).toHaveLength(1);
    expect(detail.status).toBe('completed');
  });

  it.skipIf(skip)(
    'heartbeats extend only runs executing here; an own run left behind is taken back when its lease expires',
    async () => {
      const hold = gate();
      const wf = defineWorkflow({
        name: 'hold',
        version: 1,
        run: async (ctx) => ctx.step('wait', () => hold.promise),
      });
      const leaseOf = async (runId: string) =>
        Number(
          (
            await store
              .db<WorkflowTables>()
              .selectFrom('wf_runs')
              .select('lease_expires_at')
              .where('run_id', '=', runId)
              .executeTakeFirstOrThrow()
          ).lease_expires_at,
        );
      // A runtime with executor id `w` stopped executing `left-1` without ending it.
      const gone = newRuntime({ executorId: 'w' }).register(wf);
      await gone.start(wf, undefined, { runId: 'left-1' });
      await gone.shutdown({ drainMs: 0 });
      const leftLease = await leaseOf('left-1');
      // Another runtime with the same id executes `here-1` (no start-up pass: it is not launched).
      const rt = newRuntime({ executorId: 'w' }).register(wf);
      await rt.start(wf, undefined, { runId: 'here-1' });
      expect(await rt.recoverNow()).toBe(0);
      await rt.journal.heartbeat('w', leftLease + 60_000, ['here-1']);
      expect(await leaseOf('here-1')).toBe(leftLease + 60_000);
      expect(await leaseOf('left-1')).toBe(leftLease);
      await store
        .db<WorkflowTables>()
        .updateTable('wf_runs')
        .set({ lease_expires_at: 0 })
        .where('run_id', '=', 'left-1')
        .execute();
      expect(await rt.recoverNow()).toBe(1);
      hold.open();
      expect(await rt.result('left-1')).toBeUndefined();
      expect(await rt.result('here-1')).toBeUndefined();
    },
  );

  it.skipIf(skip)('lists runs by status, name, business key, tenant and time', async () => {
    const wf = defineWorkflow({ name: 'order-visibility', version: 1, run: async () => 'ok' });
    const other = defineWorkflow({ name: 'other', version: 1, run: async () => 'ok' });
    let clock = Date.parse('2026-11-27T10:00:00Z');
    const rt = newRuntime({ now: () => clock })
      .register(wf)
      .register(other);
    for (const [i, tenant] of ['acme', 'acme', 'globex'].entries()) {
      clock += 60_000;
      await (
        await rt.start(wf, undefined, {
          runId: `ov-${i}`,
          tenantId: tenant,
          businessKeys: { order: `SO-${i}`, case: 'RT-1' },
        })
      ).result();
    }
    clock += 60_000;
    await (await rt.start(other, undefined, { runId: 'o-1', tenantId: 'acme' })).result();
    const admin = new WorkflowAdminService({ store });
    const ids = async (q: Parameters<typeof admin.list>[0], scope?: readonly string[]) =>
      (await admin.list(q, scope)).runs.map((r) => r.runId);
    expect(await ids({ businessKey: { name: 'order', value: 'SO-1' } })).toEqual(['ov-1']);
    expect(await ids({ businessKey: { name: 'case', value: 'RT-1' } })).toEqual(['ov-2', 'ov-1', 'ov-0']);
    expect(await ids({ tenantId: 'acme' })).toEqual(['o-1', 'ov-1', 'ov-0']);
    expect(await ids({ workflowName: 'order-visibility', status: 'completed' }, ['acme'])).toEqual([
      'ov-1',
      'ov-0',
    ]);
    expect(
      await ids({
        createdFrom: Date.parse('2026-11-27T10:02:00Z'),
        createdTo: Date.parse('2026-11-27T10:04:00Z'),
      }),
    ).toEqual(['ov-2', 'ov-1']);
    expect(await ids({ status: 'failed' })).toEqual([]);
    const page1 = await admin.list({ limit: 2 });
    const page2 = await admin.list({ limit: 2, cursor: page1.nextCursor! });
    expect([...page1.runs, ...page2.runs].map((r) => r.runId)).toEqual(['o-1', 'ov-2', 'ov-1', 'ov-0']);
    expect(page2.nextCursor).toBeNull();
    await expect(admin.show('ov-2', ['acme'])).rejects.toMatchObject({ code: 'WORKFLOW_RUN_NOT_FOUND' });
    const shown = await admin.show('ov-0');
    expect(shown).toMatchObject({
      status: 'completed',
      output: 'ok',
      businessKeys: { order: 'SO-0', case: 'RT-1' },
    });
  });
});
