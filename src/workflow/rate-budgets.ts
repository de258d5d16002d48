// Rate budgets per target system (an ERP that allows 20 calls/s, a carrier API that answers 429), kept
// in the store so every process on the database draws on the same budget; a cap on calls in flight per
// process; and a shared back-off when the target says "slow down" (429/Retry-After).
//
// The budget is a GCRA schedule rather than a polled token bucket: each call reserves the next free slot
// with one atomic UPDATE (`wf_budgets.tokens` holds the theoretical arrival time of the next call, in
// epoch ms) and sleeps until its slot. No slot is lost to polling delays and no caller spins.
import type { Store } from '../store/index.ts';
import { CompiledQuery } from 'kysely';
import { WorkflowDefinitionInvalidError } from './errors.ts';
import type { WorkflowTables } from './workflow-journal.ts';

export interface BudgetOptions {
  /** Name of the target system, e.g. `erp`. */
  readonly name: string;
  /** Sustained calls per second, shared by every process on the store. */
  readonly ratePerSec: number;
  /** Calls that may go at once after a quiet period (default 1: no bursts). */
  readonly burst?: number;
  /** Calls in flight at once from this process (default unlimited). */
  readonly maxInFlight?: number;
}

interface Budget {
  readonly options: Required<BudgetOptions>;
  inFlight: number;
  readonly waiting: (() => void)[];
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

export class RateBudgets {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #budgets = new Map<string, Budget>();
  readonly #take: string;

  constructor(options: { store: Store; now?: () => number }) {
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    const pg = this.#store.dialect === 'postgres';
    const greatest = pg ? 'GREATEST' : 'MAX';
    const p = pg ? (i: number) => `$${i}` : () => '?';
    // next = max(previous next, now - (burst - 1) * interval, blocked_until) + interval; the call goes at next - interval.
    this.#take = `UPDATE wf_budgets SET tokens = ${greatest}(tokens, ${p(1)}, blocked_until) + ${p(2)}, refilled_at = ${p(3)}
      WHERE name = ${p(4)} RETURNING tokens`;
  }

  /** Declares a budget (idempotent). Rate and burst are this process's settings; keep them equal across processes. */
  async define(options: BudgetOptions): Promise<void> {
    if (!(options.ratePerSec > 0))
      throw new WorkflowDefinitionInvalidError(`budget "${options.name}" needs ratePerSec > 0`);
    const resolved: Required<BudgetOptions> = {
      name: options.name,
      ratePerSec: options.ratePerSec,
      burst: Math.max(1, options.burst ?? 1),
      maxInFlight: options.maxInFlight ?? Number.POSITIVE_INFINITY,
    };
    this.#budgets.set(options.name, { options: resolved, inFlight: 0, waiting: [] });
    await this.#store.durable(async (tx) => {
      await tx
        .db<WorkflowTables>()
        .insertInto('wf_budgets')
        .values({ name: options.name, tokens: 0, refilled_at: this.#now(), blocked_until: 0 })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
    });
  }

  has(name: string): boolean {
    return this.#budgets.has(name);
  }

  #budget(name: string): Budget {
    const budget = this.#budgets.get(name);
    if (!budget) throw new WorkflowDefinitionInvalidError(`rate budget "${name}" is not defined`);
    return budget;
  }

  /** Waits for a token of `name` and a free in-flight slot; `signal` abandons the wait. */
  async acquire(name: string, signal?: AbortSignal): Promise<BudgetPermit> {
    const budget = this.#budget(name);
    while (budget.inFlight >= budget.options.maxInFlight) {
      await new Promise<void>((resolve) => budget.waiting.push(resolve));
    }
    budget.inFlight++;
    try {
      signal?.throwIfAborted();
      const slot = await this.#reserve(budget.options);
      // Timers may fire a millisecond early against the wall clock: wait until the slot has come.
      for (let wait = slot - this.#now(); wait > 0; wait = slot - this.#now()) await sleep(wait, signal);
    } catch (error) {
      this.#free(budget);
      throw error;
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#free(budget);
      },
    };
  }

  #free(budget: Budget): void {
    budget.inFlight--;
    budget.waiting.shift()?.();
  }

  /** Reserves the next slot of the schedule; returns when it comes, in epoch ms. */
  async #reserve(o: Required<BudgetOptions>): Promise<number> {
    const interval = 1000 / o.ratePerSec;
    const now = this.#now();
    const next = await this.#store.durable(async (tx) => {
      const result = await tx
        .db<WorkflowTables>()
        .executeQuery<{ tokens: number | string }>(
          CompiledQuery.raw(this.#take, [now - (o.burst - 1) * interval, interval, now, o.name]),
        );
      const row = result.rows[0];
      if (!row)
        throw new WorkflowDefinitionInvalidError(`rate budget "${o.name}" has no row; call define() first`);
      return Number(row.tokens);
    });
    return Math.ceil(next - interval);
  }

  /** Stops every process from calling `name` for `ms` (a 429 or 503 with Retry-After). */
  async backOff(name: string, ms: number): Promise<void> {
    this.#budget(name);
    const until = this.#now() + ms;
    await this.#store.durable(async (tx) => {
      const db = tx.db<WorkflowTables>();
      await db
        .updateTable('wf_budgets')
        .set({ blocked_until: until })
        .where('name', '=', name)
        .where('blocked_until', '<', until)
        .execute();
    });
  }

  /**
   * Runs `fn` under the budget. An error carrying `retryAfterMs`, or an HTTP status 429, backs the budget
   * off for every process (429 without Retry-After: one second).
   */
  async run<T>(name: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const permit = await this.acquire(name, signal);
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
