import { describe, expect, it } from 'vitest';
import { defineWorkflow } from '../../src/workflow/index.ts';
import { dialects, useWorkflowStore, gate, until } from './support.ts';

describe.each(dialects)('queues on $dialect', ({ dialect, skip }) => {
  const t = useWorkflowStore(dialect, skip);

  function harness() {
    const release = gate();
    let inFlight = 0;
    let maxInFlight = 0;
    const order: string[] = [];
    const wf = defineWorkflow({
      name: 'sync-item',
      version: 1,
      run: async (ctx, input: { label: string }) => {
        await ctx.step('push', async () => {
          order.push(input.label);
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await release.promise;
          inFlight--;
        });
        return input.label;
      },
    });
    const runtime = (executorId: string, concurrency: number, workerConcurrency?: number) => {
      return t
        .runtime({ executorId, pollIntervalMs: 20, resultPollMs: 10 })
        .register(wf)
        .registerQueue({ name: 'erp-writes', concurrency, workerConcurrency });
    };
    return { wf, release, order, runtime, stats: () => ({ inFlight, maxInFlight }) };
  }

  it.skipIf(skip)('runs queued work by priority, never above the queue concurrency', async () => {
    const h = harness();
    const producer = h.runtime('producer', 2);
    const labels = ['low-1', 'low-2', 'high-1', 'mid-1', 'high-2', 'low-3'];
    const priority = (l: string) => (l.startsWith('high') ? 10 : l.startsWith('mid') ? 5 : 0);
    const handles = [];
    for (const label of labels) {
      handles.push(
        await producer.enqueue(h.wf, { label }, { queue: 'erp-writes', priority: priority(label) }),
      );
    }
    // Nothing runs before a worker takes the queue.
    expect(h.order).toEqual([]);
    const worker = h.runtime('worker', 2);
    await worker.launch();
    await until(() => h.order.length === 2);
    expect(h.order).toEqual(['high-1', 'high-2']);
    h.release.open();
    expect(await Promise.all(handles.map((x) => x.result()))).toEqual(labels);
    expect(h.order).toEqual(['high-1', 'high-2', 'mid-1', 'low-1', 'low-2', 'low-3']);
    expect(h.stats().maxInFlight).toBe(2);
  });

  it.skipIf(skip)('the queue concurrency holds across workers', async () => {
    const h = harness();
    const a = h.runtime('worker-a', 3);
    const b = h.runtime('worker-b', 3);
    const handles = [];
    for (let i = 0; i < 9; i++)
      handles.push(await a.enqueue(h.wf, { label: `item-${i}` }, { queue: 'erp-writes' }));
    await Promise.all([a.launch(), b.launch()]);
    await until(() => h.stats().inFlight === 3);
    // Give both workers several polls to overshoot if they could.
    await new Promise((r) => setTimeout(r, 150));
    expect(h.stats().inFlight).toBe(3);
    h.release.open();
    await Promise.all(handles.map((x) => x.result()));
    expect(h.stats().maxInFlight).toBe(3);
    expect(new Set(h.order).size).toBe(9);
  });

  it.skipIf(skip)('enqueueing twice with the same run id gives one run', async () => {
    const h = harness();
    h.release.open();
    const worker = h.runtime('worker', 5);
    await worker.launch();
    const first = await worker.enqueue(h.wf, { label: 'once' }, { queue: 'erp-writes', runId: 'q-1' });
    const second = await worker.enqueue(h.wf, { label: 'once' }, { queue: 'erp-writes', runId: 'q-1' });
    expect([first.created, second.created]).toEqual([true, false]);
    expect(await second.result()).toBe('once');
    expect(h.order).toEqual(['once']);
  });
});
