// Fault injection shared by the four sandbox systems: latency, 5xx error rate, outage windows,
// 429 storms, "applied but timed out" writes, and duplicate / out-of-order webhook delivery.
// Faults are set at start and changed at runtime (`/_sandbox/faults`); every random decision
// draws from a seeded generator, so a sequential run with the same seed injects the same faults.
import { SandboxFaultsInvalidError } from './errors.ts';
import { Rng } from './rng.ts';

export interface LatencyFault {
  /** Added to every request, in ms (default 0). */
  readonly fixedMs?: number;
  /** Uniform random extra in [0, jitterMs], in ms (default 0). */
  readonly jitterMs?: number;
}

export interface OutageWindow {
  /** Start, in ms after the faults were applied (default 0: now). */
  readonly startInMs?: number;
  /** Length, in ms. */
  readonly durationMs: number;
  /**
   * How the system is down (default `refuse`): `refuse` closes the listening socket (clients get
   * ECONNREFUSED) and reopens it on the same port afterwards; `reset` accepts connections and
   * destroys them at once; `503` answers 503 with Retry-After.
   */
  readonly mode?: 'refuse' | 'reset' | '503';
}

export interface RateLimitStorm {
  /** Start, in ms after the faults were applied (default 0). */
  readonly startInMs?: number;
  /** Length, in ms. */
  readonly durationMs: number;
  /** Fraction of requests answered 429 during the storm (default 1). */
  readonly rate?: number;
  /** `Retry-After` value sent, in seconds (default 1). */
  readonly retryAfterSeconds?: number;
}

export interface AppliedButTimedOutFault {
  /** Fraction of successful writes (POST, PUT, PATCH, DELETE) affected (default 0). */
  readonly rate: number;
  /**
   * What the client sees after the write is committed (default `destroy`): `destroy` drops the
   * connection without an answer; `delay` holds the answer for `delayMs`.
   */
  readonly mode?: 'destroy' | 'delay';
  /** With `delay`: how long the answer is held, in ms (default 30000). */
  readonly delayMs?: number;
  /** Affect at most this many writes, then stop (default unlimited). */
  readonly count?: number;
}

export interface WebhookFaults {
  /** Fraction of deliveries sent a second time with the same webhook-id (default 0). */
  readonly duplicateRate?: number;
  /** Fraction of deliveries held back and sent after the next one (default 0). */
  readonly reorderRate?: number;
}

export interface FailNextFault {
  /** How many of the next API requests fail. */
  readonly count: number;
  /** `reset` destroys the connection before anything is applied; a number answers that status (default `reset`). */
  readonly mode?: 'reset' | number;
  /** Count only writes (POST, PUT, PATCH, DELETE); reads pass (default false). */
  readonly writesOnly?: boolean;
}

export interface FaultConfig {
  readonly latency?: LatencyFault;
  /** The next requests fail, deterministically, before doing anything (for tests). */
  readonly failNext?: FailNextFault;
  /** Fraction of API requests answered with a 5xx before doing anything (default 0). */
  readonly errorRate?: number;
  readonly outages?: readonly OutageWindow[];
  readonly rateLimitStorms?: readonly RateLimitStorm[];
  readonly appliedButTimedOut?: AppliedButTimedOutFault;
  readonly webhooks?: WebhookFaults;
}

export interface FaultStats {
  delayed: number;
  errors: number;
  outageRejected: number;
  rateLimited: number;
  appliedButTimedOut: number;
  webhookDuplicates: number;
  webhookReorders: number;
}

/** What the injector decided for one request, before the handler runs. */
export type RequestVerdict =
  | { readonly kind: 'pass'; readonly delayMs: number }
  | { readonly kind: 'error'; readonly status: number; readonly delayMs: number }
  | { readonly kind: 'outage'; readonly mode: 'reset' | '503'; readonly retryAfterSeconds: number }
  | { readonly kind: 'reset' }
  | { readonly kind: 'rate-limited'; readonly retryAfterSeconds: number; readonly delayMs: number };

interface ActiveWindow<T> {
  readonly startMs: number;
  readonly endMs: number;
  readonly spec: T;
}

/** Outage transitions the server acts on (closing and reopening its listener). */
export interface OutageListener {
  (event: { readonly down: boolean; readonly mode: 'refuse' | 'reset' | '503' }): void;
}

export class FaultInjector {
  private config: FaultConfig = {};
  private appliedAtMs = Date.now();
  private outages: ActiveWindow<OutageWindow>[] = [];
  private storms: ActiveWindow<RateLimitStorm>[] = [];
  private timedOutLeft = Infinity;
  private failNextLeft = 0;
  private timers: NodeJS.Timeout[] = [];
  private listener: OutageListener | undefined;
  private rng: Rng;
  readonly stats: FaultStats = emptyStats();

  constructor(config: FaultConfig = {}, seed = 1) {
    this.rng = new Rng(seed);
    this.set(config);
  }

  /** Registers the server's handler for `refuse` outages; called when a window opens and closes. */
  onOutage(listener: OutageListener): void {
    this.listener = listener;
    this.schedule();
  }

  /** Replaces the whole configuration; windows count from now. */
  set(config: FaultConfig, seed?: number): void {
    validateFaults(config);
    if (seed !== undefined) this.rng = new Rng(seed);
    this.config = structuredClone(config);
    this.appliedAtMs = Date.now();
    this.outages = (config.outages ?? []).map((spec) => this.window(spec));
    this.storms = (config.rateLimitStorms ?? []).map((spec) => this.window(spec));
    this.timedOutLeft = config.appliedButTimedOut?.count ?? Infinity;
    this.failNextLeft = config.failNext?.count ?? 0;
    this.schedule();
  }

  /** Merges top-level keys into the configuration (windows given here count from now). */
  patch(partial: FaultConfig): void {
    this.set({ ...this.config, ...partial });
  }

  clear(): void {
    this.set({});
  }

  describe(): { config: FaultConfig; appliedAt: string; stats: FaultStats; down: boolean } {
    return {
      config: this.config,
      appliedAt: new Date(this.appliedAtMs).toISOString(),
      stats: { ...this.stats },
      down: this.currentOutage() !== undefined,
    };
  }

  /** Decides what happens to one API request (admin routes are never faulted). */
  onRequest(method = 'GET'): RequestVerdict {
    const outage = this.currentOutage();
    if (outage !== undefined) {
      this.stats.outageRejected++;
      const mode = outage.spec.mode ?? 'refuse';
      return {
        kind: 'outage',
        // A request that slipped in on a connection opened before a `refuse` window is reset.
        mode: mode === '503' ? '503' : 'reset',
        retryAfterSeconds: Math.max(1, Math.ceil((outage.endMs - Date.now()) / 1000)),
      };
    }
    const write = method !== 'GET' && method !== 'HEAD';
    if (this.failNextLeft > 0 && (write || this.config.failNext?.writesOnly !== true)) {
      this.failNextLeft--;
      this.stats.errors++;
      const mode = this.config.failNext?.mode ?? 'reset';
      if (mode === 'reset') return { kind: 'reset' };
      if (mode === 429) return { kind: 'rate-limited', retryAfterSeconds: 1, delayMs: 0 };
      return { kind: 'error', status: mode, delayMs: 0 };
    }
    const delayMs = this.delay();
    const storm = this.currentStorm();
    if (storm !== undefined && this.rng.chance(storm.spec.rate ?? 1)) {
      this.stats.rateLimited++;
      return { kind: 'rate-limited', retryAfterSeconds: storm.spec.retryAfterSeconds ?? 1, delayMs };
    }
    const errorRate = this.config.errorRate ?? 0;
    if (errorRate > 0 && this.rng.chance(errorRate)) {
      this.stats.errors++;
      return { kind: 'error', status: this.rng.pick([500, 502, 503]), delayMs };
    }
    return { kind: 'pass', delayMs };
  }

  /** After a successful write: whether to commit-then-drop its answer, and how. */
  onWriteCommitted(): { readonly mode: 'destroy' | 'delay'; readonly delayMs: number } | undefined {
    const fault = this.config.appliedButTimedOut;
    if (fault === undefined || fault.rate <= 0 || this.timedOutLeft <= 0) return undefined;
    if (!this.rng.chance(fault.rate)) return undefined;
    this.timedOutLeft--;
    this.stats.appliedButTimedOut++;
    return { mode: fault.mode ?? 'destroy', delayMs: fault.delayMs ?? 30_000 };
  }

  /** For the webhook dispatcher: send this delivery twice? */
  duplicateDelivery(): boolean {
    const rate = this.config.webhooks?.duplicateRate ?? 0;
    if (rate <= 0 || !this.rng.chance(rate)) return false;
    this.stats.webhookDuplicates++;
    return true;
  }

  /** For the webhook dispatcher: hold this delivery back behind the next one? */
  reorderDelivery(): boolean {
    const rate = this.config.webhooks?.reorderRate ?? 0;
    if (rate <= 0 || !this.rng.chance(rate)) return false;
    this.stats.webhookReorders++;
    return true;
  }

  /** Whether a `refuse` outage is in force now (the server keeps its listener closed). */
  refusing(): boolean {
    const outage = this.currentOutage();
    return outage !== undefined && (outage.spec.mode ?? 'refuse') === 'refuse';
  }

  /** Drops pending outage timers (on server stop). */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.listener = undefined;
  }

  private window<T extends { startInMs?: number; durationMs: number }>(spec: T): ActiveWindow<T> {
    const startMs = this.appliedAtMs + (spec.startInMs ?? 0);
    return { startMs, endMs: startMs + spec.durationMs, spec };
  }

  private currentOutage(): ActiveWindow<OutageWindow> | undefined {
    const now = Date.now();
    return this.outages.find((w) => now >= w.startMs && now < w.endMs);
  }

  private currentStorm(): ActiveWindow<RateLimitStorm> | undefined {
    const now = Date.now();
    return this.storms.find((w) => now >= w.startMs && now < w.endMs);
  }

  private delay(): number {
    const fixed = this.config.latency?.fixedMs ?? 0;
    const jitter = this.config.latency?.jitterMs ?? 0;
    const ms = fixed + (jitter > 0 ? this.rng.next() * jitter : 0);
    if (ms > 0) this.stats.delayed++;
    return ms;
  }

  // Tells the server when `refuse` windows open and close, so it can close and reopen its socket.
  private schedule(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    const listener = this.listener;
    if (listener === undefined) return;
    const now = Date.now();
    const notify = () => listener({ down: this.refusing(), mode: 'refuse' });
    for (const w of this.outages) {
      if ((w.spec.mode ?? 'refuse') !== 'refuse' || w.endMs <= now) continue;
      this.timers.push(setTimeout(notify, Math.max(0, w.startMs - now)));
      this.timers.push(setTimeout(notify, w.endMs - now + 1));
    }
    notify();
  }
}

function emptyStats(): FaultStats {
  return {
    delayed: 0,
    errors: 0,
    outageRejected: 0,
    rateLimited: 0,
    appliedButTimedOut: 0,
    webhookDuplicates: 0,
    webhookReorders: 0,
  };
}

/** Rejects nonsense early (rates outside 0..1, negative durations) with a message naming the key. */
export function validateFaults(config: FaultConfig): void {
  const rate = (key: string, v: number | undefined) => {
    if (v !== undefined && !(v >= 0 && v <= 1)) {
      throw new SandboxFaultsInvalidError(key, `must be between 0 and 1, got ${v}`);
    }
  };
  const nonNegative = (key: string, v: number | undefined) => {
    if (v !== undefined && !(v >= 0)) throw new SandboxFaultsInvalidError(key, `must be >= 0, got ${v}`);
  };
  rate('errorRate', config.errorRate);
  nonNegative('failNext.count', config.failNext?.count);
  const failMode = config.failNext?.mode;
  if (
    failMode !== undefined &&
    failMode !== 'reset' &&
    !(Number.isInteger(failMode) && failMode >= 400 && failMode <= 599)
  ) {
    throw new SandboxFaultsInvalidError(
      'failNext.mode',
      `must be 'reset' or an HTTP status from 400 to 599, got ${String(failMode)}`,
    );
  }
  nonNegative('latency.fixedMs', config.latency?.fixedMs);
  nonNegative('latency.jitterMs', config.latency?.jitterMs);
  config.outages?.forEach((w, i) => {
    nonNegative(`outages[${i}].startInMs`, w.startInMs);
    nonNegative(`outages[${i}].durationMs`, w.durationMs);
  });
  config.rateLimitStorms?.forEach((w, i) => {
    nonNegative(`rateLimitStorms[${i}].startInMs`, w.startInMs);
    nonNegative(`rateLimitStorms[${i}].durationMs`, w.durationMs);
    rate(`rateLimitStorms[${i}].rate`, w.rate);
  });
  nonNegative('appliedButTimedOut.delayMs', config.appliedButTimedOut?.delayMs);
  rate('appliedButTimedOut.rate', config.appliedButTimedOut?.rate);
  rate('webhooks.duplicateRate', config.webhooks?.duplicateRate);
  rate('webhooks.reorderRate', config.webhooks?.reorderRate);
}
