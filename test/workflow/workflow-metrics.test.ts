// The operational metrics of the runtime after a scenario: queue depth and lag, parked runs and timers
// due, leases held and taken over, and rate budget waits.
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry, type MetricsRegistry } from '../../src/telemetry/index.ts';
import {
  defineWorkflow,
  registerWorkflowMetrics,
  type WorkflowRuntimeOptions,
  type WorkflowTables,
} from '../../src/workflow/index.ts';
import { dialects, useWorkflowStore, gate, until } from './support.ts';

const HOUR = 3_600_000;

/** The value of one sample in Prometheus text, e.g. `metric{label="x"}`; undefined when absent. */
async function sample(registry: MetricsRegistry, series: string): Promise<number | undefined> {
  const text = await registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.each(dialects)('workflow metrics on $dialect', ({ dialect, skip }) => {
  const t = useWorkflowStore(dialect, skip);
  const runtime = (options?: Partial<WorkflowRuntimeOptions>) => t.runtime(options);

  it.skipIf(skip)('report queue depth and lag, timers due, and leases held and taken over', async () => {
    let clock = Date.now();
    const rt = runtime({ executorId: 'healthy', now: () => clock });
    const registry = createMetricsRegistry({ defaultMetrics: false });
    registerWorkflowMetrics(rt.events, registry, rt);
    const hold = gate();
    const push = defineWorkflow({ name: 'push', version: 1, run: async () => 'pushed' });
    const nap = defineWorkflow({ name: 'nap', version: 1, run: (ctx) => ctx.sleep(HOUR) });
    const hang = defineWorkflow({
      name: 'hang',
      version: 1,
      run: async (ctx) => ctx.step('wait', () => hold.promise),
    });
    rt.register(push).register(nap).register(hang);
    rt.registerQueue({ name: 'erp-writes', concurrency: 2 }).registerQueue({ name: 'idle' });

    for (let i = 0; i < 3; i++) await rt.enqueue(push, undefined, { queue: 'erp-writes' });
    clock += 5000;
    await rt.enqueue(push, undefined, { queue: 'erp-writes' });
    expect(await sample(registry, 'crossdock_workflow_queue_depth{queue="erp-writes"}')).toBe(4);
    expect(await sample(registry, 'crossdock_workflow_queue_lag_seconds{queue="erp-writes"}')).toBe(5);
    expect(await sample(registry, 'crossdock_workflow_queue_depth{queue="idle"}')).toBe(0);
    expect(await sample(registry, 'crossdock_workflow_queue_lag_seconds{queue="idle"}')).toBe(0);
    expect(await rt.dispatchQueues()).toBe(2);
    await until(
      async () => (await sample(registry, 'crossdock_workflow_queue_depth{queue="erp-writes"}')) === 2,
    );

    const napping = await rt.start(nap, undefined);
    await until(() => rt.activeRuns === 0);
    expect(await sample(registry, 'crossdock_workflow_runs_waiting')).toBe(1);
    expect(await sample(registry, 'crossdock_workflow_timers_due')).toBe(0);
    expect(await sample(registry, 'crossdock_workflow_runs_parked_total{workflow="nap"}')).toBe(1);
    clock += HOUR + 1;
    expect(await sample(registry, 'crossdock_workflow_timers_due')).toBe(1);

    // A worker died holding a run: its lease expires, this runtime takes the run over.
    const dead = runtime({ executorId: 'dead', now: () => clock }).register(hang);
    await dead.start(hang, undefined, { runId: 'hung-1' });
    await dead.shutdown({ drainMs: 0 });
    await t.store
      .db<WorkflowTables>()
      .updateTable('wf_runs')
      .set({ lease_expires_at: 0 })
      .where('run_id', '=', 'hung-1')
      .execute();
    // One poll: the due timer and the abandoned run.
    expect(await rt.recoverNow()).toBe(2);
    await rt.result(napping.runId);
    expect(await sample(registry, 'crossdock_workflow_timers_due')).toBe(0);
    expect(await sample(registry, 'crossdock_workflow_runs_waiting')).toBe(0);
    expect(await sample(registry, 'crossdock_workflow_lease_takeovers_total{workflow="hang"}')).toBe(1);
    expect(await sample(registry, 'crossdock_workflow_leases_held')).toBe(1);
    hold.open();
    await rt.result('hung-1');
    expect(await sample(registry, 'crossdock_workflow_leases_held')).toBe(0);
  });

  it.skipIf(skip)('report rate budget waits per budget and priority', async () => {
    const rt = runtime();
    const registry = createMetricsRegistry({ defaultMetrics: false });
    registerWorkflowMetrics(rt.events, registry, rt);
    const erp = await rt.budgets.define({ name: 'erp', ratePerSecond: 10 });
    for (let i = 0; i < 3; i++) (await erp.acquire('low'))();
    const count = await sample(
      registry,
      'crossdock_rate_budget_wait_seconds_count{budget="erp",priority="low"}',
    );
    const sum = await sample(registry, 'crossdock_rate_budget_wait_seconds_sum{budget="erp",priority="low"}');
    const waited = await sample(registry, 'crossdock_rate_budget_waits_total{budget="erp",priority="low"}');
    expect(count).toBe(3);
    // The second and third calls waited for their slots, 100 ms apart.
    expect(sum).toBeGreaterThanOrEqual(0.199);
    expect(waited).toBeGreaterThanOrEqual(2);
    expect(
      await sample(registry, 'crossdock_rate_budget_wait_seconds_count{budget="erp",priority="high"}'),
    ).toBeUndefined();
  });
});
