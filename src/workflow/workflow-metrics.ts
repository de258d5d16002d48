// Prometheus metrics of the workflow runtime, fed by its typed events: runs started/completed/failed,
// step latency, retries. Registered on the registry the composition root gives (never the global one).
import { Counter, Histogram } from 'prom-client';
import type { MetricsRegistry } from '../telemetry/index.ts';
import type { WorkflowEvents } from './workflow-events.ts';

/** Subscribes metrics to `events`; returns a function that unsubscribes them. */
export function registerWorkflowMetrics(events: WorkflowEvents, registry: MetricsRegistry): () => void {
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
  const offs = [
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
