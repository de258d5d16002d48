// Failures of the durable workflow runtime: replay that does not match the journal, steps that exhausted
// their retries, lost leases, operator actions refused because the run is in the wrong state.
import { CrossdockError, defineError, type CrossdockErrorOptions } from '../errors/index.ts';

export const WorkflowNondeterminismDef = defineError({
  code: 'WORKFLOW_NONDETERMINISM',
  status: 500,
  retryable: false,
  title: 'Workflow replay does not match its journal',
  description:
    'On replay a workflow called a different step (by name) at a position where its journal recorded another one, or finished without calling steps its journal holds. The workflow code changed in a way that is not compatible with runs already in flight, or it branches on something that is not journaled (time, randomness, a read outside a step). The run ends `failed` instead of replaying wrongly. Keep the old workflow version registered for runs in flight (runs are pinned to the version they started on), or move the non-deterministic read into a step.',
});
export class WorkflowNondeterminismError extends CrossdockError {
  constructor(
    readonly runId: string,
    readonly stepId: number,
    readonly journaledStep: string | null,
    readonly calledStep: string | null,
  ) {
    super(
      WorkflowNondeterminismDef,
      calledStep === null
        ? `run ${runId} finished without calling step ${stepId} (${journaledStep}) recorded in its journal`
        : `run ${runId} called step ${stepId} "${calledStep}" but its journal recorded "${journaledStep}" there`,
      { runId, stepId, journaledStep, calledStep },
    );
  }
}

export const WorkflowStepFailedDef = defineError({
  code: 'WORKFLOW_STEP_FAILED',
  status: 502,
  retryable: false,
  title: 'A workflow step failed',
  description:
    'A step exhausted its retry policy or failed with a non-retryable error. `causeCode` and `causeMessage` carry the last error; the run journal (`crossdock runs show <id>`) holds every attempt. Workflow code may catch this to compensate; otherwise the run ends `failed` and an operator can retry it from the failed step, resume it with edited step input, or cancel it.',
});
export class WorkflowStepFailedError extends CrossdockError {
  constructor(
    readonly runId: string,
    readonly stepId: number,
    readonly stepName: string,
    readonly attempts: number,
    readonly causeCode: string,
    readonly causeMessage: string,
    options: CrossdockErrorOptions = {},
  ) {
    super(
      WorkflowStepFailedDef,
      `step ${stepId} "${stepName}" of run ${runId} failed after ${attempts} attempt(s): ${causeCode}: ${causeMessage}`,
      { runId, stepId, stepName, attempts, causeCode, causeMessage },
      options,
    );
  }
}

export const WorkflowStepTimeoutDef = defineError({
  code: 'WORKFLOW_STEP_TIMEOUT',
  status: 504,
  retryable: true,
  title: 'A workflow step attempt timed out',
  description:
    'One attempt of a step did not finish within its `timeoutMs`. Its effect on the target system is unknown (the request may have landed), so the retry reuses the same idempotency key, and an edited resume of this step is refused.',
});
export class WorkflowStepTimeoutError extends CrossdockError {
  constructor(
    readonly stepName: string,
    readonly timeoutMs: number,
  ) {
    super(WorkflowStepTimeoutDef, `step "${stepName}" did not finish within ${timeoutMs} ms`, {
      stepName,
      timeoutMs,
    });
  }
}

export const WorkflowNotRegisteredDef = defineError({
  code: 'WORKFLOW_NOT_REGISTERED',
  status: 400,
  retryable: false,
  title: 'Workflow is not registered',
  description:
    'No workflow with this name (and version, when one is given) is registered with the runtime. Register it with `runtime.register(definition)` before starting or recovering its runs.',
});
export class WorkflowNotRegisteredError extends CrossdockError {
  constructor(
    readonly workflowName: string,
    readonly workflowVersion?: number,
  ) {
    super(
      WorkflowNotRegisteredDef,
      workflowVersion === undefined
        ? `workflow "${workflowName}" is not registered`
        : `workflow "${workflowName}" version ${workflowVersion} is not registered`,
      { workflowName, workflowVersion },
    );
  }
}

export const WorkflowRunConflictDef = defineError({
  code: 'WORKFLOW_RUN_CONFLICT',
  status: 409,
  retryable: false,
  title: 'Run id already used by another workflow or tenant',
  description:
    'A run with this id exists but belongs to a different workflow or tenant. Starting twice with the same id gives one run only when the workflow and tenant match; pick another run id.',
});
export class WorkflowRunConflictError extends CrossdockError {
  constructor(
    readonly runId: string,
    readonly existingWorkflow: string,
  ) {
    super(WorkflowRunConflictDef, `run ${runId} already exists for workflow "${existingWorkflow}"`, {
      runId,
      existingWorkflow,
    });
  }
}

export const WorkflowRunNotFoundDef = defineError({
  code: 'WORKFLOW_RUN_NOT_FOUND',
  status: 404,
  retryable: false,
  title: 'Run not found',
  description: 'No workflow run with this id exists for the tenants the caller may see.',
});
export class WorkflowRunNotFoundError extends CrossdockError {
  constructor(readonly runId: string) {
    super(WorkflowRunNotFoundDef, `run ${runId} not found`, { runId });
  }
}

export const WorkflowRunStateDef = defineError({
  code: 'WORKFLOW_RUN_STATE',
  status: 409,
  retryable: false,
  title: 'Run is not in a state that allows this action',
  description:
    'Retry and resume apply to `failed` runs only; cancel applies to runs that are `pending`, `running` or `failed`. The response carries the run status.',
});
export class WorkflowRunStateError extends CrossdockError {
  constructor(
    readonly runId: string,
    readonly runStatus: string,
    readonly action: string,
  ) {
    super(WorkflowRunStateDef, `cannot ${action} run ${runId}: it is ${runStatus}`, {
      runId,
      runStatus,
      action,
    });
  }
}

export const WorkflowResumeUnsafeDef = defineError({
  code: 'WORKFLOW_RESUME_UNSAFE',
  status: 409,
  retryable: false,
  title: 'Edited resume refused: the failed step may have had an effect',
  description:
    'Resuming with edited step input sends the edited request under a new idempotency key, which is only safe when no earlier attempt of that step can have reached the target system. At least one attempt of this step ended in a way that leaves its effect unknown (a timeout, a crash mid-attempt, an error not marked as "not applied"). Check the target system, then use `retry` (same input, same key) or cancel the run.',
});
export class WorkflowResumeUnsafeError extends CrossdockError {
  constructor(
    readonly runId: string,
    readonly stepId: number,
    readonly attempt: number,
  ) {
    super(
      WorkflowResumeUnsafeDef,
      `run ${runId}: attempt ${attempt} of step ${stepId} may have had an effect; an edited resume would risk doing it twice`,
      { runId, stepId, attempt },
    );
  }
}

export const WorkflowResumeNotApplicableDef = defineError({
  code: 'WORKFLOW_RESUME_NOT_APPLICABLE',
  status: 409,
  retryable: false,
  title: 'Run has no failed step whose input can be edited',
  description:
    'Edited resume replaces the input of the step that failed. This run failed outside a step (the workflow code threw) or its failed step declares no `input`; use `retry` instead.',
});
export class WorkflowResumeNotApplicableError extends CrossdockError {
  constructor(
    readonly runId: string,
    reason: string,
  ) {
    super(WorkflowResumeNotApplicableDef, `run ${runId}: ${reason}`, { runId });
  }
}

export const WorkflowCancelledDef = defineError({
  code: 'WORKFLOW_CANCELLED',
  status: 409,
  retryable: false,
  title: 'Run was cancelled',
  description:
    'An operator cancelled the run. Steps already completed stay completed; no further step starts. Thrown into workflow code at its next step call and returned to callers waiting on the run result.',
});
export class WorkflowCancelledError extends CrossdockError {
  constructor(readonly runId: string) {
    super(WorkflowCancelledDef, `run ${runId} was cancelled`, { runId });
  }
}

export const WorkflowLeaseLostDef = defineError({
  code: 'WORKFLOW_LEASE_LOST',
  status: 409,
  retryable: false,
  title: 'This worker no longer owns the run',
  description:
    'A journal write was refused because the run lease moved to another worker (this one was paused or cut off longer than the lease) or the run left the `running` state. The worker stops executing the run and writes nothing more for it; the new owner continues from the journal.',
});
export class WorkflowLeaseLostError extends CrossdockError {
  constructor(
    readonly runId: string,
    readonly epoch: number,
  ) {
    super(WorkflowLeaseLostDef, `run ${runId}: lease epoch ${epoch} is no longer current`, { runId, epoch });
  }
}

export const WorkflowRunFailedDef = defineError({
  code: 'WORKFLOW_RUN_FAILED',
  status: 502,
  retryable: false,
  title: 'Workflow run failed',
  description:
    'Returned to a caller waiting on the result of a run that ended `failed`. `errorCode` and `errorMessage` repeat the recorded error; `crossdock runs show <id>` has the journal and attempt history.',
});
export class WorkflowRunFailedError extends CrossdockError {
  constructor(
    readonly runId: string,
    readonly errorCode: string,
    readonly errorMessage: string,
  ) {
    super(WorkflowRunFailedDef, `run ${runId} failed: ${errorCode}: ${errorMessage}`, {
      runId,
      errorCode,
      errorMessage,
    });
  }
}

export const WorkflowDefinitionInvalidDef = defineError({
  code: 'WORKFLOW_DEFINITION_INVALID',
  status: 500,
  retryable: false,
  title: 'Workflow definition is invalid',
  description:
    'A workflow was registered twice with the same name and version, with a version that is not a positive integer, or a step option is out of range (negative interval, `maxAttempts` below 1, jitter outside 0..1).',
});
export class WorkflowDefinitionInvalidError extends CrossdockError {
  constructor(reason: string) {
    super(WorkflowDefinitionInvalidDef, reason);
  }
}

export const WorkflowCompensationFailedDef = defineError({
  code: 'WORKFLOW_COMPENSATION_FAILED',
  status: 502,
  retryable: false,
  title: 'A saga compensation failed',
  description:
    'A workflow failed and undoing its completed steps did not fully succeed: at least one compensation step exhausted its retries. `failedCompensations` names them; the other compensations ran. The run ends `failed`; fix the target system by hand or retry the run, which replays the compensations that completed and runs the failed ones again.',
});
export class WorkflowCompensationFailedError extends CrossdockError {
  constructor(
    readonly runId: string,
    readonly failedCompensations: readonly string[],
    options: CrossdockErrorOptions = {},
  ) {
    super(
      WorkflowCompensationFailedDef,
      `run ${runId}: compensation failed for ${failedCompensations.join(', ')}`,
      { runId, failedCompensations },
      options,
    );
  }
}
