// Retry policy of a step: how many attempts, how long to wait between them, which errors never retry.
// Pure functions, so the schedule can be checked without waiting for it.
import { WorkflowDefinitionInvalidError } from './errors.ts';

export interface RetryPolicy {
  /** Total attempts including the first; 1 disables retries (default 3). */
  readonly maxAttempts?: number;
  /** Delay before the first retry, in ms (default 1000). */
  readonly initialIntervalMs?: number;
  /** Factor each further delay is multiplied by (default 2). */
  readonly backoffRate?: number;
  /** Upper bound of a computed delay, in ms (default 60000). A `retryAfterMs` carried by an error is not capped by it. */
  readonly maxIntervalMs?: number;
  /**
   * Random spread applied to computed delays, as a fraction: 0.2 means the delay is drawn uniformly from
   * [0.8 d, 1.2 d] (default 0.1). Keeps many runs failing together from retrying in lock-step.
   */
  readonly jitter?: number;
  /** Error codes that never retry, on top of errors whose `retryable` is false (default none). */
  readonly nonRetryableCodes?: readonly string[];
}

export type ResolvedRetryPolicy = Required<RetryPolicy>;

export const DEFAULT_RETRY_POLICY: ResolvedRetryPolicy = {
  maxAttempts: 3,
  initialIntervalMs: 1000,
  backoffRate: 2,
  maxIntervalMs: 60_000,
  jitter: 0.1,
  nonRetryableCodes: [],
};

export function resolveRetryPolicy(policy: RetryPolicy | undefined): ResolvedRetryPolicy {
  const p = { ...DEFAULT_RETRY_POLICY, ...stripUndefined(policy ?? {}) };
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < 1) {
    throw new WorkflowDefinitionInvalidError(
      `retry.maxAttempts must be an integer >= 1, got ${p.maxAttempts}`,
    );
  }
  if (p.initialIntervalMs < 0 || p.maxIntervalMs < 0) {
    throw new WorkflowDefinitionInvalidError('retry intervals must not be negative');
  }
  if (p.backoffRate < 1) throw new WorkflowDefinitionInvalidError('retry.backoffRate must be >= 1');
  if (p.jitter < 0 || p.jitter > 1)
    throw new WorkflowDefinitionInvalidError('retry.jitter must be within 0..1');
  return p;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Delay before the retry that follows failed attempt number `failedAttempt` (1-based), in ms:
 * `min(initialIntervalMs * backoffRate^(failedAttempt-1), maxIntervalMs)`, spread by jitter.
 * `random` returns a number in [0, 1) (default Math.random).
 */
export function retryDelayMs(
  policy: ResolvedRetryPolicy,
  failedAttempt: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(
    policy.initialIntervalMs * policy.backoffRate ** (failedAttempt - 1),
    policy.maxIntervalMs,
  );
  if (policy.jitter === 0) return Math.round(base);
  const spread = (random() * 2 - 1) * policy.jitter;
  return Math.max(0, Math.round(base * (1 + spread)));
}
