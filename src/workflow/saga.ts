// Saga helper: steps that register how to undo themselves, and a compensation pass that undoes the
// completed ones in reverse order when the workflow fails. Compensations are journaled steps, so a crash
// in the middle of compensating resumes the pass instead of undoing twice.
import { WorkflowCompensationFailedError } from './errors.ts';
import type { StepContext, StepOptions, WorkflowContext } from './workflow-definition.ts';
import type { RetryPolicy } from './retry-policy.ts';

export interface SagaStepOptions<T, I> extends StepOptions<I> {
  /** Undoes the step given its result; runs as a journaled step named `compensate:<name>` (default none). */
  readonly compensate?: (result: T, step: StepContext<undefined>) => Promise<unknown>;
  /** Retry policy of the compensation (default 5 attempts, otherwise the step defaults). */
  readonly compensationRetry?: RetryPolicy;
}

export interface Saga {
  step<T, I = undefined>(
    name: string,
    fn: (step: StepContext<I>) => Promise<T>,
    options?: SagaStepOptions<T, I>,
  ): Promise<T>;
  /** Runs the registered compensations, newest first; throws WORKFLOW_COMPENSATION_FAILED if any failed. */
  compensate(): Promise<void>;
}

export function createSaga(ctx: WorkflowContext): Saga {
  const undo: { name: string; run: () => Promise<unknown> }[] = [];
  return {
    async step(name, fn, options = {}) {
      const result = await ctx.step(name, fn, options);
      const compensate = options.compensate;
      if (compensate) {
        undo.push({
          name,
          run: () =>
            ctx.step(`compensate:${name}`, (s) => compensate(result, s), {
              retry: options.compensationRetry ?? { maxAttempts: 5 },
            }),
        });
      }
      return result;
    },
    async compensate() {
      const failed: string[] = [];
      let firstError: unknown;
      // One after another, newest first: a later step may depend on an earlier one still being in place.
      for (const entry of undo.splice(0).reverse()) {
        try {
          await entry.run();
        } catch (error) {
          failed.push(entry.name);
          firstError ??= error;
        }
      }
      if (failed.length > 0)
        throw new WorkflowCompensationFailedError(ctx.runId, failed, { cause: firstError });
    },
  };
}

/** Runs `body` with a saga; on failure compensates, then rethrows the original error. */
export async function runSaga<T>(ctx: WorkflowContext, body: (saga: Saga) => Promise<T>): Promise<T> {
  const saga = createSaga(ctx);
  try {
    return await body(saga);
  } catch (error) {
    await saga.compensate();
    throw error;
  }
}
