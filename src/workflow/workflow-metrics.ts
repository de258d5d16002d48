// Prometheus metrics of the workflow runtime, fed by its typed events (runs started/completed/failed,
// step latency, retries, takeovers, budget waits) and, at scrape time, by the store (queue depth and
// lag, timers due) and the runtime (leases held). Registered on the registry the composition root
// gives (never the global one).
import { Counter, Gauge, Histogram } from 'prom-client';
import type { MetricsRegistry } from '../telemetry/index.ts';
import type { WorkflowEvents } from './workflow-events.ts';

/** What the scrape-time gauges read; the runtime provides it (`WorkflowRuntime.stats`). */
export interface WorkflowStatsSource {
  stats(): Promise<WorkflowStats>;
}

export interface WorkflowStats {
  /** Runs executing in this process: each holds a lease. */
  readonly leasesHeld: number;
  /** Parked runs in the store, and those of them due now (not yet resumed by a poll). */
  readonly waiting: number;
  readonly timersDue: number;
  /** Every queue registered here or holding pending runs: pending runs and the age of the oldest, in ms. */
  readonly queues: readonly { readonly queue: string; readonly depth: number; readonly lagMs: number }[];
}

/**
 * Subscribes metrics to `events`, and with `source` adds the gauges read at scrape time; returns a
 * function that unsubscribes the event metrics.
 */
export function registerWorkflowMetrics(
  events: WorkflowEvents,
  registry: MetricsRegistry,
  source?: WorkflowStatsSource,
): () => void {
  const labelNames = ['workflow'] as const;
  const runsStarted = new Counter({
    name: 'crossdock_workflow_runs_started_total',
    help: 'Workflow runs started (first start, not replays)',
    labelNames,
    registers: [registry],
  });
  const runsResumed = new Counter({
    name: 'crossdock_workflow_runs_resumed_total',
    help: 'Workflow runs resumed, by reason (recovery after a crash, operator action, pending)',
    labelNames: ['workflow', 'reason'],
    registers: [registry],
  });
  const runsCompleted = new Counter({
    name: 'crossdock_workflow_runs_completed_total',
    help: 'Workflow runs that completed',
    labelNames,
    registers: [registry],
  });
  const runsFailed = new Counter({
    name: 'crossdock_workflow_runs_failed_total',
    help: 'Workflow runs that ended failed',
    labelNames: ['workflow', 'code'],
    registers: [registry],
  });
  const runsCancelled = new Counter({
    name: 'crossdock_workflow_runs_cancelled_total',
    help: 'Workflow runs cancelled by an operator',
    labelNames,
    registers: [registry],
  });
  const versionMissing = new Counter({
    name: 'crossdock_workflow_runs_version_missing_total',
    help: 'Runs found waiting whose workflow version is not registered in this process',
    labelNames: ['workflow', 'version'],
    registers: [registry],
  });
  const runDuration = new Histogram({
    name: 'crossdock_workflow_run_duration_seconds',
    help: 'Time from a run starting (or resuming) in this process to its completion',
    labelNames,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers: [registry],
  });
  const stepDuration = new Histogram({
    name: 'crossdock_workflow_step_duration_seconds',
    help: 'Step latency from its first attempt to its journaled result, retries included',
    labelNames: ['workflow', 'step'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'crossdock_workflow_step_retries_total',
    help: 'Step retries scheduled, by error code',
    labelNames: ['workflow', 'step', 'code'],
    registers: [registry],
  });
  const stepsFailed = new Counter({
    name: 'crossdock_workflow_steps_failed_total',
    help: 'Steps that exhausted their retries or failed with a non-retryable error',
    labelNames: ['workflow', 'step', 'code'],
    registers: [registry],
  });
  const takeovers = new Counter({
    name: 'crossdock_workflow_lease_takeovers_total',
    help: 'Runs this process took over after their lease expired (their worker died or stalled)',
    labelNames,
    registers: [registry],
  });
  const parked = new Counter({
    name: 'crossdock_workflow_runs_parked_total',
    help: 'Runs that left memory to wait in the store (a long sleep or signal wait)',
    labelNames,
    registers: [registry],
  });
  const budgetWait = new Histogram({
    name: 'crossdock_rate_budget_wait_seconds',
    help: 'Time a call waited for a slot of its target system rate budget (every call, waits of 0 included)',
    labelNames: ['budget', 'priority'],
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [registry],
  });
  const budgetWaits = new Counter({
    name: 'crossdock_rate_budget_waits_total',
    help: 'Calls that had to wait for a slot of their target system rate budget',
    labelNames: ['budget', 'priority'],
    registers: [registry],
  });
  if (source) registerStatsGauges(source, registry);
  const offs = [
    events.on('lease:taken-over', (e) => takeovers.inc({ workflow: e.workflowName })),
    events.on('run:parked', (e) => parked.inc({ workflow: e.workflowName })),
    events.on('budget:waited', (e) => {
      budgetWait.observe({ budget: e.budget, priority: e.priority }, e.waitedMs / 1000);
      if (e.waitedMs >= 1) budgetWaits.inc({ budget: e.budget, priority: e.priority });
    }),
    events.on('run:started', (e) => runsStarted.inc({ workflow: e.workflowName })),
    events.on('run:resumed', (e) => runsResumed.inc({ workflow: e.workflowName, reason: e.reason })),
    events.on('run:completed', (e) => {
      runsCompleted.inc({ workflow: e.workflowName });
      runDuration.observe({ workflow: e.workflowName }, e.durationMs / 1000);
    }),
    events.on('run:failed', (e) => runsFailed.inc({ workflow: e.workflowName, code: e.error.code })),
    events.on('run:cancelled', (e) => runsCancelled.inc({ workflow: e.workflowName })),
    events.on('run:version-missing', (e) =>
      versionMissing.inc({ workflow: e.workflowName, version: String(e.workflowVersion) }),
    ),
    events.on('step:completed', (e) =>
      stepDuration.observe({ workflow: e.workflowName, step: e.stepName }, e.durationMs / 1000),
    ),
    events.on('step:retry-scheduled', (e) =>
      retries.inc({ workflow: e.workflowName, step: e.stepName, code: e.error.code }),
    ),
    events.on('step:failed', (e) =>
      stepsFailed.inc({ workflow: e.workflowName, step: e.stepName, code: e.error.code }),
    ),
  ];
  return () => {
    for (const off of offs) off();
  };
}

/**
 * Gauges computed when scraped: one read for all of them. A scrape starts every collect() at once, so
 * they share the read in flight; the next scrape reads afresh.
 */
function registerStatsGauges(source: WorkflowStatsSource, registry: MetricsRegistry): void {
  let pending: Promise<WorkflowStats> | undefined;
  const read = () => {
    pending ??= source.stats().finally(() => (pending = undefined));
    return pending;
  };
  new Gauge({
    name: 'crossdock_workflow_queue_depth',
    help: 'Runs waiting in a queue (pending)',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of (await read()).queues) this.set({ queue: q.queue }, q.depth);
    },
  });
  new Gauge({
    name: 'crossdock_workflow_queue_lag_seconds',
    help: 'Age of the oldest run waiting in a queue (0 when the queue is empty)',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of (await read()).queues) this.set({ queue: q.queue }, q.lagMs / 1000);
    },
  });
  new Gauge({
    name: 'crossdock_workflow_timers_due',
    help: 'Parked runs whose wake-up time has passed and that no poll has resumed yet',
    registers: [registry],
    async collect() {
      this.set((await read()).timersDue);
    },
  });
  new Gauge({
    name: 'crossdock_workflow_runs_waiting',
    help: 'Runs parked in the store until a timer or a signal',
    registers: [registry],
    async collect() {
      this.set((await read()).waiting);
    },
  });
  new Gauge({
    name: 'crossdock_workflow_leases_held',
    help: 'Runs executing in this process, each under a lease',
    registers: [registry],
    async collect() {
      this.set((await read()).leasesHeld);
    },
  });
}
