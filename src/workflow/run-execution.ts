// One run executing in this process: the workflow context handed to workflow code, step replay from the
// journal, the attempt loop with retries and timeouts, and the run's end. A run execution writes only
// under its lease epoch; once it learns it lost the lease (or is cancelled) it writes nothing more.
import { CrossdockError } from '../errors/index.ts';
import type { Logger } from '../telemetry/index.ts';
import {
  WorkflowCancelledError,
  WorkflowLeaseLostError,
  WorkflowNondeterminismError,
  WorkflowStepFailedError,
  WorkflowStepTimeoutError,
} from './errors.ts';
import { resolveRetryPolicy, retryDelayMs, type ResolvedRetryPolicy } from './retry-policy.ts';
import {
  isNotApplied,
  type ChildOptions,
  type SignalResult,
  type StepContext,
  type StepOptions,
  type WorkflowContext,
  type WorkflowDefinition,
} from './workflow-definition.ts';
import type { RateBudgets } from './rate-budgets.ts';
import type { AttemptSummary, ErrorSummary, WorkflowEvents } from './workflow-events.ts';
import type { AttemptRecord, Fence, RunRecord, StepRecord, WorkflowJournal } from './workflow-journal.ts';

/** How a run execution ended, as seen by callers waiting on it in this process. */
export type RunSettlement =
  | { readonly kind: 'completed'; readonly output: unknown }
  | { readonly kind: 'failed'; readonly error: ErrorSummary }
  | { readonly kind: 'cancelled' }
  /** This process stopped executing the run (lease lost, shutdown); its state is in the store. */
  | { readonly kind: 'detached' };

export interface RunExecutionDeps {
  readonly journal: WorkflowJournal;
  readonly events: WorkflowEvents;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random: () => number;
  /** How often a signal wait re-reads the store for signals sent by other processes, in ms. */
  readonly signalPollMs: number;
  /** A wait longer than this parks the run out of memory, in ms. */
  readonly parkAfterMs: number;
  /** Rate budgets steps draw on (`StepOptions.budget`). */
  readonly budgets: RateBudgets;
  /** Starts child runs and waits for them (the runtime). */
  readonly children: ChildRunner;
}

export interface ChildRunner {
  start(
    workflow: WorkflowDefinition<unknown, unknown> | string,
    input: unknown,
    options: { runId: string; tenantId: string; businessKeys: Record<string, string> },
  ): Promise<{ runId: string }>;
  result(runId: string): Promise<unknown>;
}

export type ResumeReason = 'fresh' | 'recovery' | 'operator' | 'pending' | 'timer';

class StoppedSignal extends Error {
  constructor(readonly why: 'lease-lost' | 'shutdown' | 'parked') {
    super(why);
  }
}

const EMPTY_POLICY_CACHE = new WeakMap<object, ResolvedRetryPolicy>();
const DEFAULT_POLICY = resolveRetryPolicy(undefined);

function policyOf(options: StepOptions<unknown>): ResolvedRetryPolicy {
  if (!options.retry) return DEFAULT_POLICY;
  let p = EMPTY_POLICY_CACHE.get(options.retry);
  if (!p) {
    p = resolveRetryPolicy(options.retry);
    EMPTY_POLICY_CACHE.set(options.retry, p);
  }
  return p;
}

export function errorCodeOf(error: unknown): string {
  if (error instanceof CrossdockError) return error.code;
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
    if (error instanceof Error) return error.name === 'Error' ? 'ERROR' : error.name;
  }
  return 'ERROR';
}

export function errorMessageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isRetryable(error: unknown, code: string, policy: ResolvedRetryPolicy): boolean {
  if (policy.nonRetryableCodes.includes(code)) return false;
  if (typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === false) {
    return false;
  }
  return true;
}

function retryAfterOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const v = (error as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function parseJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function toAttemptSummary(a: AttemptRecord): AttemptSummary {
  return {
    attempt: a.attempt,
    outcome: a.outcome,
    effect: a.effect,
    errorCode: a.errorCode,
    errorMessage: a.errorMessage,
    startedAt: a.startedAt,
    endedAt: a.endedAt,
    nextRetryAt: a.nextRetryAt,
    idempotencyKey: a.idempotencyKey,
  };
}

export class RunExecution {
  readonly run: RunRecord;
  readonly settled: Promise<RunSettlement>;
  readonly #deps: RunExecutionDeps;
  readonly #definition: WorkflowDefinition<unknown, unknown>;
  readonly #fence: Fence;
  readonly #steps: Map<number, StepRecord>;
  readonly #attempts: Map<number, AttemptRecord[]>;
  readonly #abort = new AbortController();
  /** Stops the attempts in flight; called with the reason when the run is aborted. */
  readonly #inFlight = new Set<(reason: unknown) => void>();
  readonly #reason: ResumeReason;
  readonly #startedAt: number;
  #nextStepId = 0;
  #fatal: WorkflowNondeterminismError | undefined;
  #newCompletionSeen = false;
  readonly #signalWaiters = new Map<string, Set<() => void>>();
  /** Step calls in progress (the parking check needs the run otherwise idle). */
  #busy = 0;
  /** Sleeps and signal waits in progress. */
  #waits = 0;
  /**
   * Journal writes of completed steps not yet committed. A step's result goes back to the workflow code
   * at once, but the next step (and any other write) waits for them, so nothing outside happens before
   * the journal holds what preceded it; the run's end joins the last step's commit when it can.
   */
  readonly #pendingWrites = new Set<Promise<void>>();
  #resolveSettled!: (s: RunSettlement) => void;

  constructor(
    deps: RunExecutionDeps,
    definition: WorkflowDefinition<unknown, unknown>,
    run: RunRecord,
    epoch: number,
    reason: ResumeReason,
    steps: readonly StepRecord[] = [],
    attempts: readonly AttemptRecord[] = [],
  ) {
    this.#deps = deps;
    this.#definition = definition;
    this.run = run;
    this.#fence = { runId: run.runId, epoch };
    this.#reason = reason;
    this.#startedAt = deps.now();
    this.#steps = new Map(steps.map((s) => [s.stepId, s]));
    this.#attempts = new Map();
    for (const a of attempts) {
      const list = this.#attempts.get(a.stepId) ?? [];
      list.push(a);
      this.#attempts.set(a.stepId, list);
    }
    this.settled = new Promise((resolve) => (this.#resolveSettled = resolve));
    this.#abort.signal.addEventListener(
      'abort',
      () => {
        for (const stop of [...this.#inFlight]) stop(this.#abort.signal.reason);
      },
      { once: true },
    );
  }

  /** Cancels from this process: the next step call throws, the current attempt's signal aborts. */
  cancel(): void {
    if (!this.#abort.signal.aborted) this.#abort.abort(new WorkflowCancelledError(this.run.runId));
  }

  /** Stops executing without writing anything more (shutdown); the run stays in flight in the store. */
  detach(): void {
    if (!this.#abort.signal.aborted) this.#abort.abort(new StoppedSignal('shutdown'));
  }

  #ref() {
    return {
      runId: this.run.runId,
      tenantId: this.run.tenantId,
      workflowName: this.run.workflowName,
      workflowVersion: this.run.workflowVersion,
    };
  }

  /**
   * Executes the workflow function to its end; never rejects (the outcome is in `settled`). `gate` runs
   * first (a queue's rate budget); aborting the run while it waits stops the run like any other abort.
   */
  async execute(gate?: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (gate) {
      try {
        await gate(this.#abort.signal);
      } catch (error) {
        this.#settleStopped(this.#abort.signal.aborted ? this.#abort.signal.reason : error);
        return;
      }
    }
    const ctx: WorkflowContext = {
      runId: this.run.runId,
      tenantId: this.run.tenantId,
      workflowName: this.run.workflowName,
      workflowVersion: this.run.workflowVersion,
      businessKeys: this.run.businessKeys,
      signal: this.#abort.signal,
      step: (name, fn, options) => {
        // Assigned synchronously at the call, so Promise.all keeps ids stable across replays.
        const stepId = this.#nextStepId++;
        return this.#step(
          stepId,
          name,
          fn as (s: StepContext<unknown>) => Promise<unknown>,
          options ?? {},
        ) as never;
      },
      sleep: (ms) => this.#sleep(this.#nextStepId++, ms),
      waitForSignal: <T>(name: string, timeoutMs: number) => {
        const deadlineStep = this.#nextStepId++;
        const receiptStep = this.#nextStepId++;
        return this.#waitForSignal(deadlineStep, receiptStep, name, timeoutMs) as Promise<SignalResult<T>>;
      },
      startChild: (workflow, input, options) =>
        this.#startChild(
          this.#nextStepId++,
          workflow as WorkflowDefinition<unknown, unknown> | string,
          input,
          options,
        ),
      childResult: <Out>(childRunId: string) =>
        this.#childResult(this.#nextStepId++, childRunId) as Promise<Out>,
      runChild: async <In, Out>(
        workflow: WorkflowDefinition<In, Out> | string,
        input: In,
        options?: ChildOptions,
      ): Promise<Out> => {
        const startStep = this.#nextStepId++;
        const resultStep = this.#nextStepId++;
        const child = await this.#startChild(
          startStep,
          workflow as WorkflowDefinition<unknown, unknown> | string,
          input,
          options,
        );
        return (await this.#childResult(resultStep, child)) as Out;
      },
    };
    let output: unknown;
    let failure: unknown;
    try {
      output = await this.#definition.run(ctx, parseJson(this.run.input));
    } catch (error) {
      failure = error;
    }
    if (this.#fatal) failure = this.#fatal;
    if (failure === undefined) {
      for (const [stepId, step] of this.#steps) {
        if (stepId >= this.#nextStepId) {
          failure = new WorkflowNondeterminismError(this.run.runId, stepId, step.stepName, null);
          break;
        }
      }
    }
    try {
      await this.#finish(output, failure);
    } catch (error) {
      this.#settleStopped(error);
    }
  }

  async #finish(output: unknown, failure: unknown): Promise<void> {
    const aborted = this.#abort.signal.aborted ? (this.#abort.signal.reason as unknown) : undefined;
    if (aborted !== undefined) return this.#settleStopped(aborted);
    if (failure instanceof WorkflowLeaseLostError || failure instanceof StoppedSignal) {
      return this.#settleStopped(failure);
    }
    // The end joins the batch of the last step's write if that write is still queued; otherwise it waits
    // for it, so the end is never committed before a step it follows.
    if (this.#pendingWrites.size > 0 && !this.#deps.journal.hasQueued(this.run.runId))
      await this.#settleWrites();
    const now = this.#deps.now();
    if (failure === undefined) {
      const text = output === undefined ? null : JSON.stringify(output);
      const finished = await this.#deps.journal.finishRun(this.#fence, 'completed', text, null, now);
      await this.#settleWrites();
      if (!finished)
        return this.#settleStopped(new WorkflowLeaseLostError(this.run.runId, this.#fence.epoch));
      if (this.#deps.events.has('run:completed')) {
        this.#deps.events.emit('run:completed', { ...this.#ref(), durationMs: now - this.#startedAt });
      }
      return this.#resolveSettled({ kind: 'completed', output: parseJson(text) });
    }
    const error: ErrorSummary = { code: errorCodeOf(failure), message: errorMessageOf(failure) };
    const stepFailure = failure instanceof WorkflowStepFailedError ? failure : undefined;
    const recorded = {
      ...error,
      stepId: stepFailure?.stepId ?? null,
      stepName: stepFailure?.stepName ?? null,
    };
    const finished = await this.#deps.journal.finishRun(
      this.#fence,
      'failed',
      null,
      JSON.stringify(recorded),
      now,
    );
    await this.#settleWrites();
    if (!finished) return this.#settleStopped(new WorkflowLeaseLostError(this.run.runId, this.#fence.epoch));
    this.#deps.events.emit('run:failed', {
      ...this.#ref(),
      error,
      stepId: recorded.stepId,
      stepName: recorded.stepName,
      attempts: stepFailure ? (this.#attempts.get(stepFailure.stepId) ?? []).map(toAttemptSummary) : [],
    });
    this.#resolveSettled({ kind: 'failed', error });
  }

  #settleStopped(reason: unknown): void {
    if (reason instanceof WorkflowCancelledError) {
      this.#deps.events.emit('run:cancelled', this.#ref());
      return this.#resolveSettled({ kind: 'cancelled' });
    }
    if (reason instanceof WorkflowLeaseLostError) this.#deps.events.emit('run:lease-lost', this.#ref());
    else if (!(reason instanceof StoppedSignal)) {
      this.#deps.logger.error(
        { err: reason, runId: this.run.runId },
        'workflow run stopped by an unexpected error',
      );
    }
    this.#resolveSettled({ kind: 'detached' });
  }

  #throwIfStopped(): void {
    if (this.#abort.signal.aborted) throw this.#abort.signal.reason as Error;
  }

  /** A journal write refused by the fence stops the whole run in this process. */
  #onWriteError(error: unknown): never {
    if (error instanceof WorkflowLeaseLostError && !this.#abort.signal.aborted) {
      this.#abort.abort(error);
    }
    throw error;
  }

  #step(
    stepId: number,
    name: string,
    fn: (s: StepContext<unknown>) => Promise<unknown>,
    options: StepOptions<unknown>,
  ): Promise<unknown> {
    this.#busy++;
    const done = this.#runStep(stepId, name, fn, options);
    // Counted off the side, so the caller awaits the step itself (no extra hop on the hot path).
    done.then(this.#idle, this.#idle);
    return done;
  }

  readonly #idle = () => {
    this.#busy--;
  };

  async #runStep(
    stepId: number,
    name: string,
    fn: (s: StepContext<unknown>) => Promise<unknown>,
    options: StepOptions<unknown>,
  ): Promise<unknown> {
    this.#throwIfStopped();
    const { journal, events, now } = this.#deps;
    const record = this.#steps.get(stepId);
    if (record && record.stepName !== name) {
      this.#fatal ??= new WorkflowNondeterminismError(this.run.runId, stepId, record.stepName, name);
      throw this.#fatal;
    }
    if (record?.status === 'completed') return parseJson(record.output);
    if (record?.status === 'failed') {
      const e = JSON.parse(record.error ?? '{}') as Partial<ErrorSummary>;
      throw new WorkflowStepFailedError(
        this.run.runId,
        stepId,
        name,
        record.attempts,
        e.code ?? 'ERROR',
        e.message ?? '',
      );
    }
    // Nothing of this step may happen before the steps before it are journaled.
    if (this.#pendingWrites.size > 0) await this.#settleWrites();
    this.#throwIfStopped();
    const policy = policyOf(options);
    const keyGeneration = record?.keyGeneration ?? 0;
    const edited = record?.status === 'retry' && record.input !== null && keyGeneration > 0;
    const inputText = edited
      ? record.input
      : options.input === undefined
        ? null
        : JSON.stringify(options.input);
    const input = edited ? parseJson(record.input) : options.input;
    const idempotencyKey =
      keyGeneration === 0 ? `${this.run.runId}:${stepId}` : `${this.run.runId}:${stepId}:e${keyGeneration}`;
    let attempts = this.#attempts.get(stepId);
    if (!attempts) {
      attempts = [];
      this.#attempts.set(stepId, attempts);
    }
    // An operator retry gives the step a fresh budget; attempts before it stay in the history.
    const budgetBase = record?.status === 'retry' ? record.attempts : 0;
    let attempt = Math.max(record?.attempts ?? 0, attempts.at(-1)?.attempt ?? 0);
    let used = 0;
    for (const a of attempts) if (a.attempt > budgetBase && a.outcome !== 'interrupted') used++;
    const firstStartedAt = now();
    const base = {
      runId: this.run.runId,
      stepId,
      tenantId: this.run.tenantId,
      stepName: name,
      idempotencyKey,
      input: inputText,
    };

    if (this.#reason === 'recovery' && !this.#newCompletionSeen) {
      // The dead process may have been inside this step: its effect is unknown. Steps called before any
      // step completes in this process are exactly those that could have been in flight at the crash.
      const marker: AttemptRecord = {
        ...base,
        attempt: ++attempt,
        outcome: 'interrupted',
        effect: 'unknown',
        errorCode: null,
        errorMessage: 'the process executing this step stopped before recording its end',
        startedAt: null,
        endedAt: firstStartedAt,
        nextRetryAt: null,
      };
      await journal.writeAttempt(this.#fence, marker).catch((e: unknown) => this.#onWriteError(e));
      attempts.push(marker);
    }
    const scheduled = attempts.at(-1)?.nextRetryAt;
    if (scheduled != null) await this.#sleepUntil(scheduled);

    for (;;) {
      this.#throwIfStopped();
      attempt++;
      used++;
      const startedAt = now();
      let value: unknown;
      let failure: unknown;
      let failed = false;
      try {
        const budget = options.budget;
        const run =
          budget === undefined
            ? fn
            : (s: StepContext<unknown>) =>
                this.#deps.budgets.run(budget, () => fn(s), this.#abort.signal, options.budgetPriority);
        value = await this.#attempt(run, base, attempt, input, options.timeoutMs, name);
      } catch (error) {
        failed = true;
        failure = error;
      }
      this.#throwIfStopped();
      const endedAt = now();
      if (!failed) {
        const output = value === undefined ? null : JSON.stringify(value);
        this.#track(
          journal
            .writeStep(
              this.#fence,
              {
                ...base,
                status: 'completed',
                output,
                error: null,
                keyGeneration,
                attempts: attempt,
                startedAt: firstStartedAt,
                completedAt: endedAt,
              },
              null,
            )
            .catch((e: unknown) => this.#onWriteError(e)),
        );
        this.#newCompletionSeen = true;
        if (events.has('step:completed'))
          events.emit('step:completed', {
            ...this.#ref(),
            stepId,
            stepName: name,
            durationMs: endedAt - firstStartedAt,
            attempts: attempt,
          });
        return parseJson(output);
      }
      const code = errorCodeOf(failure);
      const message = errorMessageOf(failure);
      const outcome = failure instanceof WorkflowStepTimeoutError ? 'timeout' : 'error';
      const effect = outcome === 'error' && isNotApplied(failure) ? 'none' : 'unknown';
      const retryable = isRetryable(failure, code, policy);
      const final = !retryable || used >= policy.maxAttempts;
      const retryAfter = (options.honourRetryAfter ?? true) ? retryAfterOf(failure) : undefined;
      const delay = final ? 0 : (retryAfter ?? retryDelayMs(policy, used, this.#deps.random));
      const attemptRecord: AttemptRecord = {
        ...base,
        attempt,
        outcome,
        effect,
        errorCode: code,
        errorMessage: message,
        startedAt,
        endedAt,
        nextRetryAt: final ? null : endedAt + delay,
      };
      if (final) {
        await journal
          .writeStep(
            this.#fence,
            {
              ...base,
              status: 'failed',
              output: null,
              error: JSON.stringify({ code, message }),
              keyGeneration,
              attempts: attempt,
              startedAt: firstStartedAt,
              completedAt: endedAt,
            },
            attemptRecord,
          )
          .catch((e: unknown) => this.#onWriteError(e));
        attempts.push(attemptRecord);
        events.emit('step:failed', {
          ...this.#ref(),
          stepId,
          stepName: name,
          attempts: attempt,
          error: { code, message },
        });
        throw new WorkflowStepFailedError(this.run.runId, stepId, name, attempt, code, message, {
          cause: failure,
        });
      }
      await journal.writeAttempt(this.#fence, attemptRecord).catch((e: unknown) => this.#onWriteError(e));
      attempts.push(attemptRecord);
      events.emit('step:retry-scheduled', {
        ...this.#ref(),
        stepId,
        stepName: name,
        attempt,
        delayMs: delay,
        error: { code, message },
      });
      await this.#sleepUntil(attemptRecord.nextRetryAt!);
    }
  }

  #track(write: Promise<void>): void {
    this.#pendingWrites.add(write);
    write.then(
      () => this.#pendingWrites.delete(write),
      () => this.#pendingWrites.delete(write),
    );
  }

  /** Waits for the completed steps' journal writes; rejects with the first write error. */
  async #settleWrites(): Promise<void> {
    while (this.#pendingWrites.size > 0) await Promise.all([...this.#pendingWrites]);
  }

  /** Wakes waits for signal `name` in this run (a signal was just stored by this process). */
  notifySignal(name: string): void {
    for (const wake of [...(this.#signalWaiters.get(name) ?? [])]) wake();
  }

  static readonly #once: StepOptions<unknown> = { retry: { maxAttempts: 1 } };

  async #sleep(stepId: number, ms: number): Promise<void> {
    this.#waits++;
    try {
      const wakeAt = (await this.#step(
        stepId,
        'sleep',
        async () => this.#deps.now() + ms,
        RunExecution.#once,
      )) as number;
      await this.#parkIfLong(wakeAt, null);
      await this.#sleepUntil(wakeAt);
    } finally {
      this.#waits--;
    }
  }

  /**
   * Parks the run when it would wait longer than `parkAfterMs` with nothing else in flight: the journal
   * is settled, the run turns `waiting` until `wakeAt` and this execution stops (nothing stays in
   * memory). A poll resumes the run when due, or earlier when `signal` arrives. Replay brings it back to
   * this wait, whose deadline is journaled.
   */
  async #parkIfLong(wakeAt: number, signal: string | null): Promise<void> {
    const idle = () => this.#busy === 0 && this.#waits === 1 && this.#inFlight.size === 0;
    if (wakeAt - this.#deps.now() <= this.#deps.parkAfterMs || !idle()) return;
    if (this.#pendingWrites.size > 0) await this.#settleWrites();
    this.#throwIfStopped();
    if (!idle()) return;
    const parked = await this.#deps.journal
      .parkRun(this.#fence, wakeAt, signal, this.#deps.now())
      .catch((e: unknown) => this.#onWriteError(e));
    if (!parked) this.#onWriteError(new WorkflowLeaseLostError(this.run.runId, this.#fence.epoch));
    this.#deps.events.emit('run:parked', { ...this.#ref(), wakeAt });
    const stop = new StoppedSignal('parked');
    this.#abort.abort(stop);
    throw stop;
  }

  /** Sleeps until the clock reaches `deadline` (timers may fire a millisecond early); aborts with the run. */
  async #sleepUntil(deadline: number): Promise<void> {
    for (let wait = deadline - this.#deps.now(); wait > 0; wait = deadline - this.#deps.now()) {
      await sleep(wait, this.#abort.signal);
    }
  }

  async #waitForSignal(
    deadlineStep: number,
    receiptStep: number,
    name: string,
    timeoutMs: number,
  ): Promise<SignalResult<unknown>> {
    this.#waits++;
    try {
      return await this.#awaitSignal(deadlineStep, receiptStep, name, timeoutMs);
    } finally {
      this.#waits--;
    }
  }

  async #awaitSignal(
    deadlineStep: number,
    receiptStep: number,
    name: string,
    timeoutMs: number,
  ): Promise<SignalResult<unknown>> {
    const stepName = `signal:${name}`;
    const deadline = (await this.#step(
      deadlineStep,
      `${stepName}:deadline`,
      async () => this.#deps.now() + timeoutMs,
      RunExecution.#once,
    )) as number;
    this.#throwIfStopped();
    const record = this.#steps.get(receiptStep);
    if (record) {
      if (record.stepName !== stepName) {
        this.#fatal ??= new WorkflowNondeterminismError(
          this.run.runId,
          receiptStep,
          record.stepName,
          stepName,
        );
        throw this.#fatal;
      }
      return parseJson(record.output) as SignalResult<unknown>;
    }
    const step = {
      runId: this.run.runId,
      stepId: receiptStep,
      tenantId: this.run.tenantId,
      stepName,
      input: null,
      keyGeneration: 0,
      attempts: 1,
      startedAt: this.#deps.now(),
    };
    // The deadline's journal write (and the run's insert, for a run just started) commits first: the
    // consumption below is its own transaction, fenced on the run row.
    if (this.#pendingWrites.size > 0) await this.#settleWrites();
    for (;;) {
      this.#throwIfStopped();
      const now = this.#deps.now();
      const output = await this.#deps.journal
        .consumeSignal(this.#fence, { ...step, completedAt: now }, name)
        .catch((e: unknown) => this.#onWriteError(e));
      if (output !== null) {
        this.#newCompletionSeen = true;
        return JSON.parse(output) as SignalResult<unknown>;
      }
      const remaining = deadline - now;
      if (remaining <= 0) {
        const timedOut: SignalResult<unknown> = { received: false };
        await this.#deps.journal
          .writeStep(
            this.#fence,
            { ...step, status: 'completed', output: JSON.stringify(timedOut), error: null, completedAt: now },
            null,
          )
          .catch((e: unknown) => this.#onWriteError(e));
        this.#newCompletionSeen = true;
        return timedOut;
      }
      await this.#parkIfLong(deadline, name);
      await this.#waitForWake(name, Math.min(remaining, this.#deps.signalPollMs));
    }
  }

  #waitForWake(name: string, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let waiters = this.#signalWaiters.get(name);
      if (!waiters) {
        waiters = new Set();
        this.#signalWaiters.set(name, waiters);
      }
      const set = waiters;
      const done = () => {
        clearTimeout(timer);
        set.delete(wake);
        this.#inFlight.delete(stop);
      };
      const wake = () => {
        done();
        resolve();
      };
      const stop = (reason: unknown) => {
        done();
        // The reason is the run's abort reason: a typed CrossdockError or the shutdown marker.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(reason);
      };
      const timer = setTimeout(wake, ms);
      set.add(wake);
      this.#inFlight.add(stop);
    });
  }

  async #startChild(
    stepId: number,
    workflow: WorkflowDefinition<unknown, unknown> | string,
    input: unknown,
    options: ChildOptions = {},
  ): Promise<string> {
    const name = typeof workflow === 'string' ? workflow : workflow.name;
    const childRunId = options.runId ?? `${this.run.runId}:${stepId}`;
    return (await this.#step(
      stepId,
      `start-child:${name}`,
      async () =>
        (
          await this.#deps.children.start(workflow, input, {
            runId: childRunId,
            tenantId: this.run.tenantId,
            businessKeys: { ...(options.businessKeys ?? {}), parentRun: this.run.runId },
          })
        ).runId,
      {},
    )) as string;
  }

  async #childResult(stepId: number, childRunId: string): Promise<unknown> {
    return this.#step(
      stepId,
      'child-result',
      () => this.#deps.children.result(childRunId),
      RunExecution.#once,
    );
  }

  /**
   * One attempt; settles early when it times out or the run is aborted (cancel, shutdown, lost lease).
   * The attempt's AbortSignal is created only if the step reads it, as most steps never do.
   */
  #attempt(
    fn: (s: StepContext<unknown>) => Promise<unknown>,
    base: Omit<StepContext<unknown>, 'attempt' | 'signal' | 'input'>,
    attempt: number,
    input: unknown,
    timeoutMs: number | undefined,
    name: string,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let controller: AbortController | undefined;
      let stoppedBy: unknown;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        settled = true;
        clearTimeout(timer);
        this.#inFlight.delete(stop);
      };
      const stop = (reason: unknown) => {
        if (settled) return;
        settle();
        stoppedBy = reason;
        controller?.abort(reason);
        // The reason is the run's abort reason: a typed CrossdockError or the shutdown marker.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        reject(reason);
      };
      const stepCtx: StepContext<unknown> = {
        runId: base.runId,
        tenantId: base.tenantId,
        stepId: base.stepId,
        stepName: base.stepName,
        idempotencyKey: base.idempotencyKey,
        attempt,
        input,
        get signal() {
          if (!controller) {
            controller = new AbortController();
            if (settled && stoppedBy !== undefined) controller.abort(stoppedBy);
          }
          return controller.signal;
        },
      };
      this.#inFlight.add(stop);
      if (timeoutMs !== undefined)
        timer = setTimeout(() => stop(new WorkflowStepTimeoutError(name, timeoutMs)), timeoutMs);
      Promise.resolve()
        .then(() => fn(stepCtx))
        .then(
          (v) => {
            if (settled) return;
            settle();
            resolve(v);
          },
          (e: unknown) => {
            if (settled) return;
            settle();
            // A step may throw anything; its value is passed on unchanged and classified by the caller.
            // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
            reject(e);
          },
        );
    });
  }
}
