// The workflow runtime: registry of workflow versions, idempotent start, recovery of runs left in flight
// by a dead process, leases with heartbeats, and waiting for results. Operator actions (retry, resume,
// cancel) live in WorkflowAdminService, which calls back into `dispatch`/`cancelLocal` here.
import type { Priority } from '../budgets/index.ts';
import type { Store } from '../store/index.ts';
import { silentLogger, type Logger } from '../telemetry/index.ts';
import {
  WorkflowCancelledError,
  WorkflowDefinitionInvalidError,
  WorkflowNotRegisteredError,
  WorkflowRunConflictError,
  WorkflowRunFailedError,
  WorkflowRunNotFoundError,
} from './errors.ts';
import { RateBudgets } from './rate-budgets.ts';
import { newRunId } from './run-id.ts';
import { RunExecution, type ResumeReason, type RunSettlement } from './run-execution.ts';
import type { WorkflowDefinition } from './workflow-definition.ts';
import { WorkflowEvents } from './workflow-events.ts';
import { WorkflowJournal, type RunRecord } from './workflow-journal.ts';
import type { WorkflowStats } from './workflow-metrics.ts';

export interface WorkflowRuntimeOptions {
  readonly store: Store;
  readonly logger?: Logger;
  /**
   * Identity of this worker, stored as the owner of the runs it executes (default `local`). A process
   * restarted with the same id takes its own in-flight runs back at once instead of waiting for their
   * leases to expire; in a cluster give every process its own stable id (pod or host name).
   */
  readonly executorId?: string;
  /** How long a run stays owned by a worker that stopped heartbeating, in ms (default 30000). */
  readonly leaseMs?: number;
  /** Heartbeat period, in ms (default leaseMs / 3). */
  readonly heartbeatMs?: number;
  /** How often `launch()`ed runtimes look for pending and abandoned runs, in ms (default 1000). */
  readonly pollIntervalMs?: number;
  /** Most runs this process resumes at once from recovery and polling (default 200). */
  readonly maxRecoveredRuns?: number;
  /** How often `result()` re-reads a run that executes in another process, in ms (default 200). */
  readonly resultPollMs?: number;
  /** How often a signal wait re-reads the store for signals sent from other processes, in ms (default 500). */
  readonly signalPollMs?: number;
  /**
   * A sleep or signal wait longer than this parks the run: its execution ends, the run waits in the store
   * (`waiting`, no lease) and a launched runtime's poll resumes it when due or when a signal arrives, in
   * ms (default 30000). Waits while other steps of the run are in flight stay in memory.
   */
  readonly parkAfterMs?: number;
  /** Clock in epoch ms (default Date.now); tests pass their own. */
  readonly now?: () => number;
  /** Source of jitter in [0, 1) (default Math.random). */
  readonly random?: () => number;
}

export interface StartOptions {
  /** Run id; starting twice with the same id gives one run (default a new ULID). */
  readonly runId?: string;
  /** Tenant the run belongs to (default `default`). */
  readonly tenantId?: string;
  /** Searchable business keys, e.g. `{ order: 'SO-1042', case: 'RT-77' }` (default none). */
  readonly businessKeys?: Readonly<Record<string, string>>;
}

export interface QueueOptions {
  readonly name: string;
  /** Most runs of this queue running at once, across every worker on the store (default 10). */
  readonly concurrency?: number;
  /** Most runs of this queue this process runs at once (default `concurrency`). */
  readonly workerConcurrency?: number;
  /**
   * Rate budget (of `runtime.budgets`) a run of this queue takes one slot of before it starts, so runs
   * start no faster than the target system's rate (default none). Steps that call the system through a
   * connector or `StepOptions.budget` take their own slots on top.
   */
  readonly budget?: string;
  /** Priority of the queue's starts on its budget (default `normal`; `low` for backfills). */
  readonly budgetPriority?: Priority;
}

export interface EnqueueOptions extends StartOptions {
  /** Queue to wait in; it must be registered with `registerQueue` by the workers that run it. */
  readonly queue: string;
  /** Higher runs first within the queue; equal priorities run oldest first (default 0). */
  readonly priority?: number;
}

export interface RunHandle<Out> {
  readonly runId: string;
  /** False when a run with this id existed already and this call attached to it. */
  readonly created: boolean;
  /** Waits for the run to end: its output, or WORKFLOW_RUN_FAILED / WORKFLOW_CANCELLED. */
  result(): Promise<Out>;
}

type AnyDefinition = WorkflowDefinition<unknown, unknown>;

export class WorkflowRuntime {
  readonly events = new WorkflowEvents();
  readonly journal: WorkflowJournal;
  /** Rate budgets per target system, shared through the store by every process (see rate-budgets.ts). */
  readonly budgets: RateBudgets;
  readonly executorId: string;
  readonly #logger: Logger;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #pollMs: number;
  readonly #maxRecovered: number;
  readonly #resultPollMs: number;
  readonly #signalPollMs: number;
  readonly #parkAfterMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #definitions = new Map<string, Map<number, AnyDefinition>>();
  readonly #active = new Map<string, RunExecution>();
  readonly #versionMissingReported = new Set<string>();
  readonly #undefinedBudgetReported = new Set<string>();
  readonly #queues = new Map<
    string,
    { concurrency: number; workerConcurrency: number; budget?: string; budgetPriority: Priority }
  >();
  #dispatchSoon = false;
  #timers: NodeJS.Timeout[] = [];
  #polling: Promise<void> | undefined;
  #launched = false;
  #stopping = false;

  constructor(options: WorkflowRuntimeOptions) {
    this.journal = new WorkflowJournal(options.store);
    this.executorId = options.executorId ?? 'local';
    this.#logger = options.logger ?? silentLogger();
    this.budgets = new RateBudgets({
      store: options.store,
      logger: this.#logger,
      ...(options.now === undefined ? {} : { now: options.now }),
      onWait: (budget, priority, waitedMs) => {
        if (this.events.has('budget:waited'))
          this.events.emit('budget:waited', { budget, priority, waitedMs });
      },
    });
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#heartbeatMs = options.heartbeatMs ?? Math.max(1, Math.floor(this.#leaseMs / 3));
    this.#pollMs = options.pollIntervalMs ?? 1000;
    this.#maxRecovered = options.maxRecoveredRuns ?? 200;
    this.#resultPollMs = options.resultPollMs ?? 200;
    this.#signalPollMs = options.signalPollMs ?? 500;
    this.#parkAfterMs = options.parkAfterMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.events.onListenerError = (event, error) =>
      this.#logger.error({ err: error, event }, 'workflow event listener threw');
  }

  /** Registers a workflow version. Several versions of one name may be registered side by side. */
  register<In, Out>(definition: WorkflowDefinition<In, Out>): this {
    let versions = this.#definitions.get(definition.name);
    if (!versions) {
      versions = new Map();
      this.#definitions.set(definition.name, versions);
    }
    if (versions.has(definition.version)) {
      throw new WorkflowDefinitionInvalidError(
        `workflow "${definition.name}" version ${definition.version} is registered twice`,
      );
    }
    versions.set(definition.version, definition as unknown as AnyDefinition);
    return this;
  }

  /** Declares a queue this process takes runs from (after `launch`). */
  registerQueue(options: QueueOptions): this {
    const concurrency = options.concurrency ?? 10;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new WorkflowDefinitionInvalidError(`queue "${options.name}" concurrency must be an integer >= 1`);
    }
    this.#queues.set(options.name, {
      concurrency,
      workerConcurrency: Math.max(1, options.workerConcurrency ?? concurrency),
      ...(options.budget === undefined ? {} : { budget: options.budget }),
      budgetPriority: options.budgetPriority ?? 'normal',
    });
    return this;
  }

  /**
   * Puts a run of the workflow's current version in a queue; a worker that registered the queue runs it
   * when the queue has room. Idempotent like `start`: the same run id gives one run.
   */
  async enqueue<In, Out>(
    workflow: WorkflowDefinition<In, Out> | string,
    input: In,
    options: EnqueueOptions,
  ): Promise<RunHandle<Out>> {
    const name = typeof workflow === 'string' ? workflow : workflow.name;
    const version = typeof workflow === 'string' ? this.currentVersion(name) : workflow.version;
    if (version === undefined) throw new WorkflowNotRegisteredError(name);
    const now = this.#now();
    const runId = options.runId ?? newRunId(now);
    const tenantId = options.tenantId ?? 'default';
    const created = await this.journal.insertRun({
      runId,
      tenantId,
      workflowName: name,
      workflowVersion: version,
      status: 'pending',
      input: input === undefined ? null : JSON.stringify(input),
      businessKeys: { ...(options.businessKeys ?? {}) },
      owner: null,
      leaseExpiresAt: null,
      now,
      queue: options.queue,
      priority: options.priority ?? 0,
    });
    if (!created) {
      const stored = await this.journal.getRun(runId);
      if (!stored) throw new WorkflowRunNotFoundError(runId);
      return this.#attach(stored, name, tenantId);
    }
    this.#scheduleDispatch();
    return { runId, created: true, result: () => this.result<Out>(runId) };
  }

  /** Runs a queue pass soon (after an enqueue or when a queued run ends), if this runtime is launched. */
  #scheduleDispatch(): void {
    if (!this.#launched || this.#dispatchSoon || this.#queues.size === 0) return;
    this.#dispatchSoon = true;
    setImmediate(() => {
      this.#dispatchSoon = false;
      this.dispatchQueues().catch((error: unknown) =>
        this.#logger.error({ err: error }, 'workflow queue dispatch failed'),
      );
    });
  }

  /** Runs a recovery pass soon (a parked run here was just signalled), if this runtime is launched. */
  #pollSoon(): void {
    if (!this.#launched || this.#polling) return;
    this.#polling = this.recoverNow(false)
      .then(() => undefined)
      .catch((error: unknown) => this.#logger.error({ err: error }, 'workflow recovery poll failed'))
      .finally(() => (this.#polling = undefined));
  }

  /** One pass over the registered queues; returns how many runs it started. */
  async dispatchQueues(): Promise<number> {
    if (this.#stopping) return 0;
    const versions = this.#versions();
    let started = 0;
    for (const [queue, limits] of this.#queues) {
      if (limits.budget !== undefined && !this.budgets.has(limits.budget)) {
        // Claiming would strand runs waiting for a budget nobody defined: leave them queued, visibly.
        if (!this.#undefinedBudgetReported.has(queue)) {
          this.#undefinedBudgetReported.add(queue);
          this.#logger.error(
            { queue, budget: limits.budget },
            'queue names a rate budget this process has not defined; its runs stay queued',
          );
        }
        continue;
      }
      let mine = 0;
      for (const e of this.#active.values()) if (e.run.queue === queue) mine++;
      const now = this.#now();
      const claimed = await this.journal.claimQueued(
        queue,
        limits.concurrency,
        limits.workerConcurrency - mine,
        versions,
        this.executorId,
        now + this.#leaseMs,
        now,
      );
      for (const run of claimed) {
        const budget = limits.budget;
        await this.#begin(
          run,
          run.leaseEpoch,
          'pending',
          budget === undefined
            ? undefined
            : async (signal) => {
                // One slot of the rate per start; the run holds no in-flight place of the budget.
                (await this.budgets.acquire(budget, signal, limits.budgetPriority)).release();
              },
        );
        started++;
      }
    }
    return started;
  }

  /** The version new runs of `name` start on: the highest registered. */
  currentVersion(name: string): number | undefined {
    const versions = this.#definitions.get(name);
    return versions && versions.size > 0 ? Math.max(...versions.keys()) : undefined;
  }

  #definition(name: string, version: number): AnyDefinition | undefined {
    return this.#definitions.get(name)?.get(version);
  }

  /**
   * Starts a run of the workflow's current version, or attaches to the run with the same id. The run
   * executes in this process; the returned handle waits for its result.
   */
  async start<In, Out>(
    workflow: WorkflowDefinition<In, Out> | string,
    input: In,
    options: StartOptions = {},
  ): Promise<RunHandle<Out>> {
    const name = typeof workflow === 'string' ? workflow : workflow.name;
    const version = this.currentVersion(name);
    if (version === undefined) throw new WorkflowNotRegisteredError(name);
    const definition = this.#definition(name, version)!;
    const runId = options.runId ?? newRunId(this.#now());
    const tenantId = options.tenantId ?? 'default';
    const existing = this.#active.get(runId);
    if (existing) return this.#attach(existing.run, name, tenantId);
    const now = this.#now();
    const run: RunRecord = {
      runId,
      tenantId,
      workflowName: name,
      workflowVersion: version,
      status: 'running',
      input: input === undefined ? null : JSON.stringify(input),
      output: null,
      error: null,
      businessKeys: { ...(options.businessKeys ?? {}) },
      owner: this.executorId,
      leaseEpoch: 1,
      leaseExpiresAt: now + this.#leaseMs,
      recoveryCount: 0,
      createdAt: now,
      updatedAt: now,
      completedAt: null,
      queue: null,
      priority: 0,
      wakeAt: null,
    };
    const execution = this.#newExecution(definition, run, 1, 'fresh');
    // Registered before the insert so the recovery poll never claims a run this process is starting.
    this.#active.set(runId, execution);
    const inserting = this.journal.insertRun({
      runId,
      tenantId,
      workflowName: name,
      workflowVersion: version,
      status: 'running',
      input: run.input,
      businessKeys: run.businessKeys,
      owner: this.executorId,
      leaseExpiresAt: run.leaseExpiresAt,
      now,
    });
    // A run id generated here cannot exist already, so the run may begin while its insert commits: its
    // first step write joins the same batch (runs are written before steps) instead of waiting a commit.
    // With a caller's run id it must not: the id may belong to an existing run, which would run twice.
    const early = options.runId === undefined;
    if (early) this.#run(execution);
    let created: boolean;
    try {
      created = await inserting;
    } catch (error) {
      // Nothing of the run was committed; its step writes fail their fence and it stops.
      if (early) execution.detach();
      this.#active.delete(runId);
      throw error;
    }
    if (!created) {
      if (early) execution.detach();
      this.#active.delete(runId);
      const stored = await this.journal.getRun(runId);
      if (!stored) throw new WorkflowRunNotFoundError(runId);
      return this.#attach(stored, name, tenantId);
    }
    this.events.emit('run:started', {
      runId,
      tenantId,
      workflowName: name,
      workflowVersion: version,
    });
    if (!early) this.#run(execution);
    return { runId, created: true, result: () => this.result<Out>(runId) };
  }

  #attach<Out>(run: RunRecord, name: string, tenantId: string): RunHandle<Out> {
    if (run.workflowName !== name || run.tenantId !== tenantId) {
      throw new WorkflowRunConflictError(run.runId, run.workflowName);
    }
    return { runId: run.runId, created: false, result: () => this.result<Out>(run.runId) };
  }

  /** Waits for a run (executing here or in another process) to end. */
  async result<Out>(runId: string): Promise<Out> {
    for (;;) {
      const active = this.#active.get(runId);
      if (active) {
        const settlement = await active.settled;
        if (settlement.kind !== 'detached') return this.#fromSettlement<Out>(runId, settlement);
      }
      const run = await this.journal.getRun(runId);
      if (!run) throw new WorkflowRunNotFoundError(runId);
      if (run.status === 'completed')
        return (run.output === null ? undefined : JSON.parse(run.output)) as Out;
      if (run.status === 'failed') {
        const e = JSON.parse(run.error ?? '{}') as { code?: string; message?: string };
        throw new WorkflowRunFailedError(runId, e.code ?? 'ERROR', e.message ?? '');
      }
      if (run.status === 'cancelled') throw new WorkflowCancelledError(runId);
      if (!this.#active.has(runId)) await new Promise((r) => setTimeout(r, this.#resultPollMs));
    }
  }

  #fromSettlement<Out>(runId: string, s: Exclude<RunSettlement, { kind: 'detached' }>): Out {
    if (s.kind === 'completed') return s.output as Out;
    if (s.kind === 'cancelled') throw new WorkflowCancelledError(runId);
    throw new WorkflowRunFailedError(runId, s.error.code, s.error.message);
  }

  #newExecution(
    definition: AnyDefinition,
    run: RunRecord,
    epoch: number,
    reason: ResumeReason,
    loaded?: Awaited<ReturnType<WorkflowJournal['loadSteps']>>,
  ): RunExecution {
    return new RunExecution(
      {
        journal: this.journal,
        events: this.events,
        logger: this.#logger,
        now: this.#now,
        random: this.#random,
        signalPollMs: this.#signalPollMs,
        parkAfterMs: this.#parkAfterMs,
        budgets: this.budgets,
        children: {
          start: (workflow, input, options) => this.start(workflow, input, options),
          result: (runId) => this.result(runId),
        },
      },
      definition,
      run,
      epoch,
      reason,
      loaded?.steps,
      loaded?.attempts,
    );
  }

  #run(execution: RunExecution, gate?: (signal: AbortSignal) => Promise<void>): void {
    void execution.execute(gate).finally(() => {
      if (this.#active.get(execution.run.runId) === execution) this.#active.delete(execution.run.runId);
      if (execution.run.queue !== null) this.#scheduleDispatch();
    });
  }

  /**
   * Recovers runs left in flight (by a dead process, or by this executor id before a restart) and
   * pending runs, then keeps polling for them and heartbeating the leases of runs executing here.
   * Resolves once the first recovery pass has claimed what it found.
   */
  async launch(): Promise<void> {
    if (this.#launched) return;
    this.#launched = true;
    this.#stopping = false;
    await this.recoverNow(true);
    await this.dispatchQueues();
    this.#timers.push(
      setInterval(() => {
        if (!this.#polling) {
          this.#polling = this.recoverNow(false)
            .then(() => this.dispatchQueues())
            .then(() => undefined)
            .catch((error: unknown) => this.#logger.error({ err: error }, 'workflow recovery poll failed'))
            .finally(() => (this.#polling = undefined));
        }
      }, this.#pollMs),
      setInterval(() => {
        if (this.#active.size === 0) return;
        this.journal
          .heartbeat(this.executorId, this.#now() + this.#leaseMs, [...this.#active.keys()])
          .catch((error: unknown) => this.#logger.error({ err: error }, 'workflow lease heartbeat failed'));
      }, this.#heartbeatMs),
    );
    for (const t of this.#timers) t.unref();
  }

  /**
   * One recovery pass; returns how many runs it took: unqueued pending runs, runs whose lease expired
   * and parked runs that are due, claimed in one batch (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
   * `startup` first takes back this executor's own runs left in flight before a restart.
   */
  async recoverNow(startup = false): Promise<number> {
    if (this.#stopping) return 0;
    let taken = 0;
    const now = this.#now();
    const room = () => this.#maxRecovered - this.#active.size;
    if (room() <= 0) return 0;
    if (startup) {
      // This executor's own runs, left in flight before a restart: nobody else may take them while
      // their lease lives, so they are not in the claim batch.
      for (const run of await this.journal.findOwned(this.executorId, room())) {
        if (this.#active.has(run.runId)) continue;
        if (await this.dispatch(run, 'recovery')) taken++;
      }
    }
    if (room() <= 0) return taken;
    // An idle poll costs this one read; the claim (a write transaction) runs only when it found work, or
    // a full page (runs of versions not registered here may fill it and hide others).
    const limit = room();
    const page = await this.journal.findClaimable(now, limit);
    let claimable = page.length >= limit;
    for (const run of page) {
      // Runs no registered version can take are left alone, and reported once each.
      if (!this.#definition(run.workflowName, run.workflowVersion)) this.#reportVersionMissing(run);
      // One of this executor's runs that it stopped executing without ending (an unexpected error):
      // heartbeats skipped it, its lease expired, and it is taken back here.
      else if (run.status === 'running' && run.owner === this.executorId) {
        if (!this.#active.has(run.runId) && (await this.dispatch(run, 'recovery'))) taken++;
      } else claimable = true;
    }
    if (!claimable || room() <= 0) return taken;
    const claimed = await this.journal.claimBatch(
      this.executorId,
      now,
      now + this.#leaseMs,
      room(),
      this.#versions(),
    );
    for (const { run, previousStatus, previousOwner } of claimed) {
      const reason: ResumeReason =
        previousStatus === 'running' ? 'recovery' : previousStatus === 'waiting' ? 'timer' : 'pending';
      if (reason === 'recovery') {
        this.events.emit('lease:taken-over', { ...this.#ref(run), previousOwner });
      }
      await this.#begin(run, run.leaseEpoch, reason);
      taken++;
    }
    return taken;
  }

  #versions(): [string, number][] {
    const versions: [string, number][] = [];
    for (const [name, byVersion] of this.#definitions)
      for (const v of byVersion.keys()) versions.push([name, v]);
    return versions;
  }

  #ref(run: RunRecord) {
    return {
      runId: run.runId,
      tenantId: run.tenantId,
      workflowName: run.workflowName,
      workflowVersion: run.workflowVersion,
    };
  }

  #reportVersionMissing(run: RunRecord): void {
    if (this.#versionMissingReported.has(run.runId)) return;
    this.#versionMissingReported.add(run.runId);
    this.#logger.warn(
      { runId: run.runId, workflow: run.workflowName, version: run.workflowVersion },
      'run waits for a worker that has its workflow version registered',
    );
    this.events.emit('run:version-missing', this.#ref(run));
  }

  /** Starts executing a run this process has just claimed under `epoch`. */
  async #begin(
    run: RunRecord,
    epoch: number,
    reason: ResumeReason,
    gate?: (signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    const definition = this.#definition(run.workflowName, run.workflowVersion)!;
    const loaded = await this.journal.loadSteps(run.runId);
    const execution = this.#newExecution(definition, { ...run, status: 'running' }, epoch, reason, loaded);
    this.#active.set(run.runId, execution);
    this.events.emit('run:resumed', { ...this.#ref(run), reason: reason === 'fresh' ? 'pending' : reason });
    this.#run(execution, gate);
  }

  /**
   * Claims a pending or abandoned run and executes it here; false when its version is not registered
   * in this process or another worker claimed it first.
   */
  async dispatch(run: RunRecord, reason: ResumeReason): Promise<boolean> {
    if (this.#stopping || this.#active.has(run.runId)) return false;
    if (!this.#definition(run.workflowName, run.workflowVersion)) {
      this.#reportVersionMissing(run);
      return false;
    }
    const now = this.#now();
    const epoch = await this.journal.claim(
      run.runId,
      run.leaseEpoch,
      this.executorId,
      now + this.#leaseMs,
      reason === 'recovery',
      now,
    );
    if (epoch === null || this.#active.has(run.runId)) return false;
    await this.#begin(run, epoch, reason);
    return true;
  }

  /**
   * Sends signal `name` to a run. Kept until a `waitForSignal(name)` of the run consumes it (oldest
   * first). `signalId` makes sending idempotent (default a new id). Returns false for a duplicate.
   */
  async sendSignal(
    runId: string,
    name: string,
    payload?: unknown,
    options: { signalId?: string; tenantId?: string } = {},
  ): Promise<boolean> {
    const run = await this.journal.getRun(runId);
    if (!run || (options.tenantId !== undefined && run.tenantId !== options.tenantId)) {
      throw new WorkflowRunNotFoundError(runId);
    }
    const created = await this.journal.insertSignal({
      runId,
      signalId: options.signalId ?? newRunId(this.#now()),
      tenantId: run.tenantId,
      name,
      payload: payload === undefined ? null : JSON.stringify(payload),
      now: this.#now(),
    });
    const active = this.#active.get(runId);
    if (active) active.notifySignal(name);
    else if (created && run.status === 'waiting') this.#pollSoon();
    return created;
  }

  /** Aborts a run executing in this process after an operator cancelled it in the store. */
  cancelLocal(runId: string): boolean {
    const execution = this.#active.get(runId);
    if (!execution) return false;
    execution.cancel();
    return true;
  }

  /** What the workflow metrics read at scrape time: leases held here, parked runs, queue depth and lag. */
  async stats(): Promise<WorkflowStats> {
    const now = this.#now();
    const stored = await this.journal.stats(now);
    const queues = new Map<string, { queue: string; depth: number; lagMs: number }>();
    for (const name of this.#queues.keys()) queues.set(name, { queue: name, depth: 0, lagMs: 0 });
    for (const q of stored.queues)
      queues.set(q.queue, { queue: q.queue, depth: q.depth, lagMs: Math.max(0, now - q.oldestCreatedAt) });
    return {
      leasesHeld: this.#active.size,
      waiting: stored.waiting,
      timersDue: stored.timersDue,
      queues: [...queues.values()],
    };
  }

  /** Runs executing in this process. */
  get activeRuns(): number {
    return this.#active.size;
  }

  /**
   * Stops polling and heartbeats, waits up to `drainMs` (default 10000) for runs executing here, then
   * detaches the rest: they stay in flight in the store and are recovered by the next process.
   */
  async shutdown(options: { drainMs?: number } = {}): Promise<void> {
    this.#stopping = true;
    this.#launched = false;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#polling;
    const pending = [...this.#active.values()].map((e) => e.settled);
    const drainMs = options.drainMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(pending),
      new Promise((resolve) => {
        timer = setTimeout(resolve, drainMs);
      }),
    ]);
    clearTimeout(timer);
    for (const execution of this.#active.values()) execution.detach();
    await Promise.all([...this.#active.values()].map((e) => e.settled));
  }
}
