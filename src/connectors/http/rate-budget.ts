// How fast, and how many at once, Crossdock may call one target system. Every request to a system
// first acquires a slot from that system's budget and releases it when the answer is in. The
// in-process implementation here is a token bucket plus a max-in-flight limit; a cross-process one
// (shared by cluster nodes) can stand behind the same interface.

export const PRIORITIES = ['high', 'normal', 'low'] as const;
/** `high`: a person is waiting (API write-backs); `normal`: workflow steps; `low`: capture and
 * reconciliation, which can wait. Higher priorities are served first when the budget is short. */
export type Priority = (typeof PRIORITIES)[number];

/** Gives the slot back; calling it twice is harmless. */
export type Release = () => void;

export interface RateBudget {
  /** Waits for a slot (a token and an in-flight place). Rejects with `signal.reason` if aborted. */
  acquire(priority?: Priority, signal?: AbortSignal): Promise<Release>;
  /** The system asked us to slow down (429/503 + Retry-After): grant nothing for `ms`. */
  backOff(ms: number): void;
}

export interface TokenBucketOptions {
  /** Sustained requests per second (default 10). */
  readonly ratePerSecond?: number;
  /** Requests that may start at once after a quiet period (default = ratePerSecond, at least 1). */
  readonly burst?: number;
  /** Requests in flight at the same time (default 4). */
  readonly maxInFlight?: number;
  /** Clock, for tests of the refill arithmetic (default `Date.now`). */
  readonly now?: () => number;
}

interface Waiter {
  readonly priority: Priority;
  readonly resolve: (release: Release) => void;
  readonly reject: (reason: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** In-process budget: a token bucket (rate + burst) and a cap on requests in flight. */
export class TokenBucketRateBudget implements RateBudget {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly maxInFlight: number;
  private readonly now: () => number;
  private tokens: number;
  private lastRefill: number;
  private inFlight = 0;
  private pausedUntil = 0;
  private readonly queues: Record<Priority, Waiter[]> = { high: [], normal: [], low: [] };
  private timer: NodeJS.Timeout | undefined;

  constructor(options: TokenBucketOptions = {}) {
    this.ratePerSecond = options.ratePerSecond ?? 10;
    if (!(this.ratePerSecond > 0)) throw new RangeError('ratePerSecond must be > 0');
    this.burst = Math.max(1, options.burst ?? Math.ceil(this.ratePerSecond));
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 4);
    this.now = options.now ?? Date.now;
    this.tokens = this.burst;
    this.lastRefill = this.now();
  }

  /** Requests currently holding a slot. */
  get active(): number {
    return this.inFlight;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.queues.high.length + this.queues.normal.length + this.queues.low.length;
  }

  acquire(priority: Priority = 'normal', signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        priority,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const queue = this.queues[priority];
          const i = queue.indexOf(waiter);
          if (i >= 0) queue.splice(i, 1);
          reject(abortReason(signal));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queues[priority].push(waiter);
      this.pump();
    });
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

  private next(): Waiter | undefined {
    for (const p of PRIORITIES) if (this.queues[p].length > 0) return this.queues[p][0];
    return undefined;
  }

  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    for (;;) {
      const waiter = this.next();
      if (!waiter) return;
      if (this.inFlight >= this.maxInFlight) return; // a release pumps again
      const at = this.now();
      if (at < this.pausedUntil) return this.wake(this.pausedUntil - at);
      this.refill(at);
      if (this.tokens < 1) return this.wake(Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond));
      this.tokens -= 1;
      this.inFlight += 1;
      this.queues[waiter.priority].shift();
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      let released = false;
      waiter.resolve(() => {
        if (released) return;
        released = true;
        this.inFlight -= 1;
        this.pump();
      });
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

/** The abort reason as an Error (`AbortSignal.reason` may be anything a caller passed). */
export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}
