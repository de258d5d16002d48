// Rate budgets per target system (an ERP that allows 20 calls/s, a carrier API that answers 429), kept
// in the store so every process on the database draws on the same budget. One budget per system serves
// every caller: connectors (the handle implements the connectors' `RateBudget`), workflow steps
// (`StepOptions.budget`) and queue dispatch (`QueueOptions.budget`).
//
// The rate is a GCRA schedule rather than a polled token bucket: each slot is reserved with one atomic
// UPDATE (`wf_budgets.tokens` holds the theoretical arrival time of the next call, in epoch ms) and the
// process sleeps until it. Slots are reserved for callers waiting here but handed out only when they
// come, to the highest-priority caller waiting then, so a high call that arrives late still goes first.
import { CompiledQuery } from 'kysely';
import { PriorityWaiters, type Priority, type RateBudget, type Release } from '../budgets/index.ts';
import type { Store } from '../store/index.ts';
import { silentLogger, type Logger } from '../telemetry/index.ts';
import { WorkflowDefinitionInvalidError } from './errors.ts';
import type { WorkflowTables } from './workflow-journal.ts';

export interface SystemBudgetOptions {
  /** Sustained calls per second, shared by every process on the store (default 10). */
  readonly ratePerSecond?: number;
  /** Calls that may go at once after a quiet period (default 1: no bursts). */
  readonly burst?: number;
  /** Calls in flight at once from this process (default unlimited). */
  readonly maxInFlight?: number;
  /** Share of this process's in-flight places `low` calls may hold (default 0.5, at least one place). */
  readonly lowShare?: number;
}

export interface BudgetOptions extends SystemBudgetOptions {
  /** Name of the target system, e.g. `erp`. */
  readonly name: string;
}

/** A permission to make one call; release it when the call ends. */
export interface BudgetPermit {
  release(): void;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface Shared {
  readonly store: Store;
  readonly now: () => number;
  readonly take: string;
  readonly logger: Logger;
  readonly onWait: ((budget: string, priority: Priority, waitedMs: number) => void) | undefined;
}

/** One target system's budget in this process; hand it to connectors as their `rateBudget`. */
export class SystemBudget implements RateBudget {
  readonly name: string;
  ratePerSecond = 10;
  burst = 1;
  readonly #shared: Shared;
  readonly #waiters: PriorityWaiters;
  /** Slots reserved in the store and not yet come. */
  #reserving = 0;
  /** Local view of the back-off, so this process pauses before the store write commits. */
  #pausedUntil = 0;
  #ready: Promise<void> | undefined;

  constructor(name: string, options: SystemBudgetOptions, shared: Shared) {
    this.name = name;
    this.#shared = shared;
    const onWait = shared.onWait;
    this.#waiters = new PriorityWaiters({
      now: shared.now,
      ...(onWait ? { onGrant: (p: Priority, ms: number) => onWait(name, p, ms) } : {}),
      onChange: () => this.#pump(),
    });
    this.configure(options);
  }

  /** Sets this process's settings; calls holding or waiting for a slot keep their place. */
  configure(options: SystemBudgetOptions): void {
    const rate = options.ratePerSecond ?? 10;
    if (!(rate > 0))
      throw new WorkflowDefinitionInvalidError(`budget "${this.name}" needs ratePerSecond > 0`);
    this.ratePerSecond = rate;
    this.burst = Math.max(1, options.burst ?? 1);
    this.#waiters.configure(options.maxInFlight, options.lowShare);
  }

  /** Calls holding a place in this process. */
  get active(): number {
    return this.#waiters.active;
  }

  /** Calls waiting in this process. */
  get waiting(): number {
    return this.#waiters.waiting;
  }

  /** Creates the budget's row if no process has yet (idempotent, once per process). */
  ready(): Promise<void> {
    this.#ready ??= this.#shared.store
      .durable(async (tx) => {
        await tx
          .db<WorkflowTables>()
          .insertInto('wf_budgets')
          .values({ name: this.name, tokens: 0, refilled_at: this.#shared.now(), blocked_until: 0 })
          .onConflict((oc) => oc.column('name').doNothing())
          .execute();
      })
      .catch((error: unknown) => {
        this.#ready = undefined;
        throw error;
      });
    return this.#ready;
  }

  acquire(priority: Priority = 'normal', signal?: AbortSignal): Promise<Release> {
    return this.#waiters.add(priority, signal);
  }

  /** Stops every process from calling this system for `ms` (a 429 or 503 with Retry-After). */
  backOff(ms: number): void {
    void this.recordBackOff(ms);
  }

  /**
   * `backOff`, resolving when the store holds it. Applies in this process at once; never rejects (a
   * failed write is logged, and this process still pauses).
   */
  recordBackOff(ms: number): Promise<void> {
    if (!(ms > 0)) return Promise.resolve();
    const until = this.#shared.now() + ms;
    this.#pausedUntil = Math.max(this.#pausedUntil, until);
    return this.ready()
      .then(() =>
        this.#shared.store.durable(async (tx) => {
          await tx
            .db<WorkflowTables>()
            .updateTable('wf_budgets')
            .set({ blocked_until: until })
            .where('name', '=', this.name)
            .where('blocked_until', '<', until)
            .execute();
        }),
      )
      .catch((error: unknown) =>
        this.#shared.logger.error({ err: error, budget: this.name }, 'rate budget back-off not stored'),
      );
  }

  /** Reserves as many slots as there are callers that could use them, never more. */
  #pump(): void {
    while (this.#reserving < this.#waiters.grantable()) {
      this.#reserving++;
      void this.#slot();
    }
  }

  async #slot(): Promise<void> {
    try {
      for (;;) {
        const at = await this.#reserve();
        // Timers may fire a millisecond early against the wall clock: wait until the slot has come.
        for (let wait = at - this.#shared.now(); wait > 0; wait = at - this.#shared.now()) await sleep(wait);
        // A back-off seen here after the slot was reserved: take a new slot, which starts after it.
        if (this.#shared.now() >= this.#pausedUntil) break;
      }
      this.#reserving--;
      // No caller left for it (one gave up): the slot goes unused, the rate is never exceeded.
      this.#waiters.grant();
    } catch (error) {
      this.#reserving--;
      this.#waiters.fail(error instanceof Error ? error : new Error(String(error)));
    }
    this.#pump();
  }

  /** Reserves the next slot of the shared schedule; returns when it comes, in epoch ms. */
  async #reserve(): Promise<number> {
    await this.ready();
    const interval = 1000 / this.ratePerSecond;
    const now = this.#shared.now();
    const floor = Math.max(now - (this.burst - 1) * interval, this.#pausedUntil);
    const next = await this.#shared.store.durable(async (tx) => {
      const result = await tx
        .db<WorkflowTables>()
        .executeQuery<{ tokens: number | string; blocked_until: number | string }>(
          CompiledQuery.raw(this.#shared.take, [floor, interval, now, this.name]),
        );
      const row = result.rows[0];
      if (!row) throw new WorkflowDefinitionInvalidError(`rate budget "${this.name}" has no row`);
      // Another process's back-off, learnt here: slots this process reserved before it wait too.
      this.#pausedUntil = Math.max(this.#pausedUntil, Number(row.blocked_until));
      return Number(row.tokens);
    });
    return Math.ceil(next - interval);
  }
}

/** The budgets of every target system, by name. */
export class RateBudgets {
  readonly #shared: Shared;
  readonly #budgets = new Map<string, SystemBudget>();

  constructor(options: {
    store: Store;
    now?: () => number;
    logger?: Logger;
    /** Called for every granted call with the time it waited (the runtime turns it into an event). */
    onWait?: (budget: string, priority: Priority, waitedMs: number) => void;
  }) {
    const pg = options.store.dialect === 'postgres';
    const greatest = pg ? 'GREATEST' : 'MAX';
    const p = pg ? (i: number) => `$${i}` : () => '?';
    // next = max(previous next, now - (burst - 1) * interval, blocked_until) + interval; the call goes at next - interval.
    const take = `UPDATE wf_budgets SET tokens = ${greatest}(tokens, ${p(1)}, blocked_until) + ${p(2)}, refilled_at = ${p(3)}
      WHERE name = ${p(4)} RETURNING tokens, blocked_until`;
    this.#shared = {
      store: options.store,
      now: options.now ?? Date.now,
      take,
      logger: options.logger ?? silentLogger(),
      onWait: options.onWait,
    };
  }

  /**
   * The budget of system `name`, created on first use with `options`; later calls return the same
   * budget (options given again change this process's settings in place). Keep rate and burst equal across
   * processes: the schedule is shared, each process computes its slots with its own settings.
   */
  forSystem(name: string, options?: SystemBudgetOptions): SystemBudget {
    const existing = this.#budgets.get(name);
    if (existing) {
      if (options !== undefined) existing.configure(options);
      return existing;
    }
    const budget = new SystemBudget(name, options ?? {}, this.#shared);
    this.#budgets.set(name, budget);
    return budget;
  }

  /** Declares a budget and makes sure its row exists (idempotent). */
  async define(options: BudgetOptions): Promise<SystemBudget> {
    const { name, ...rest } = options;
    const budget = this.forSystem(name, rest);
    await budget.ready();
    return budget;
  }

  has(name: string): boolean {
    return this.#budgets.has(name);
  }

  #get(name: string): SystemBudget {
    const budget = this.#budgets.get(name);
    if (!budget) throw new WorkflowDefinitionInvalidError(`rate budget "${name}" is not defined`);
    return budget;
  }

  /** Waits for a slot of `name`; `signal` abandons the wait. */
  async acquire(name: string, signal?: AbortSignal, priority: Priority = 'normal'): Promise<BudgetPermit> {
    const release = await this.#get(name).acquire(priority, signal);
    return { release };
  }

  /** Stops every process from calling `name` for `ms` (a 429 or 503 with Retry-After). */
  backOff(name: string, ms: number): Promise<void> {
    return this.#get(name).recordBackOff(ms);
  }

  /**
   * Runs `fn` under the budget. An error carrying `retryAfterMs`, or an HTTP status 429, backs the budget
   * off for every process (429 without Retry-After: one second).
   */
  async run<T>(
    name: string,
    fn: () => Promise<T>,
    signal?: AbortSignal,
    priority: Priority = 'normal',
  ): Promise<T> {
    const permit = await this.acquire(name, signal, priority);
    try {
      return await fn();
    } catch (error) {
      const e = error as { retryAfterMs?: unknown; status?: unknown; statusCode?: unknown };
      const retryAfter = typeof e.retryAfterMs === 'number' ? e.retryAfterMs : undefined;
      if (retryAfter !== undefined) await this.backOff(name, retryAfter);
      else if (e.status === 429 || e.statusCode === 429) await this.backOff(name, 1000);
      throw error;
    } finally {
      permit.release();
    }
  }
}
