// How fast, and how many at once, a connector constructed on its own (tests, CLI) may call its system:
// an in-process token bucket plus a max-in-flight limit. In the service every connector is given the
// store-backed budget of its system instead (`runtime.budgets.forSystem`), shared with queues and
// workflow steps across processes; both stand behind the `RateBudget` interface of src/budgets.
import {
  abortReason,
  PRIORITIES,
  PriorityWaiters,
  type Priority,
  type RateBudget,
  type Release,
} from '../../budgets/index.ts';

export { abortReason, PRIORITIES };
export type { Priority, RateBudget, Release };

export interface TokenBucketOptions {
  /** Sustained requests per second (default 10). */
  readonly ratePerSecond?: number;
  /** Requests that may start at once after a quiet period (default = ratePerSecond, at least 1). */
  readonly burst?: number;
  /** Requests in flight at the same time (default 4). */
  readonly maxInFlight?: number;
  /** Share of the in-flight places `low` requests may hold (default 0.5, at least one place). */
  readonly lowShare?: number;
  /** Clock, for tests of the refill arithmetic (default `Date.now`). */
  readonly now?: () => number;
}

/** In-process budget: a token bucket (rate + burst) and a cap on requests in flight. */
export class TokenBucketRateBudget implements RateBudget {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly maxInFlight: number;
  private readonly now: () => number;
  private tokens: number;
  private lastRefill: number;
  private pausedUntil = 0;
  private readonly waiters: PriorityWaiters;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: TokenBucketOptions = {}) {
    this.ratePerSecond = options.ratePerSecond ?? 10;
    if (!(this.ratePerSecond > 0)) throw new RangeError('ratePerSecond must be > 0');
    this.burst = Math.max(1, options.burst ?? Math.ceil(this.ratePerSecond));
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 4);
    this.now = options.now ?? Date.now;
    this.tokens = this.burst;
    this.lastRefill = this.now();
    this.waiters = new PriorityWaiters({
      maxInFlight: this.maxInFlight,
      ...(options.lowShare === undefined ? {} : { lowShare: options.lowShare }),
      now: this.now,
      onChange: () => this.pump(),
    });
  }

  /** Requests currently holding a slot. */
  get active(): number {
    return this.waiters.active;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.waiters.waiting;
  }

  acquire(priority: Priority = 'normal', signal?: AbortSignal): Promise<Release> {
    return this.waiters.add(priority, signal);
  }

  backOff(ms: number): void {
    if (!(ms > 0)) return;
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
    // Spend the bucket too: after the pause the system should see the sustained rate, not a burst.
    this.tokens = Math.min(this.tokens, 1);
    this.pump();
  }

  private refill(at: number): void {
    const elapsed = at - this.lastRefill;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
      this.lastRefill = at;
    }
  }

  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.waiters.grantable() > 0) {
      const at = this.now();
      if (at < this.pausedUntil) return this.wake(this.pausedUntil - at);
      this.refill(at);
      if (this.tokens < 1) return this.wake(Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond));
      this.tokens -= 1;
      this.waiters.grant();
    }
  }

  private wake(ms: number): void {
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.pump();
      },
      Math.max(1, ms),
    );
  }
}
