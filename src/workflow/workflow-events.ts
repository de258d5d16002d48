// The one typed event map of the workflow runtime. Metrics, logs and tests subscribe here rather than
// to ad-hoc strings; listeners run synchronously and a throwing listener never breaks a run.

export interface ErrorSummary {
  readonly code: string;
  readonly message: string;
}

export interface AttemptSummary {
  readonly attempt: number;
  readonly outcome: AttemptOutcome;
  readonly effect: AttemptEffect;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly nextRetryAt: number | null;
  readonly idempotencyKey: string;
}

/** How an attempt ended: with an error, by timing out, or cut short by a crash of its process. */
export type AttemptOutcome = 'error' | 'timeout' | 'interrupted';
/** Whether the attempt may have changed the target system: `none` only when the error says so. */
export type AttemptEffect = 'none' | 'unknown';

interface RunRef {
  readonly runId: string;
  readonly tenantId: string;
  readonly workflowName: string;
  readonly workflowVersion: number;
}

export interface WorkflowEventMap {
  'run:started': RunRef;
  /** A run picked up by recovery (its process died) or after an operator retry/resume. */
  'run:resumed': RunRef & { readonly reason: 'recovery' | 'operator' | 'pending' | 'timer' };
  /** A run left memory to wait in the store (a long sleep or signal wait) until `wakeAt`. */
  'run:parked': RunRef & { readonly wakeAt: number };
  /** This process took over a run whose lease expired (its worker died or stalled). */
  'lease:taken-over': RunRef & { readonly previousOwner: string | null };
  'run:completed': RunRef & { readonly durationMs: number };
  'run:failed': RunRef & {
    readonly error: ErrorSummary;
    readonly stepId: number | null;
    readonly stepName: string | null;
    readonly attempts: readonly AttemptSummary[];
  };
  'run:cancelled': RunRef;
  /** A run could not be resumed because its workflow version is not registered in this process. */
  'run:version-missing': RunRef;
  /** This process stopped executing a run because another worker holds its lease now. */
  'run:lease-lost': RunRef;
  /** A call was granted a slot of rate budget `budget` after waiting `waitedMs` (0 when none). */
  'budget:waited': {
    readonly budget: string;
    readonly priority: 'high' | 'normal' | 'low';
    readonly waitedMs: number;
  };
  'step:completed': RunRef & {
    readonly stepId: number;
    readonly stepName: string;
    readonly durationMs: number;
    readonly attempts: number;
  };
  'step:retry-scheduled': RunRef & {
    readonly stepId: number;
    readonly stepName: string;
    readonly attempt: number;
    readonly delayMs: number;
    readonly error: ErrorSummary;
  };
  'step:failed': RunRef & {
    readonly stepId: number;
    readonly stepName: string;
    readonly attempts: number;
    readonly error: ErrorSummary;
  };
}

export type WorkflowEventName = keyof WorkflowEventMap;
export type WorkflowListener<E extends WorkflowEventName> = (payload: WorkflowEventMap[E]) => void;

export class WorkflowEvents {
  readonly #listeners = new Map<WorkflowEventName, Set<(payload: never) => void>>();
  /** Called when a listener throws; the runtime logs it. */
  onListenerError: (event: WorkflowEventName, error: unknown) => void = () => {};

  on<E extends WorkflowEventName>(event: E, listener: WorkflowListener<E>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /** True when someone listens to `event`; hot paths skip building payloads nobody reads. */
  has(event: WorkflowEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends WorkflowEventName>(event: E, payload: WorkflowEventMap[E]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as WorkflowListener<E>)(payload);
      } catch (error) {
        this.onListenerError(event, error);
      }
    }
  }
}
