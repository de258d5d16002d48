// Stops calling a system that keeps failing, so a dead ERP costs one fast error per call instead of a
// timeout each, and gets room to recover. Built on opossum (rolling error window, open / half-open /
// closed states, events) rather than our own: its rolling statistics and half-open single trial are
// exactly what is needed, and it is well used. This wrapper declares only what we call, so opossum
// stays replaceable, and adds the one thing it lacks: how long until the next trial (`retryAfterMs`).
import OpossumBreaker from 'opossum';

export const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;
export type CircuitState = (typeof CIRCUIT_STATES)[number];

export interface CircuitBreakerOptions {
  /** Percentage of failed calls in the rolling window that opens the circuit (default 50). */
  readonly errorThresholdPercentage?: number;
  /** Calls needed in the window before the percentage counts (default 10). */
  readonly volumeThreshold?: number;
  /** Length of the rolling window, in ms (default 10000). */
  readonly rollingWindowMs?: number;
  /** How long the circuit stays open before one trial call, in ms (default 30000). */
  readonly resetMs?: number;
  /** Which errors count as the system failing (default: all). A 4xx is the caller's fault, not the system's. */
  readonly isFailure?: (error: unknown) => boolean;
  /** Called on each state change, for logs and metrics. */
  readonly onStateChange?: (state: CircuitState) => void;
}

/** Thrown by `run` when the circuit refuses the call; the call was not made. */
export class CircuitRejection extends Error {
  constructor(readonly retryAfterMs: number) {
    super('circuit open');
    this.name = 'CircuitRejection';
  }
}

export interface CircuitBreaker {
  readonly state: CircuitState;
  /** Runs `fn` unless the circuit is open (then throws `CircuitRejection` without calling it). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Stops the breaker's timers. */
  close(): void;
}

export function createCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  const resetMs = options.resetMs ?? 30_000;
  const isFailure = options.isFailure ?? (() => true);
  // opossum calls the action with the arguments given to fire(); ours is "call this function".
  const breaker = new OpossumBreaker((fn: () => Promise<unknown>) => fn(), {
    timeout: false, // the HTTP client owns timeouts (and knows a write timeout is ambiguous)
    errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
    volumeThreshold: options.volumeThreshold ?? 10,
    rollingCountTimeout: options.rollingWindowMs ?? 10_000,
    rollingCountBuckets: 10,
    resetTimeout: resetMs,
    errorFilter: (error: unknown) => !isFailure(error),
  });
  let openedAt = 0;
  breaker.on('open', () => {
    openedAt = Date.now();
    options.onStateChange?.('open');
  });
  breaker.on('halfOpen', () => options.onStateChange?.('half-open'));
  breaker.on('close', () => options.onStateChange?.('closed'));

  return {
    get state(): CircuitState {
      if (breaker.opened) return 'open';
      if (breaker.halfOpen) return 'half-open';
      return 'closed';
    },
    async run<T>(fn: () => Promise<T>): Promise<T> {
      try {
        return (await breaker.fire(fn)) as T;
      } catch (error) {
        if ((error as { code?: unknown } | null)?.code === 'EOPENBREAKER') {
          // Half-open with its trial in flight also rejects: wait a little, the trial decides.
          const left = breaker.opened ? resetMs - (Date.now() - openedAt) : 1000;
          throw new CircuitRejection(Math.max(1, left));
        }
        throw error;
      }
    },
    close(): void {
      breaker.shutdown();
    },
  };
}
