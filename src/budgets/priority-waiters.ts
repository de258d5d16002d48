// The local half of a rate budget: callers waiting for a slot, ordered by priority, and the in-flight
// places they hold. Whoever owns the rate (an in-process token bucket, or the shared schedule in the
// store) asks here who goes next, so both honour priorities and the low-priority share the same way.
import { abortReason, PRIORITIES, type Priority, type Release } from './rate-budget.ts';

interface Waiter {
  readonly priority: Priority;
  readonly since: number;
  readonly resolve: (release: Release) => void;
  readonly reject: (reason: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

export interface PriorityWaitersOptions {
  /** Calls in flight at once (default unlimited). */
  readonly maxInFlight?: number;
  /**
   * Most of the in-flight places `low` calls may hold, as a share of `maxInFlight` (default 0.5, at least
   * one place). Keeps room for live calls while a backfill runs; without `maxInFlight` it has no effect.
   */
  readonly lowShare?: number;
  /** Clock for wait times, in ms (default Date.now). */
  readonly now?: () => number;
  /** Called with each granted caller's priority and time spent waiting, in ms. */
  readonly onGrant?: (priority: Priority, waitedMs: number) => void;
  /** Called when a place is given back or a caller arrives, so the owner can grant more. */
  readonly onChange: () => void;
}

export class PriorityWaiters {
  maxInFlight = Number.POSITIVE_INFINITY;
  /** In-flight places `low` calls may hold at once. */
  lowCap = Number.POSITIVE_INFINITY;
  readonly #queues: Record<Priority, Waiter[]> = { high: [], normal: [], low: [] };
  readonly #options: PriorityWaitersOptions;
  readonly #now: () => number;
  #inFlight = 0;
  #lowInFlight = 0;

  constructor(options: PriorityWaitersOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#limit(options.maxInFlight, options.lowShare);
  }

  /** Changes the limits; callers holding places keep them. */
  configure(maxInFlight: number | undefined, lowShare: number | undefined): void {
    this.#limit(maxInFlight, lowShare);
    this.#options.onChange();
  }

  #limit(maxInFlight: number | undefined, lowShare: number | undefined): void {
    this.maxInFlight = Math.max(1, maxInFlight ?? Number.POSITIVE_INFINITY);
    const share = Math.min(1, Math.max(0, lowShare ?? 0.5));
    this.lowCap = Number.isFinite(this.maxInFlight)
      ? Math.max(1, Math.floor(this.maxInFlight * share))
      : Number.POSITIVE_INFINITY;
  }

  /** Calls holding a place. */
  get active(): number {
    return this.#inFlight;
  }

  /** Calls waiting for a place. */
  get waiting(): number {
    return this.#queues.high.length + this.#queues.normal.length + this.#queues.low.length;
  }

  /** Queues a caller; resolves when `grant()` picks it. */
  add(priority: Priority, signal: AbortSignal | undefined): Promise<Release> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        priority,
        since: this.#now(),
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#remove(waiter);
          reject(abortReason(signal));
          this.#options.onChange();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queues[priority].push(waiter);
      this.#options.onChange();
    });
  }

  #remove(waiter: Waiter): void {
    const queue = this.#queues[waiter.priority];
    const i = queue.indexOf(waiter);
    if (i >= 0) queue.splice(i, 1);
  }

  /** How many waiting callers could be granted now (in-flight room and the low cap allowing). */
  grantable(): number {
    const room = this.maxInFlight - this.#inFlight;
    const lowRoom = Math.max(0, this.lowCap - this.#lowInFlight);
    const eligible =
      this.#queues.high.length + this.#queues.normal.length + Math.min(this.#queues.low.length, lowRoom);
    return Math.max(0, Math.min(room, eligible));
  }

  #next(): Waiter | undefined {
    for (const p of PRIORITIES) {
      const head = this.#queues[p][0];
      if (!head) continue;
      if (p === 'low' && this.#lowInFlight >= this.lowCap) return undefined;
      return head;
    }
    return undefined;
  }

  /** Gives a place to the highest-priority eligible caller; false when none can go. */
  grant(): boolean {
    if (this.#inFlight >= this.maxInFlight) return false;
    const waiter = this.#next();
    if (!waiter) return false;
    this.#remove(waiter);
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    this.#inFlight++;
    const low = waiter.priority === 'low';
    if (low) this.#lowInFlight++;
    let released = false;
    this.#options.onGrant?.(waiter.priority, this.#now() - waiter.since);
    waiter.resolve(() => {
      if (released) return;
      released = true;
      this.#inFlight--;
      if (low) this.#lowInFlight--;
      this.#options.onChange();
    });
    return true;
  }

  /** Fails the highest-priority eligible caller (the slot it would have had could not be taken). */
  fail(error: Error): boolean {
    const waiter = this.#next();
    if (!waiter) return false;
    this.#remove(waiter);
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.reject(error);
    return true;
  }
}
