// Every read and write of the workflow tables. Hot-path writes (start, step results, completion) are
// precompiled SQL sent through `store.durable`, so concurrent runs share one commit; each of them is
// fenced by the run's lease epoch, so a worker that lost its lease writes nothing.
import { CompiledQuery, type Generated, type Kysely } from 'kysely';
import type { Store } from '../store/index.ts';
import { WorkflowLeaseLostError } from './errors.ts';
import type { AttemptEffect, AttemptOutcome } from './workflow-events.ts';

/** `waiting`: parked out of memory until `wake_at` (a long sleep or signal wait); no owner, no lease. */
export const RUN_STATUSES = ['pending', 'running', 'waiting', 'completed', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** `retry` marks a failed step an operator sent back for another try. */
export type StepStatus = 'completed' | 'failed' | 'retry';

export interface WfRunsTable {
  run_id: string;
  tenant_id: string;
  workflow_name: string;
  workflow_version: number;
  status: RunStatus;
  input: string | null;
  output: string | null;
  error: string | null;
  business_keys: string;
  owner: string | null;
  lease_epoch: number;
  lease_expires_at: number | string | null;
  recovery_count: number;
  created_at: number | string;
  updated_at: number | string;
  completed_at: number | string | null;
  queue: string | null;
  priority: number;
  wake_at: number | string | null;
}
export interface WfSignalsTable {
  seq: Generated<number>;
  run_id: string;
  signal_id: string;
  tenant_id: string;
  name: string;
  payload: string | null;
  sent_at: number | string;
  consumed_step: number | null;
}
export interface WfBudgetsTable {
  name: string;
  tokens: number;
  refilled_at: number | string;
  blocked_until: number | string;
}
export interface WfRunKeysTable {
  run_id: string;
  key_name: string;
  tenant_id: string;
  key_value: string;
}
export interface WfStepsTable {
  run_id: string;
  step_id: number;
  tenant_id: string;
  step_name: string;
  status: StepStatus;
  input: string | null;
  output: string | null;
  error: string | null;
  key_generation: number;
  attempts: number;
  started_at: number | string;
  completed_at: number | string;
}
export interface WfAttemptsTable {
  run_id: string;
  step_id: number;
  attempt: number;
  tenant_id: string;
  step_name: string;
  idempotency_key: string;
  input: string | null;
  outcome: AttemptOutcome;
  effect: AttemptEffect;
  error_code: string | null;
  error_message: string | null;
  started_at: number | string | null;
  ended_at: number | string | null;
  next_retry_at: number | string | null;
}
export interface WorkflowTables {
  wf_runs: WfRunsTable;
  wf_run_keys: WfRunKeysTable;
  wf_steps: WfStepsTable;
  wf_attempts: WfAttemptsTable;
  wf_signals: WfSignalsTable;
  wf_budgets: WfBudgetsTable;
}

/** A run as the runtime and operators see it; JSON columns are left as text until someone needs them. */
export interface RunRecord {
  readonly runId: string;
  readonly tenantId: string;
  readonly workflowName: string;
  readonly workflowVersion: number;
  readonly status: RunStatus;
  readonly input: string | null;
  readonly output: string | null;
  readonly error: string | null;
  readonly businessKeys: Record<string, string>;
  readonly owner: string | null;
  readonly leaseEpoch: number;
  readonly leaseExpiresAt: number | null;
  readonly recoveryCount: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly completedAt: number | null;
  /** Queue the run waits in while pending (null: started directly). */
  readonly queue: string | null;
  /** Higher runs first within a queue. */
  readonly priority: number;
  /** When a `waiting` run is due to be resumed, in epoch ms. */
  readonly wakeAt: number | null;
}

/** A run claimed by a poll, with what it was before: how it is resumed depends on it. */
export interface ClaimedRun {
  readonly run: RunRecord;
  readonly previousStatus: 'pending' | 'running' | 'waiting';
  readonly previousOwner: string | null;
}

export interface StepRecord {
  readonly runId: string;
  readonly stepId: number;
  readonly tenantId: string;
  readonly stepName: string;
  readonly status: StepStatus;
  readonly input: string | null;
  readonly output: string | null;
  readonly error: string | null;
  readonly keyGeneration: number;
  readonly attempts: number;
  readonly startedAt: number;
  readonly completedAt: number;
}

export interface AttemptRecord {
  readonly runId: string;
  readonly stepId: number;
  readonly attempt: number;
  readonly tenantId: string;
  readonly stepName: string;
  readonly idempotencyKey: string;
  readonly input: string | null;
  readonly outcome: AttemptOutcome;
  readonly effect: AttemptEffect;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly nextRetryAt: number | null;
}

/** Identifies the lease a write is made under. */
export interface Fence {
  readonly runId: string;
  readonly epoch: number;
}

export interface NewRun {
  readonly runId: string;
  readonly tenantId: string;
  readonly workflowName: string;
  readonly workflowVersion: number;
  readonly status: 'running' | 'pending';
  readonly input: string | null;
  readonly businessKeys: Record<string, string>;
  readonly owner: string | null;
  readonly leaseExpiresAt: number | null;
  readonly now: number;
  readonly queue?: string | null;
  readonly priority?: number;
}

/** PostgreSQL BIGINT arrives as a string; SQLite INTEGER as a number. */
function num(v: number | string): number;
function num(v: number | string | null): number | null;
function num(v: number | string | null): number | null {
  return v === null ? null : Number(v);
}

export function toRunRecord(r: WfRunsTable): RunRecord {
  return {
    runId: r.run_id,
    tenantId: r.tenant_id,
    workflowName: r.workflow_name,
    workflowVersion: Number(r.workflow_version),
    status: r.status,
    input: r.input,
    output: r.output,
    error: r.error,
    businessKeys: JSON.parse(r.business_keys) as Record<string, string>,
    owner: r.owner,
    leaseEpoch: Number(r.lease_epoch),
    leaseExpiresAt: num(r.lease_expires_at),
    recoveryCount: Number(r.recovery_count),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    completedAt: num(r.completed_at),
    queue: r.queue ?? null,
    priority: Number(r.priority ?? 0),
    wakeAt: num(r.wake_at ?? null),
  };
}

export function toStepRecord(r: WfStepsTable): StepRecord {
  return {
    runId: r.run_id,
    stepId: Number(r.step_id),
    tenantId: r.tenant_id,
    stepName: r.step_name,
    status: r.status,
    input: r.input,
    output: r.output,
    error: r.error,
    keyGeneration: Number(r.key_generation),
    attempts: Number(r.attempts),
    startedAt: num(r.started_at),
    completedAt: num(r.completed_at),
  };
}

export function toAttemptRecord(r: WfAttemptsTable): AttemptRecord {
  return {
    runId: r.run_id,
    stepId: Number(r.step_id),
    attempt: Number(r.attempt),
    tenantId: r.tenant_id,
    stepName: r.step_name,
    idempotencyKey: r.idempotency_key,
    input: r.input,
    outcome: r.outcome,
    effect: r.effect,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    startedAt: num(r.started_at),
    endedAt: num(r.ended_at),
    nextRetryAt: num(r.next_retry_at),
  };
}

/** SQL written with `?` placeholders, compiled once per dialect. */
class Statement {
  readonly #text: string;
  constructor(dialect: 'sqlite' | 'postgres', text: string) {
    let n = 0;
    this.#text = dialect === 'postgres' ? text.replace(/\?/g, () => `$${++n}`) : text;
  }
  query(params: readonly unknown[]): CompiledQuery {
    return CompiledQuery.raw(this.#text, params as unknown[]);
  }
}

function affected(result: { numAffectedRows?: bigint }): number {
  return Number(result.numAffectedRows ?? 0n);
}

type ColumnType = 'text' | 'integer' | 'bigint';
type Columns = readonly (readonly [string, ColumnType])[];

/**
 * Multi-row statements for a batch of journal writes: `VALUES` rows with typed placeholders (PostgreSQL
 * cannot infer parameter types inside VALUES), built per row count and cached.
 */
class BatchStatement {
  readonly #cache = new Map<number, string>();
  constructor(
    private readonly dialect: 'sqlite' | 'postgres',
    private readonly columns: Columns,
    private readonly render: (values: string) => string,
  ) {}

  query(rows: readonly (readonly unknown[])[]): CompiledQuery {
    let text = this.#cache.get(rows.length);
    if (text === undefined) {
      let n = 0;
      const row = () =>
        `(${this.columns
          .map(([, type]) => (this.dialect === 'postgres' ? `$${++n}::${type}` : '?'))
          .join(', ')})`;
      text = this.render(Array.from({ length: rows.length }, row).join(', '));
      if (this.#cache.size < 64) this.#cache.set(rows.length, text);
    }
    return CompiledQuery.raw(text, rows.flat());
  }
}

/** Rows per multi-row statement; keeps parameters well under both dialects' limits. */
const CHUNK = 400;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

type Op =
  | { readonly kind: 'run'; readonly run: NewRun }
  | { readonly kind: 'step'; readonly fence: Fence; readonly step: StepRecord }
  | { readonly kind: 'attempt'; readonly fence: Fence; readonly attempt: AttemptRecord }
  | {
      readonly kind: 'finish';
      readonly fence: Fence;
      readonly status: 'completed' | 'failed';
      readonly output: string | null;
      readonly error: string | null;
      readonly now: number;
    };

interface Pending {
  readonly op: Op;
  readonly resolve: (value: boolean) => void;
  readonly reject: (error: unknown) => void;
}

const STEP_COLUMNS: Columns = [
  ['run_id', 'text'],
  ['step_id', 'integer'],
  ['tenant_id', 'text'],
  ['step_name', 'text'],
  ['status', 'text'],
  ['input', 'text'],
  ['output', 'text'],
  ['error', 'text'],
  ['key_generation', 'integer'],
  ['attempts', 'integer'],
  ['started_at', 'bigint'],
  ['completed_at', 'bigint'],
  ['epoch', 'integer'],
];
const ATTEMPT_COLUMNS: Columns = [
  ['run_id', 'text'],
  ['step_id', 'integer'],
  ['attempt', 'integer'],
  ['tenant_id', 'text'],
  ['step_name', 'text'],
  ['idempotency_key', 'text'],
  ['input', 'text'],
  ['outcome', 'text'],
  ['effect', 'text'],
  ['error_code', 'text'],
  ['error_message', 'text'],
  ['started_at', 'bigint'],
  ['ended_at', 'bigint'],
  ['next_retry_at', 'bigint'],
  ['epoch', 'integer'],
];
const RUN_COLUMNS: Columns = [
  ['run_id', 'text'],
  ['tenant_id', 'text'],
  ['workflow_name', 'text'],
  ['workflow_version', 'integer'],
  ['status', 'text'],
  ['input', 'text'],
  ['business_keys', 'text'],
  ['owner', 'text'],
  ['lease_epoch', 'integer'],
  ['lease_expires_at', 'bigint'],
  ['recovery_count', 'integer'],
  ['created_at', 'bigint'],
  ['updated_at', 'bigint'],
  ['queue', 'text'],
  ['priority', 'integer'],
];
const KEY_COLUMNS: Columns = [
  ['run_id', 'text'],
  ['key_name', 'text'],
  ['tenant_id', 'text'],
  ['key_value', 'text'],
];
const FINISH_COLUMNS: Columns = [
  ['run_id', 'text'],
  ['epoch', 'integer'],
  ['status', 'text'],
  ['output', 'text'],
  ['error', 'text'],
  ['now', 'bigint'],
];

const names = (columns: Columns, skip: readonly string[] = ['epoch']) =>
  columns.map(([n]) => n).filter((n) => !skip.includes(n));

export class WorkflowJournal {
  readonly #store: Store;
  readonly #sql: {
    insertRuns: BatchStatement;
    insertKeys: BatchStatement;
    upsertSteps: BatchStatement;
    insertAttempts: BatchStatement;
    finishRuns: BatchStatement;
    claim: Statement;
  };
  readonly #queue: Pending[] = [];
  readonly #queuedByRun = new Map<string, number>();
  readonly #maxInFlight: number;
  #inFlight = 0;
  #scheduled = false;

  constructor(store: Store) {
    this.#store = store;
    const d = store.dialect;
    // On PostgreSQL the fenced writes lock the run row (FOR SHARE), so a claim by another worker waits
    // for this batch to commit and then sees what it wrote; SQLite has a single writer already.
    const lock = d === 'postgres' ? ' FOR SHARE OF r' : ' WHERE true';
    const stepCols = names(STEP_COLUMNS);
    const attemptCols = names(ATTEMPT_COLUMNS);
    this.#sql = {
      insertRuns: new BatchStatement(
        d,
        RUN_COLUMNS,
        (values) =>
          `INSERT INTO wf_runs (${names(RUN_COLUMNS).join(', ')}) VALUES ${values}
           ON CONFLICT (run_id) DO NOTHING RETURNING run_id`,
      ),
      insertKeys: new BatchStatement(
        d,
        KEY_COLUMNS,
        (values) => `INSERT INTO wf_run_keys (${names(KEY_COLUMNS).join(', ')}) VALUES ${values}`,
      ),
      upsertSteps: new BatchStatement(
        d,
        STEP_COLUMNS,
        (values) =>
          `WITH v (${STEP_COLUMNS.map(([n]) => n).join(', ')}) AS (VALUES ${values})
           INSERT INTO wf_steps (${stepCols.join(', ')})
           SELECT ${stepCols.map((c) => `v.${c}`).join(', ')} FROM v
           JOIN wf_runs r ON r.run_id = v.run_id AND r.lease_epoch = v.epoch AND r.status = 'running'${lock}
           ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status, input = excluded.input,
             output = excluded.output, error = excluded.error, key_generation = excluded.key_generation,
             attempts = excluded.attempts, started_at = excluded.started_at, completed_at = excluded.completed_at
           RETURNING run_id, step_id`,
      ),
      insertAttempts: new BatchStatement(
        d,
        ATTEMPT_COLUMNS,
        (values) =>
          `WITH v (${ATTEMPT_COLUMNS.map(([n]) => n).join(', ')}) AS (VALUES ${values})
           INSERT INTO wf_attempts (${attemptCols.join(', ')})
           SELECT ${attemptCols.map((c) => `v.${c}`).join(', ')} FROM v
           JOIN wf_runs r ON r.run_id = v.run_id AND r.lease_epoch = v.epoch AND r.status = 'running'${lock}
           RETURNING run_id, step_id, attempt`,
      ),
      finishRuns: new BatchStatement(
        d,
        FINISH_COLUMNS,
        (values) =>
          `WITH v (${FINISH_COLUMNS.map(([n]) => n).join(', ')}) AS (VALUES ${values})
           UPDATE wf_runs SET status = v.status, output = v.output, error = v.error, owner = NULL,
             lease_expires_at = NULL, updated_at = v.now, completed_at = v.now
           FROM v WHERE wf_runs.run_id = v.run_id AND wf_runs.lease_epoch = v.epoch AND wf_runs.status = 'running'
           RETURNING wf_runs.run_id`,
      ),
      claim: new Statement(
        d,
        `UPDATE wf_runs SET status = 'running', owner = ?, lease_epoch = lease_epoch + 1, lease_expires_at = ?,
           recovery_count = recovery_count + ?, updated_at = ?
         WHERE run_id = ? AND lease_epoch = ? AND status IN ('pending', 'running')`,
      ),
    };
    this.#maxInFlight = d === 'postgres' ? 4 : 2;
  }

  get store(): Store {
    return this.#store;
  }

  db(): Kysely<WorkflowTables> {
    return this.#store.db<WorkflowTables>();
  }

  // ----------------------------------------------------------------------------------------------
  // Journal writes. Writes of many runs made in the same tick are sent as a few multi-row statements
  // inside one `store.durable` call, so a commit costs a handful of round trips whatever the batch size.

  #enqueue(op: Op): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ op, resolve, reject });
      const runId = op.kind === 'run' ? op.run.runId : op.fence.runId;
      this.#queuedByRun.set(runId, (this.#queuedByRun.get(runId) ?? 0) + 1);
      this.#schedule();
    });
  }

  /** True while a write of `runId` waits in the queue, i.e. a write enqueued now joins its batch. */
  hasQueued(runId: string): boolean {
    return this.#queuedByRun.has(runId);
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0 || this.#inFlight >= this.#maxInFlight) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      while (this.#queue.length > 0 && this.#inFlight < this.#maxInFlight) {
        const batch = this.#queue.splice(0, this.#queue.length);
        for (const p of batch) {
          const runId = p.op.kind === 'run' ? p.op.run.runId : p.op.fence.runId;
          const left = (this.#queuedByRun.get(runId) ?? 1) - 1;
          if (left > 0) this.#queuedByRun.set(runId, left);
          else this.#queuedByRun.delete(runId);
        }
        this.#inFlight++;
        void this.#flush(batch).finally(() => {
          this.#inFlight--;
          this.#schedule();
        });
      }
    });
  }

  async #flush(batch: Pending[]): Promise<void> {
    let outcomes: Map<Pending, boolean | Error>;
    try {
      outcomes = await this.#store.durable((tx) => this.#execute(tx.db<WorkflowTables>(), batch));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad row fails its whole statement: write each entry on its own so only its caller fails.
      await Promise.all(batch.map((p) => this.#flush([p])));
      return;
    }
    for (const p of batch) {
      const outcome = outcomes.get(p)!;
      if (outcome instanceof Error) p.reject(outcome);
      else p.resolve(outcome);
    }
  }

  async #execute(
    db: Kysely<WorkflowTables>,
    batch: readonly Pending[],
  ): Promise<Map<Pending, boolean | Error>> {
    const out = new Map<Pending, boolean | Error>();
    const byKind = {
      run: [] as Pending[],
      step: [] as Pending[],
      attempt: [] as Pending[],
      finish: [] as Pending[],
    };
    for (const p of batch) byKind[p.op.kind].push(p);
    const lost = (fence: Fence) => new WorkflowLeaseLostError(fence.runId, fence.epoch);

    if (byKind.run.length > 0) {
      const created = new Set<string>();
      const seen = new Set<string>();
      const runs = byKind.run.map((p) => (p.op as Extract<Op, { kind: 'run' }>).run);
      for (const part of chunks(runs.filter((r) => !seen.has(r.runId) && seen.add(r.runId)))) {
        const result = await db.executeQuery<{ run_id: string }>(
          this.#sql.insertRuns.query(
            part.map((r) => [
              r.runId,
              r.tenantId,
              r.workflowName,
              r.workflowVersion,
              r.status,
              r.input,
              JSON.stringify(r.businessKeys),
              r.owner,
              1,
              r.leaseExpiresAt,
              0,
              r.now,
              r.now,
              r.queue ?? null,
              r.priority ?? 0,
            ]),
          ),
        );
        for (const row of result.rows) created.add(row.run_id);
      }
      const keys = runs
        .filter((r) => created.has(r.runId))
        .flatMap((r) => Object.entries(r.businessKeys).map(([k, v]) => [r.runId, k, r.tenantId, v]));
      for (const part of chunks(keys)) await db.executeQuery(this.#sql.insertKeys.query(part));
      for (const p of byKind.run) {
        const runId = (p.op as Extract<Op, { kind: 'run' }>).run.runId;
        // Only the first entry for a run id in a batch can have created it.
        out.set(p, created.delete(runId));
      }
    }

    if (byKind.step.length > 0) {
      const written = new Set<string>();
      for (const part of chunks(byKind.step)) {
        const result = await db.executeQuery<{ run_id: string; step_id: number }>(
          this.#sql.upsertSteps.query(
            part.map((p) => {
              const { step: s, fence } = p.op as Extract<Op, { kind: 'step' }>;
              return [
                s.runId,
                s.stepId,
                s.tenantId,
                s.stepName,
                s.status,
                s.input,
                s.output,
                s.error,
                s.keyGeneration,
                s.attempts,
                s.startedAt,
                s.completedAt,
                fence.epoch,
              ];
            }),
          ),
        );
        for (const row of result.rows) written.add(`${row.run_id}\u0000${Number(row.step_id)}`);
      }
      for (const p of byKind.step) {
        const { step: s, fence } = p.op as Extract<Op, { kind: 'step' }>;
        out.set(p, written.has(`${s.runId}\u0000${s.stepId}`) ? true : lost(fence));
      }
    }

    if (byKind.attempt.length > 0) {
      const written = new Set<string>();
      for (const part of chunks(byKind.attempt)) {
        const result = await db.executeQuery<{ run_id: string; step_id: number; attempt: number }>(
          this.#sql.insertAttempts.query(
            part.map((p) => {
              const { attempt: a, fence } = p.op as Extract<Op, { kind: 'attempt' }>;
              return [
                a.runId,
                a.stepId,
                a.attempt,
                a.tenantId,
                a.stepName,
                a.idempotencyKey,
                a.input,
                a.outcome,
                a.effect,
                a.errorCode,
                a.errorMessage,
                a.startedAt,
                a.endedAt,
                a.nextRetryAt,
                fence.epoch,
              ];
            }),
          ),
        );
        for (const row of result.rows) {
          written.add(`${row.run_id}\u0000${Number(row.step_id)}\u0000${Number(row.attempt)}`);
        }
      }
      for (const p of byKind.attempt) {
        const { attempt: a, fence } = p.op as Extract<Op, { kind: 'attempt' }>;
        out.set(p, written.has(`${a.runId}\u0000${a.stepId}\u0000${a.attempt}`) ? true : lost(fence));
      }
    }

    if (byKind.finish.length > 0) {
      const finished = new Set<string>();
      for (const part of chunks(byKind.finish)) {
        const result = await db.executeQuery<{ run_id: string }>(
          this.#sql.finishRuns.query(
            part.map((p) => {
              const f = p.op as Extract<Op, { kind: 'finish' }>;
              return [f.fence.runId, f.fence.epoch, f.status, f.output, f.error, f.now];
            }),
          ),
        );
        for (const row of result.rows) finished.add(row.run_id);
      }
      for (const p of byKind.finish) {
        out.set(p, finished.has((p.op as Extract<Op, { kind: 'finish' }>).fence.runId));
      }
    }
    return out;
  }

  /** Inserts the run (owned by `owner` at epoch 1 when running); false when the run id exists already. */
  insertRun(run: NewRun): Promise<boolean> {
    return this.#enqueue({ kind: 'run', run });
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const row = await this.db()
      .selectFrom('wf_runs')
      .selectAll()
      .where('run_id', '=', runId)
      .executeTakeFirst();
    return row && toRunRecord(row);
  }

  async loadSteps(runId: string): Promise<{ steps: StepRecord[]; attempts: AttemptRecord[] }> {
    const db = this.db();
    const steps = await db
      .selectFrom('wf_steps')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('step_id')
      .execute();
    const attempts = await db
      .selectFrom('wf_attempts')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('step_id')
      .orderBy('attempt')
      .execute();
    return { steps: steps.map(toStepRecord), attempts: attempts.map(toAttemptRecord) };
  }

  /**
   * Journals a step's end (completed or finally failed), with its last failed attempt if any. Rejects
   * with WORKFLOW_LEASE_LOST when the run is no longer running under this lease.
   */
  async writeStep(fence: Fence, step: StepRecord, attempt: AttemptRecord | null): Promise<void> {
    const written = this.#enqueue({ kind: 'step', fence, step });
    // Both land in the same batch, hence the same transaction.
    if (attempt) await Promise.all([written, this.#enqueue({ kind: 'attempt', fence, attempt })]);
    else await written;
  }

  /** Records one failed (or interrupted) attempt that will be retried. */
  async writeAttempt(fence: Fence, attempt: AttemptRecord): Promise<void> {
    await this.#enqueue({ kind: 'attempt', fence, attempt });
  }

  /** Ends a run; false when it is no longer running under this lease (cancelled, or claimed elsewhere). */
  finishRun(
    fence: Fence,
    status: 'completed' | 'failed',
    output: string | null,
    error: string | null,
    now: number,
  ): Promise<boolean> {
    return this.#enqueue({ kind: 'finish', fence, status, output, error, now });
  }

  /** Stores a signal for a run; false when a signal with this id was sent already. */
  async insertSignal(signal: {
    runId: string;
    signalId: string;
    tenantId: string;
    name: string;
    payload: string | null;
    now: number;
  }): Promise<boolean> {
    return this.#store.durable(async (tx) => {
      const result = await tx
        .db<WorkflowTables>()
        .insertInto('wf_signals')
        .values({
          run_id: signal.runId,
          signal_id: signal.signalId,
          tenant_id: signal.tenantId,
          name: signal.name,
          payload: signal.payload,
          sent_at: signal.now,
          consumed_step: null,
        })
        .onConflict((oc) => oc.columns(['run_id', 'signal_id']).doNothing())
        .executeTakeFirst();
      const created = Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
      // A parked run becomes due now. The row is updated whatever its status, so this takes its row lock
      // and a run parking at the same moment sees the signal (see parkRun).
      if (created)
        await tx
          .db<WorkflowTables>()
          .updateTable('wf_runs')
          .set((eb) => ({
            wake_at: eb
              .case()
              .when(eb.and([eb('status', '=', 'waiting'), eb('wake_at', '>', signal.now)]))
              .then(signal.now)
              .else(eb.ref('wake_at'))
              .end(),
          }))
          .where('run_id', '=', signal.runId)
          .execute();
      return created;
    });
  }

  /**
   * Under the run's lease, takes the oldest signal `name` not yet consumed and journals it as the result
   * of `step`, in one transaction. Returns the step output, or null when no signal is waiting.
   */
  async consumeSignal(
    fence: Fence,
    step: Omit<StepRecord, 'output' | 'status' | 'error'>,
    name: string,
  ): Promise<string | null> {
    return this.#store.durable(async (tx) => {
      const db = tx.db<WorkflowTables>();
      const fenced = await db
        .updateTable('wf_runs')
        .set({ updated_at: step.completedAt })
        .where('run_id', '=', fence.runId)
        .where('lease_epoch', '=', fence.epoch)
        .where('status', '=', 'running')
        .executeTakeFirst();
      if (Number(fenced.numUpdatedRows) !== 1) throw new WorkflowLeaseLostError(fence.runId, fence.epoch);
      const signal = await db
        .selectFrom('wf_signals')
        .select(['seq', 'payload', 'signal_id'])
        .where('run_id', '=', fence.runId)
        .where('name', '=', name)
        .where('consumed_step', 'is', null)
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
      if (!signal) return null;
      await db
        .updateTable('wf_signals')
        .set({ consumed_step: step.stepId })
        .where('seq', '=', signal.seq)
        .execute();
      const output = JSON.stringify({
        received: true,
        signalId: signal.signal_id,
        payload: signal.payload === null ? null : (JSON.parse(signal.payload) as unknown),
      });
      await db
        .insertInto('wf_steps')
        .values({
          run_id: step.runId,
          step_id: step.stepId,
          tenant_id: step.tenantId,
          step_name: step.stepName,
          status: 'completed',
          input: step.input,
          output,
          error: null,
          key_generation: step.keyGeneration,
          attempts: step.attempts,
          started_at: step.startedAt,
          completed_at: step.completedAt,
        })
        .execute();
      return output;
    });
  }

  /**
   * Takes a pending or abandoned run for `owner` if its epoch is still `expectedEpoch` (compare-and-set,
   * so two workers racing for one run cannot both win). Returns the new epoch, or null when lost.
   */
  async claim(
    runId: string,
    expectedEpoch: number,
    owner: string,
    leaseExpiresAt: number,
    recovering: boolean,
    now: number,
  ): Promise<number | null> {
    const won = await this.#store.durable(async (tx) => {
      const result = await tx
        .db<WorkflowTables>()
        .executeQuery(
          this.#sql.claim.query([owner, leaseExpiresAt, recovering ? 1 : 0, now, runId, expectedEpoch]),
        );
      return affected(result) === 1;
    });
    return won ? expectedEpoch + 1 : null;
  }

  /**
   * Runs a poll may take: unqueued pending ones, runs whose lease expired and parked ones that are due.
   * Read to report those no registered version can take, and to find this executor's own expired runs
   * (the claim batch leaves them out: most are executing here); the claim itself is claimBatch.
   */
  async findClaimable(now: number, limit: number): Promise<RunRecord[]> {
    const rows = await this.db()
      .selectFrom('wf_runs')
      .selectAll()
      .where((eb) =>
        eb.or([
          // Queued runs wait for their queue's dispatcher, which enforces the queue's concurrency.
          eb.and([eb('status', '=', 'pending'), eb('queue', 'is', null)]),
          eb.and([eb('status', '=', 'running'), eb('lease_expires_at', '<', now)]),
          eb.and([eb('status', '=', 'waiting'), eb('wake_at', '<=', now)]),
        ]),
      )
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map(toRunRecord);
  }

  /** Runs `owner` holds in flight: what a restarted process with the same executor id takes back. */
  async findOwned(owner: string, limit: number): Promise<RunRecord[]> {
    const rows = await this.db()
      .selectFrom('wf_runs')
      .selectAll()
      .where('status', '=', 'running')
      .where('owner', '=', owner)
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map(toRunRecord);
  }

  /**
   * Claims, for `owner`, up to `limit` runs of the registered `versions` that a poll may take: unqueued
   * pending runs, other workers' runs whose lease expired (their worker died; this worker's own runs are
   * executing here, or taken back at start-up) and parked runs that are due. On
   * PostgreSQL rows are taken `FOR UPDATE SKIP LOCKED`, so workers polling at once split the runs between
   * them instead of queueing on the same rows; each claimed run's epoch moves on, fencing the old owner.
   */
  async claimBatch(
    owner: string,
    now: number,
    leaseExpiresAt: number,
    limit: number,
    versions: readonly (readonly [string, number])[],
  ): Promise<ClaimedRun[]> {
    if (versions.length === 0 || limit <= 0) return [];
    const pg = this.#store.dialect === 'postgres';
    const p = pg ? (i: number) => `$${i}` : () => '?';
    let i = 0;
    const params: unknown[] = [now, owner, now];
    const [expired, mine, due] = [p(++i), p(++i), p(++i)];
    const pairs = versions.map(([name, version]) => {
      params.push(name, version);
      return `(workflow_name = ${p(++i)} AND workflow_version = ${p(++i)})`;
    });
    params.push(limit);
    const select = CompiledQuery.raw(
      `SELECT run_id, status, owner FROM wf_runs
       WHERE ((status = 'pending' AND queue IS NULL)
         OR (status = 'running' AND lease_expires_at < ${expired} AND owner <> ${mine})
         OR (status = 'waiting' AND wake_at <= ${due}))
         AND (${pairs.join(' OR ')})
       ORDER BY created_at LIMIT ${p(++i)}${pg ? ' FOR UPDATE SKIP LOCKED' : ''}`,
      params,
    );
    return this.#store.durable(async (tx) => {
      const db = tx.db<WorkflowTables>();
      // The rows stay locked until the commit, so the update below changes exactly what was selected.
      const picked = (await db.executeQuery<{ run_id: string; status: string; owner: string | null }>(select))
        .rows;
      if (picked.length === 0) return [];
      const previous = new Map(picked.map((r) => [r.run_id, r]));
      const claimed: ClaimedRun[] = [];
      for (const part of chunks(picked.map((r) => r.run_id))) {
        const rows = await db
          .updateTable('wf_runs')
          .set((eb) => ({
            status: 'running',
            owner,
            lease_epoch: eb('lease_epoch', '+', 1),
            lease_expires_at: leaseExpiresAt,
            wake_at: null,
            updated_at: now,
            recovery_count: eb(
              'recovery_count',
              '+',
              eb.case().when('status', '=', 'running').then(1).else(0).end(),
            ),
          }))
          .where('run_id', 'in', part)
          .returningAll()
          .execute();
        for (const row of rows) {
          const before = previous.get(row.run_id)!;
          claimed.push({
            run: toRunRecord(row),
            previousStatus: before.status as ClaimedRun['previousStatus'],
            previousOwner: before.owner,
          });
        }
      }
      return claimed.sort((a, b) => a.run.createdAt - b.run.createdAt);
    });
  }

  /**
   * Parks a run out of memory until `wakeAt`: `waiting`, no owner, no lease; false when the lease is
   * lost. With `signal`, a signal of that name already waiting makes the run due at once; the run row is
   * updated before the signals are read, and `insertSignal` updates the same row, so a signal sent
   * while the run parks is never missed (one of the two waits for the other's row lock).
   */
  async parkRun(fence: Fence, wakeAt: number, signal: string | null, now: number): Promise<boolean> {
    return this.#store.durable(async (tx) => {
      const db = tx.db<WorkflowTables>();
      const parked = await db
        .updateTable('wf_runs')
        .set({ status: 'waiting', wake_at: wakeAt, owner: null, lease_expires_at: null, updated_at: now })
        .where('run_id', '=', fence.runId)
        .where('lease_epoch', '=', fence.epoch)
        .where('status', '=', 'running')
        .executeTakeFirst();
      if (Number(parked.numUpdatedRows) !== 1) return false;
      if (signal !== null) {
        const waiting = await db
          .selectFrom('wf_signals')
          .select('seq')
          .where('run_id', '=', fence.runId)
          .where('name', '=', signal)
          .where('consumed_step', 'is', null)
          .limit(1)
          .executeTakeFirst();
        if (waiting)
          await db.updateTable('wf_runs').set({ wake_at: now }).where('run_id', '=', fence.runId).execute();
      }
      return true;
    });
  }

  /** Parked runs due at `now`, and the oldest queued run per queue: what the metrics report. */
  async stats(now: number): Promise<{
    timersDue: number;
    waiting: number;
    queues: { queue: string; depth: number; oldestCreatedAt: number }[];
  }> {
    const db = this.db();
    const parked = await db
      .selectFrom('wf_runs')
      .select((eb) => [
        eb.fn.countAll<number | string>().as('n'),
        eb.fn
          .sum<number | string | null>(eb.case().when('wake_at', '<=', now).then(1).else(0).end())
          .as('due'),
      ])
      .where('status', '=', 'waiting')
      .executeTakeFirstOrThrow();
    const queues = await db
      .selectFrom('wf_runs')
      .select((eb) => [
        'queue',
        eb.fn.countAll<number | string>().as('n'),
        eb.fn.min('created_at').as('oldest'),
      ])
      .where('status', '=', 'pending')
      .where('queue', 'is not', null)
      .groupBy('queue')
      .execute();
    return {
      timersDue: Number(parked.due ?? 0),
      waiting: Number(parked.n),
      queues: queues.map((q) => ({
        queue: q.queue!,
        depth: Number(q.n),
        oldestCreatedAt: Number(q.oldest),
      })),
    };
  }

  /**
   * Claims up to `limit` pending runs of `queue` for `owner`, highest priority first, never letting the
   * queue's running runs exceed `concurrency` across all workers. On PostgreSQL the count and the claim
   * are serialised per queue by a transaction-scoped advisory lock and rows are taken with
   * `FOR UPDATE SKIP LOCKED`; SQLite has one writer.
   */
  async claimQueued(
    queue: string,
    concurrency: number,
    limit: number,
    versions: readonly (readonly [string, number])[],
    owner: string,
    leaseExpiresAt: number,
    now: number,
  ): Promise<RunRecord[]> {
    if (versions.length === 0 || limit <= 0) return [];
    const pg = this.#store.dialect === 'postgres';
    return this.#store.transaction(async (tx) => {
      const db = tx.db<WorkflowTables>();
      if (pg)
        await db.executeQuery(
          CompiledQuery.raw('SELECT pg_advisory_xact_lock(hashtext($1))', [`wf_queue:${queue}`]),
        );
      const running = await db
        .selectFrom('wf_runs')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('status', '=', 'running')
        .where('queue', '=', queue)
        .executeTakeFirstOrThrow();
      const room = Math.min(limit, concurrency - Number(running.n));
      if (room <= 0) return [];
      const p = pg ? (i: number) => `$${i}` : () => '?';
      let i = 0;
      const params: unknown[] = [owner, leaseExpiresAt, now, queue];
      const head = [p(++i), p(++i), p(++i), p(++i)];
      const pairs = versions.map(([name, version]) => {
        params.push(name, version);
        return `(workflow_name = ${p(++i)} AND workflow_version = ${p(++i)})`;
      });
      params.push(room);
      const limitParam = p(++i);
      const result = await db.executeQuery<WfRunsTable>(
        CompiledQuery.raw(
          `UPDATE wf_runs SET status = 'running', owner = ${head[0]}, lease_epoch = lease_epoch + 1,
             lease_expires_at = ${head[1]}, updated_at = ${head[2]}
           WHERE run_id IN (
             SELECT run_id FROM wf_runs WHERE status = 'pending' AND queue = ${head[3]} AND (${pairs.join(' OR ')})
             ORDER BY priority DESC, created_at, run_id LIMIT ${limitParam}${pg ? ' FOR UPDATE SKIP LOCKED' : ''}
           ) RETURNING *`,
          params,
        ),
      );
      // RETURNING gives no order; start them in queue order.
      return result.rows
        .map(toRunRecord)
        .sort((a, b) => b.priority - a.priority || a.createdAt - b.createdAt || (a.runId < b.runId ? -1 : 1));
    });
  }

  /**
   * Extends the leases of the runs `owner` is executing. Only those: a run this process stopped executing
   * without ending it (an unexpected error) keeps its old expiry, so a poll takes it over.
   */
  async heartbeat(owner: string, leaseExpiresAt: number, runIds: readonly string[]): Promise<void> {
    if (runIds.length === 0) return;
    await this.#store.durable(async (tx) => {
      const db = tx.db<WorkflowTables>();
      for (const part of chunks(runIds))
        await db
          .updateTable('wf_runs')
          .set({ lease_expires_at: leaseExpiresAt })
          .where('owner', '=', owner)
          .where('status', '=', 'running')
          .where('run_id', 'in', part)
          .execute();
    });
  }
}
