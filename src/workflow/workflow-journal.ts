// Every read and write of the workflow tables. Hot-path writes (start, step results, completion) are
// precompiled SQL sent through `store.durable`, so concurrent runs share one commit; each of them is
// fenced by the run's lease epoch, so a worker that lost its lease writes nothing.
import { CompiledQuery, type Kysely } from 'kysely';
import type { Store } from '../store/index.ts';
import { WorkflowLeaseLostError } from './errors.ts';
import type { AttemptEffect, AttemptOutcome } from './workflow-events.ts';

export const RUN_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
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

export class WorkflowJournal {
  readonly #store: Store;
  readonly #sql: {
    insertRun: Statement;
    insertKey: Statement;
    fence: Statement;
    upsertStep: Statement;
    insertAttempt: Statement;
    finishRun: Statement;
    claim: Statement;
    heartbeat: Statement;
  };

  constructor(store: Store) {
    this.#store = store;
    const d = store.dialect;
    this.#sql = {
      insertRun: new Statement(
        d,
        `INSERT INTO wf_runs (run_id, tenant_id, workflow_name, workflow_version, status, input, business_keys,
           owner, lease_epoch, lease_expires_at, recovery_count, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, 0, ?, ?) ON CONFLICT (run_id) DO NOTHING`,
      ),
      insertKey: new Statement(
        d,
        'INSERT INTO wf_run_keys (run_id, key_name, tenant_id, key_value) VALUES (?, ?, ?, ?)',
      ),
      // Updating the run row (not only reading it) takes its row lock on PostgreSQL, so a concurrent
      // claim by another worker waits for this batch and then sees the step this write adds.
      fence: new Statement(
        d,
        `UPDATE wf_runs SET updated_at = ? WHERE run_id = ? AND lease_epoch = ? AND status = 'running'`,
      ),
      upsertStep: new Statement(
        d,
        `INSERT INTO wf_steps (run_id, step_id, tenant_id, step_name, status, input, output, error, key_generation,
           attempts, started_at, completed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status, input = excluded.input,
           output = excluded.output, error = excluded.error, key_generation = excluded.key_generation,
           attempts = excluded.attempts, started_at = excluded.started_at, completed_at = excluded.completed_at`,
      ),
      insertAttempt: new Statement(
        d,
        `INSERT INTO wf_attempts (run_id, step_id, attempt, tenant_id, step_name, idempotency_key, input, outcome,
           effect, error_code, error_message, started_at, ended_at, next_retry_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      finishRun: new Statement(
        d,
        `UPDATE wf_runs SET status = ?, output = ?, error = ?, owner = NULL, lease_expires_at = NULL,
           updated_at = ?, completed_at = ?
         WHERE run_id = ? AND lease_epoch = ? AND status = 'running'`,
      ),
      claim: new Statement(
        d,
        `UPDATE wf_runs SET status = 'running', owner = ?, lease_epoch = lease_epoch + 1, lease_expires_at = ?,
           recovery_count = recovery_count + ?, updated_at = ?
         WHERE run_id = ? AND lease_epoch = ? AND status IN ('pending', 'running')`,
      ),
      heartbeat: new Statement(
        d,
        `UPDATE wf_runs SET lease_expires_at = ? WHERE owner = ? AND status = 'running'`,
      ),
    };
  }

  get store(): Store {
    return this.#store;
  }

  db(): Kysely<WorkflowTables> {
    return this.#store.db<WorkflowTables>();
  }

  /** Inserts the run (owned by `owner` at epoch 1 when running); false when the run id exists already. */
  async insertRun(run: NewRun): Promise<boolean> {
    return this.#store.durable(async (tx) => {
      const db = tx.db<WorkflowTables>();
      const result = await db.executeQuery(
        this.#sql.insertRun.query([
          run.runId,
          run.tenantId,
          run.workflowName,
          run.workflowVersion,
          run.status,
          run.input,
          JSON.stringify(run.businessKeys),
          run.owner,
          run.leaseExpiresAt,
          run.now,
          run.now,
        ]),
      );
      if (affected(result) === 0) return false;
      for (const [name, value] of Object.entries(run.businessKeys)) {
        await db.executeQuery(this.#sql.insertKey.query([run.runId, name, run.tenantId, value]));
      }
      return true;
    });
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

  /** Journals a step's end (completed or finally failed), with its last failed attempt if any. */
  async writeStep(fence: Fence, step: StepRecord, attempt: AttemptRecord | null, now: number): Promise<void> {
    await this.#store.durable(async (tx) => {
      const db = tx.db<WorkflowTables>();
      await this.#fence(db, fence, now);
      await db.executeQuery(
        this.#sql.upsertStep.query([
          step.runId,
          step.stepId,
          step.tenantId,
          step.stepName,
          step.status,
          step.input,
          step.output,
          step.error,
          step.keyGeneration,
          step.attempts,
          step.startedAt,
          step.completedAt,
        ]),
      );
      if (attempt) await db.executeQuery(this.#attemptQuery(attempt));
    });
  }

  /** Records one failed (or interrupted) attempt that will be retried. */
  async writeAttempt(fence: Fence, attempt: AttemptRecord, now: number): Promise<void> {
    await this.#store.durable(async (tx) => {
      const db = tx.db<WorkflowTables>();
      await this.#fence(db, fence, now);
      await db.executeQuery(this.#attemptQuery(attempt));
    });
  }

  /** Ends a run; false when it is no longer running under this lease (cancelled, or claimed elsewhere). */
  async finishRun(
    fence: Fence,
    status: 'completed' | 'failed',
    output: string | null,
    error: string | null,
    now: number,
  ): Promise<boolean> {
    return this.#store.durable(async (tx) => {
      const result = await tx
        .db<WorkflowTables>()
        .executeQuery(this.#sql.finishRun.query([status, output, error, now, now, fence.runId, fence.epoch]));
      return affected(result) === 1;
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

  /** Runs this worker may take: pending ones, its own (after a restart), and those whose lease expired. */
  async findClaimable(owner: string, now: number, limit: number): Promise<RunRecord[]> {
    const rows = await this.db()
      .selectFrom('wf_runs')
      .selectAll()
      .where('status', 'in', ['pending', 'running'])
      .where((eb) =>
        eb.or([
          eb('status', '=', 'pending'),
          eb('owner', '=', owner),
          eb('owner', 'is', null),
          eb('lease_expires_at', '<', now),
        ]),
      )
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map(toRunRecord);
  }

  async heartbeat(owner: string, leaseExpiresAt: number): Promise<void> {
    await this.#store.durable(async (tx) => {
      await tx.db<WorkflowTables>().executeQuery(this.#sql.heartbeat.query([leaseExpiresAt, owner]));
    });
  }

  async #fence(db: Kysely<WorkflowTables>, fence: Fence, now: number): Promise<void> {
    const result = await db.executeQuery(this.#sql.fence.query([now, fence.runId, fence.epoch]));
    if (affected(result) !== 1) throw new WorkflowLeaseLostError(fence.runId, fence.epoch);
  }

  #attemptQuery(a: AttemptRecord): CompiledQuery {
    return this.#sql.insertAttempt.query([
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
    ]);
  }
}
