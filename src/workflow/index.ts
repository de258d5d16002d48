// Durable workflow runtime: journaled steps, replay, retries, recovery, leases, operators' controls.
export { defineWorkflow, markNotApplied, isNotApplied } from './workflow-definition.ts';
export type {
  WorkflowDefinition,
  WorkflowContext,
  StepContext,
  StepOptions,
  SignalResult,
  ChildOptions,
} from './workflow-definition.ts';
export { createSaga, runSaga } from './saga.ts';
export { RateBudgets, SystemBudget } from './rate-budgets.ts';
export { SingletonLocks } from './singleton-locks.ts';
export type { SingletonLease, SingletonLocksOptions } from './singleton-locks.ts';
export type { BudgetOptions, BudgetPermit, SystemBudgetOptions } from './rate-budgets.ts';
export type { Saga, SagaStepOptions } from './saga.ts';
export { DEFAULT_RETRY_POLICY, resolveRetryPolicy, retryDelayMs } from './retry-policy.ts';
export type { RetryPolicy, ResolvedRetryPolicy } from './retry-policy.ts';
export { WorkflowRuntime } from './workflow-runtime.ts';
export type {
  WorkflowRuntimeOptions,
  StartOptions,
  RunHandle,
  QueueOptions,
  EnqueueOptions,
} from './workflow-runtime.ts';
export { WorkflowEvents } from './workflow-events.ts';
export type {
  WorkflowEventMap,
  WorkflowEventName,
  WorkflowListener,
  AttemptSummary,
  AttemptOutcome,
  AttemptEffect,
  ErrorSummary,
} from './workflow-events.ts';
export { WorkflowJournal, RUN_STATUSES } from './workflow-journal.ts';
export type {
  RunStatus,
  StepStatus,
  RunRecord,
  StepRecord,
  AttemptRecord,
  WorkflowTables,
} from './workflow-journal.ts';
export { WorkflowAdminService, toRunSummary } from './workflow-admin-service.ts';
export type {
  RunsAdmin,
  RunListQuery,
  RunPage,
  RunSummary,
  RunDetail,
  StepView,
  TenantScope,
  RunRecordedError,
} from './workflow-admin-service.ts';
export { workflowAdminRoutes } from './workflow-admin-routes.ts';
export type { WorkflowAdminRoutesOptions } from './workflow-admin-routes.ts';
export { HttpRunsClient } from './http-runs-client.ts';
export type { HttpRunsClientOptions } from './http-runs-client.ts';
export { registerRunsCommands } from './cli.ts';
export type { RunsCommandsContext } from './cli.ts';
export { registerWorkflowMetrics } from './workflow-metrics.ts';
export type { WorkflowStats, WorkflowStatsSource } from './workflow-metrics.ts';
export { workflowMigrations } from './migrations.ts';
export {
  WorkflowNondeterminismError,
  WorkflowNondeterminismDef,
  WorkflowStepFailedError,
  WorkflowStepFailedDef,
  WorkflowStepTimeoutError,
  WorkflowStepTimeoutDef,
  WorkflowNotRegisteredError,
  WorkflowNotRegisteredDef,
  WorkflowRunConflictError,
  WorkflowRunConflictDef,
  WorkflowRunNotFoundError,
  WorkflowRunNotFoundDef,
  WorkflowRunStateError,
  WorkflowRunStateDef,
  WorkflowResumeUnsafeError,
  WorkflowResumeUnsafeDef,
  WorkflowResumeNotApplicableError,
  WorkflowResumeNotApplicableDef,
  WorkflowCancelledError,
  WorkflowCancelledDef,
  WorkflowLeaseLostError,
  WorkflowLeaseLostDef,
  WorkflowRunFailedError,
  WorkflowRunFailedDef,
  WorkflowDefinitionInvalidError,
  WorkflowDefinitionInvalidDef,
  WorkflowCompensationFailedError,
  WorkflowCompensationFailedDef,
} from './errors.ts';
