import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.ts';
import {
  defineWorkflow,
  runSaga,
  WorkflowAdminService,
  WorkflowRuntime,
  type SignalResult,
} from '../../src/workflow/index.ts';
import { dialects, freshDatabase, until, type TestDatabase } from './support.ts';

describe.each(dialects)('timers, signals, children and sagas on $dialect', ({ dialect, skip }) => {
  let db: TestDatabase;
  let store: Store;
  const runtimes: WorkflowRuntime[] = [];
  const newRuntime = (options: Partial<ConstructorParameters<typeof WorkflowRuntime>[0]> = {}) => {
    const rt = new WorkflowRuntime({
      store,
      pollIntervalMs: 20,
      resultPollMs: 10,
      signalPollMs: 20,
      ...options,
    });
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

  it.skipIf(skip)('a durable sleep sleeps only what is left after a restart', async () => {
    const wakes: number[] = [];
    const make = () =>
      defineWorkflow({
        name: 'reminder',
        version: 1,
        run: async (ctx) => {
          await ctx.sleep(300);
          await ctx.step('remind', async () => wakes.push(Date.now()));
          return 'reminded';
        },
      });
    const first = newRuntime().register(make());
    const started = Date.now();
    await first.start('reminder', undefined, { runId: 'sleep-1' });
    await until(async () => (await new WorkflowAdminService({ store }).show('sleep-1')).steps.length === 1);
    const wakeAt = (await new WorkflowAdminService({ store }).show('sleep-1')).steps[0]!.output as number;
    await first.shutdown({ drainMs: 0 });
    const second = newRuntime().register(make());
    await second.launch();
    expect(await second.result('sleep-1')).toBe('reminded');
    expect(wakes).toHaveLength(1);
    // The deadline journaled before the restart held: not earlier, and not a fresh 300 ms after restart.
    expect(wakes[0]).toBeGreaterThanOrEqual(wakeAt);
    expect(wakeAt - started).toBeGreaterThanOrEqual(300);
  });

  it.skipIf(skip)('a signal sent before the wait is kept, and waits time out', async () => {
    const wf = defineWorkflow({
      name: 'approval',
      version: 1,
      run: async (ctx) => {
        await ctx.step('prepare', async () => 'ok');
        const first = await ctx.waitForSignal<{ by: string }>('approved', 5_000);
        const second = await ctx.waitForSignal<{ by: string }>('approved', 50);
        return { first, second };
      },
    });
    const rt = newRuntime().register(wf);
    const handle = await rt.start(wf, undefined, { runId: 'appr-1' });
    // Sent possibly before the workflow reaches its wait: kept until consumed.
    expect(await rt.sendSignal('appr-1', 'approved', { by: 'supervisor' }, { signalId: 's-1' })).toBe(true);
    expect(await rt.sendSignal('appr-1', 'approved', { by: 'supervisor' }, { signalId: 's-1' })).toBe(false);
    const out = (await handle.result()) as {
      first: SignalResult<{ by: string }>;
      second: SignalResult<unknown>;
    };
    expect(out.first).toEqual({ received: true, signalId: 's-1', payload: { by: 'supervisor' } });
    expect(out.second).toEqual({ received: false });
    await expect(rt.sendSignal('nope', 'approved')).rejects.toMatchObject({ code: 'WORKFLOW_RUN_NOT_FOUND' });
  });

  it.skipIf(skip)('a signal sent from another process reaches a waiting run', async () => {
    let after = 0;
    const make = () =>
      defineWorkflow({
        name: 'pod',
        version: 1,
        run: async (ctx) => {
          const got = await ctx.waitForSignal<string>('delivered', 10_000);
          await ctx.step('close-case', async () => after++);
          return got.received ? got.payload : 'none';
        },
      });
    const rt = newRuntime({ executorId: 'a' }).register(make());
    await rt.start('pod', undefined, { runId: 'pod-1' });
    const sender = newRuntime({ executorId: 'sender' });
    await until(async () => (await new WorkflowAdminService({ store }).show('pod-1')).steps.length === 1);
    await sender.sendSignal('pod-1', 'delivered', 'signed by J. Doe');
    expect(await rt.result('pod-1')).toBe('signed by J. Doe');
    expect(after).toBe(1);
  });

  it.skipIf(skip)('a child run is started once and its result returned to the parent', async () => {
    let childRuns = 0;
    const child = defineWorkflow({
      name: 'credit-check',
      version: 1,
      run: async (ctx, input: { customer: string }) => {
        childRuns++;
        return ctx.step('score', async () => `${input.customer}:ok`);
      },
    });
    const parent = defineWorkflow({
      name: 'order-release',
      version: 1,
      run: async (ctx) => {
        const a = await ctx.runChild(child, { customer: 'C1' });
        const id = await ctx.startChild(child, { customer: 'C2' }, { runId: 'explicit-child' });
        const b = await ctx.childResult<string>(id);
        return [a, b];
      },
    });
    const rt = newRuntime().register(child).register(parent);
    expect(await (await rt.start(parent, undefined, { runId: 'rel-1' })).result()).toEqual([
      'C1:ok',
      'C2:ok',
    ]);
    expect(childRuns).toBe(2);
    const admin = new WorkflowAdminService({ store });
    const children = (await admin.list({ businessKey: { name: 'parentRun', value: 'rel-1' } })).runs;
    expect(children.map((r) => r.runId).sort()).toEqual(['explicit-child', 'rel-1:0']);
  });

  it.skipIf(skip)('a saga compensates completed steps in reverse order when a later step fails', async () => {
    const log: string[] = [];
    const wf = defineWorkflow({
      name: 'replacement-saga',
      version: 1,
      run: async (ctx) =>
        runSaga(ctx, async (saga) => {
          await saga.step('reserve-stock', async () => log.push('reserve') && 'R1', {
            compensate: async (r) => log.push(`release ${r}`),
          });
          await saga.step('create-shipment', async () => log.push('ship') && 'S1', {
            compensate: async (s) => log.push(`cancel ${s}`),
          });
          await saga.step(
            'charge',
            async () => {
              throw new Error('card declined');
            },
            { retry: { maxAttempts: 1 } },
          );
        }),
    });
    const rt = newRuntime().register(wf);
    await expect((await rt.start(wf, undefined, { runId: 'saga-1' })).result()).rejects.toMatchObject({
      errorCode: 'WORKFLOW_STEP_FAILED',
    });
    expect(log).toEqual(['reserve', 'ship', 'cancel S1', 'release R1']);
    const steps = (await new WorkflowAdminService({ store }).show('saga-1')).steps.map(
      (s) => `${s.name}:${s.status}`,
    );
    expect(steps).toEqual([
      'reserve-stock:completed',
      'create-shipment:completed',
      'charge:failed',
      'compensate:create-shipment:completed',
      'compensate:reserve-stock:completed',
    ]);
  });
});
