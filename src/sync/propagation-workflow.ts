// The propagator as a durable workflow step: `sync.propagate` runs `Propagator.propagate` for one target
// in a journaled step, so a crash resumes it and a failed write is retried with backoff by the workflow
// runtime. Retrying is safe because the effect ledger looks an ambiguous write up before resending and
// the desired version is guarded; the step's result is journaled, so a replay never writes again.
import {
  defineWorkflow,
  type RetryPolicy,
  type WorkflowDefinition,
  type WorkflowRuntime,
} from '../workflow/index.ts';
import type { DesiredTarget, Propagator } from './desired-state.ts';

export interface PropagationOutput {
  readonly status: 'up-to-date' | 'written' | 'dead-lettered';
  readonly version: number;
}

export const PROPAGATION_WORKFLOW = 'sync.propagate';

/** The workflow definition; register it on the runtime once per process. */
export function propagationWorkflow(
  propagator: Propagator,
  /** Retry of a failed write (default: the runtime's, 3 attempts from 1 s, doubling). */
  retry?: RetryPolicy,
): WorkflowDefinition<DesiredTarget, PropagationOutput> {
  return defineWorkflow({
    name: PROPAGATION_WORKFLOW,
    version: 1,
    run: (ctx, target) =>
      ctx.step(
        'propagate',
        async () => {
          const result = await propagator.propagate(ctx.tenantId, target);
          // Not applied or ambiguous: fail the attempt with the connector's error, so the runtime
          // retries (or not) according to its `retryable`, and the ledger makes that retry safe.
          if (result.status === 'failed') throw result.effect.error;
          return { status: result.status, version: result.version };
        },
        retry === undefined ? {} : { retry },
      ),
  });
}

/**
 * Starts (or attaches to) the propagation of `target` at desired `version`. Runs of one target are
 * keyed by version, so ten changes start at most ten runs and all but the first find nothing to do.
 */
export function startPropagation(
  runtime: WorkflowRuntime,
  tenantId: string,
  target: DesiredTarget,
  version: number,
) {
  return runtime.start<DesiredTarget, PropagationOutput>(PROPAGATION_WORKFLOW, target, {
    runId: `sync:${tenantId}:${target.system}:${target.recordKey}:v${version}`,
    tenantId,
    businessKeys: { target: `${target.system}/${target.recordKey}` },
  });
}
