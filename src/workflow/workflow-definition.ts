// What a workflow author writes against: a named, versioned async function that receives a context and
// calls `ctx.step(...)` for everything that touches the outside world.
//
// Glossary. A *run* is one execution of a workflow, identified by its run id (the workflow id callers
// choose for idempotent start). A *step* is one awaited call inside a run, numbered by call order; its
// result is *journaled* so that on *replay* (after a crash or an operator retry) the step returns the
// recorded result instead of running again. An *attempt* is one try of a step; attempts share an
// *idempotency key* (run id + step id) that the step passes to the systems it writes to.
import type { Priority } from '../budgets/index.ts';
import { WorkflowDefinitionInvalidError } from './errors.ts';
import type { RetryPolicy } from './retry-policy.ts';

export interface StepOptions<I = unknown> {
  /** Retry policy; see `RetryPolicy` for each field's default (3 attempts, 1 s, x2, max 60 s, 10 % jitter). */
  readonly retry?: RetryPolicy;
  /**
   * Time limit of one attempt, in ms (default none). On expiry the attempt's `signal` aborts and the
   * attempt counts as failed with WORKFLOW_STEP_TIMEOUT (retryable, effect unknown).
   */
  readonly timeoutMs?: number;
  /**
   * Honour `retryAfterMs` carried by an error (a 429/503 `Retry-After`) instead of the computed delay
   * (default true). The delay is not capped by `retry.maxIntervalMs`.
   */
  readonly honourRetryAfter?: boolean;
  /**
   * Input of the step, journaled with each attempt and handed to `fn` as `step.input`. Declaring it is
   * what lets an operator resume a failed run with edited input for this step (default none).
   */
  readonly input?: I;
  /**
   * Rate budget (of `runtime.budgets`) each attempt draws on, e.g. `erp` (default none). An error with
   * `retryAfterMs` or HTTP status 429 backs the whole budget off, for every process.
   */
  readonly budget?: string;
  /** Priority of this step's calls on its budget (default `normal`). */
  readonly budgetPriority?: Priority;
}

export interface StepContext<I = unknown> {
  readonly runId: string;
  readonly tenantId: string;
  /** Position of the step in the run, assigned by call order (0-based). */
  readonly stepId: number;
  readonly stepName: string;
  /** 1-based attempt number, counting attempts before a crash too. */
  readonly attempt: number;
  /**
   * Key to send to the target system so that repeated attempts have one effect: `<runId>:<stepId>`,
   * or `<runId>:<stepId>:e<n>` after the n-th edited resume of this step.
   */
  readonly idempotencyKey: string;
  /** The step's declared input, or the edited input after an operator's resume. */
  readonly input: I;
  /** Aborted when the attempt times out or the run is cancelled; pass it to HTTP clients. */
  readonly signal: AbortSignal;
}

export interface WorkflowContext {
  readonly runId: string;
  readonly tenantId: string;
  readonly workflowName: string;
  readonly workflowVersion: number;
  readonly businessKeys: Readonly<Record<string, string>>;
  /** Aborted when the run is cancelled or this worker loses the run's lease. */
  readonly signal: AbortSignal;
  /**
   * Runs `fn` as a journaled step. The step id is taken synchronously at the call, so steps started
   * together with `Promise.all` keep their ids on replay. Results must be JSON-serialisable; the value
   * returned is the JSON round trip of `fn`'s result, the same on first run and on replay.
   */
  /**
   * Durable sleep: the wake-up time is journaled, so after a crash the run sleeps only what is left.
   * The run stays in memory while it sleeps (suited to minutes and hours, not months).
   */
  sleep(ms: number): Promise<void>;
  /**
   * Waits for a signal sent with `runtime.sendSignal(runId, name, payload)`, up to `timeoutMs`. Signals
   * sent before the wait are kept and consumed oldest first, one per wait. The deadline is journaled.
   */
  waitForSignal<T = unknown>(name: string, timeoutMs: number): Promise<SignalResult<T>>;
  /**
   * Starts a child run (same tenant) and returns its run id; the child run id defaults to
   * `<runId>:<stepId>`, so a replay attaches to the same child instead of starting another.
   */
  startChild<In>(
    workflow: WorkflowDefinition<In, unknown> | string,
    input: In,
    options?: ChildOptions,
  ): Promise<string>;
  /** Waits for a child run's output; a failed child fails this step with WORKFLOW_STEP_FAILED. */
  childResult<Out>(childRunId: string): Promise<Out>;
  /** `startChild` then `childResult`. */
  runChild<In, Out>(
    workflow: WorkflowDefinition<In, Out> | string,
    input: In,
    options?: ChildOptions,
  ): Promise<Out>;
  step<T, I = undefined>(
    name: string,
    fn: (step: StepContext<I>) => Promise<T>,
    options?: StepOptions<I>,
  ): Promise<T>;
}

export type SignalResult<T> =
  { readonly received: true; readonly signalId: string; readonly payload: T } | { readonly received: false };

export interface ChildOptions {
  /** Child run id (default `<parent runId>:<stepId>`). */
  readonly runId?: string;
  /** Business keys of the child; `parentRun` is added (default none). */
  readonly businessKeys?: Readonly<Record<string, string>>;
}

export interface WorkflowDefinition<In = unknown, Out = unknown> {
  readonly name: string;
  /** Positive integer; a run stays on the version it started with (see docs/workflows.md). */
  readonly version: number;
  readonly run: (ctx: WorkflowContext, input: In) => Promise<Out>;
}

export function defineWorkflow<In, Out>(
  definition: WorkflowDefinition<In, Out>,
): WorkflowDefinition<In, Out> {
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(definition.name)) {
    throw new WorkflowDefinitionInvalidError(`workflow name "${definition.name}" must match [a-z0-9._-]+`);
  }
  if (!Number.isInteger(definition.version) || definition.version < 1) {
    throw new WorkflowDefinitionInvalidError(
      `workflow "${definition.name}" version must be a positive integer, got ${definition.version}`,
    );
  }
  return definition;
}

/** Marks an error as rejected by the target before it did anything, so an edited resume is safe. */
export function markNotApplied<E extends Error>(error: E): E {
  (error as E & { applied?: boolean }).applied = false;
  return error;
}

/** True when the error says the target system did not apply the request (see `markNotApplied`). */
export function isNotApplied(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as { applied?: unknown }).applied === false) return true;
  const context = (error as { context?: unknown }).context;
  return (
    typeof context === 'object' && context !== null && (context as { applied?: unknown }).applied === false
  );
}
