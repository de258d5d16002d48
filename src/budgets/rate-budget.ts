// What a caller of a target system needs from that system's rate budget, and nothing more. This module
// is neutral ground: connectors (which call systems) and the workflow runtime (which keeps budgets shared
// across processes in the store) both depend on it, and on nothing of each other.

export const PRIORITIES = ['high', 'normal', 'low'] as const;
/** `high`: a person is waiting (API write-backs); `normal`: workflow steps and live sync; `low`: backfill,
 * capture and reconciliation, which can wait. Higher priorities are served first when the budget is short. */
export type Priority = (typeof PRIORITIES)[number];

/** Gives the slot back; calling it twice is harmless. */
export type Release = () => void;

export interface RateBudget {
  /** Waits for a slot (a place in the rate and an in-flight place). Rejects with `signal.reason` if aborted. */
  acquire(priority?: Priority, signal?: AbortSignal): Promise<Release>;
  /** The system asked us to slow down (429/503 + Retry-After): grant nothing for `ms`. Never throws. */
  backOff(ms: number): void;
}

/** The abort reason as an Error (`AbortSignal.reason` may be anything a caller passed). */
export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}
