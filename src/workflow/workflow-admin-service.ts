// Operators' controls over runs: list and search, show one run's journal with timings, and the three
// actions on a run that ended badly (retry from the failed step, resume with edited step input,
// cancel). Used in-process, by the admin HTTP routes and by the CLI (locally or through HTTP).
import type { Kysely } from 'kysely';
import type { Store } from '../store/index.ts';
import {
  WorkflowResumeNotApplicableError,
  WorkflowResumeUnsafeError,
  WorkflowRunNotFoundError,
  WorkflowRunStateError,
} from './errors.ts';
import { toAttemptSummary } from './run-execution.ts';
import type { AttemptSummary, ErrorSummary } from './workflow-events.ts';
import {
  toAttemptRecord,
  toRunRecord,
  toStepRecord,
  type RunRecord,
  type RunStatus,
  type StepStatus,
  type WorkflowTables,
} from './workflow-journal.ts';
import type { WorkflowRuntime } from './workflow-runtime.ts';

/** Tenants a caller may see: a list, or `*` for all. */
export type TenantScope = readonly string[] | '*';

export interface RunListQuery {
  readonly status?: RunStatus;
  readonly workflowName?: string;
  readonly tenantId?: string;
  /** Exact match on one business key, e.g. `{ name: 'order', value: 'SO-1042' }`. */
  readonly businessKey?: { readonly name: string; readonly value: string };
  /** Runs created at or after this instant, epoch ms. */
  readonly createdFrom?: number;
  /** Runs created before this instant, epoch ms. */
  readonly createdTo?: number;
  /** Page size (default 50, at most 500). */
  readonly limit?: number;
  /** Cursor from the previous page's `nextCursor`. */
  readonly cursor?: string;
}

export interface RunRecordedError extends ErrorSummary {
  readonly stepId: number | null;
  readonly stepName: string | null;
}

export interface RunSummary {
  readonly runId: string;
  readonly tenantId: string;
  readonly workflowName: string;
  readonly workflowVersion: number;
  readonly status: RunStatus;
  readonly businessKeys: Record<string, string>;
  readonly error: RunRecordedError | null;
  readonly recoveryCount: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly completedAt: string | null;
  readonly durationMs: number | null;
}

export interface StepView {
  readonly stepId: number;
  readonly name: string;
  readonly status: StepStatus;
  readonly attempts: number;
  readonly idempotencyKey: string;
  readonly input: unknown;
  readonly output: unknown;
  readonly error: ErrorSummary | null;
  readonly startedAt: string;
  readonly completedAt: string;
  readonly durationMs: number;
  readonly attemptHistory: readonly AttemptSummary[];
}

export interface RunDetail extends RunSummary {
  readonly input: unknown;
  readonly output: unknown;
  readonly owner: string | null;
  readonly steps: readonly StepView[];
}

export interface RunPage {
  readonly runs: readonly RunSummary[];
  readonly nextCursor: string | null;
}

/** What operators can do with runs; implemented in-process and over HTTP (see http-runs-client.ts). */
export interface RunsAdmin {
  list(query: RunListQuery, scope?: TenantScope): Promise<RunPage>;
  show(runId: string, scope?: TenantScope): Promise<RunDetail>;
  /** Sends a failed run back to its failed step with the same input and idempotency key. */
  retry(runId: string, scope?: TenantScope): Promise<RunSummary>;
  /**
   * Re-runs a failed run's failed step with edited input under a new idempotency key; refused unless
   * every attempt under the current key is recorded as having had no effect.
   */
  resume(runId: string, stepInput: unknown, scope?: TenantScope): Promise<RunSummary>;
  cancel(runId: string, scope?: TenantScope): Promise<RunSummary>;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const parse = (text: string | null): unknown => (text === null ? undefined : JSON.parse(text));

function inScope(scope: TenantScope, tenantId: string): boolean {
  return scope === '*' || scope.includes(tenantId);
}

export function toRunSummary(r: RunRecord): RunSummary {
  return {
    runId: r.runId,
    tenantId: r.tenantId,
    workflowName: r.workflowName,
    workflowVersion: r.workflowVersion,
    status: r.status,
    businessKeys: r.businessKeys,
    error: r.error === null ? null : (JSON.parse(r.error) as RunRecordedError),
    recoveryCount: r.recoveryCount,
    createdAt: iso(r.createdAt)!,
    updatedAt: iso(r.updatedAt)!,
    completedAt: iso(r.completedAt),
    durationMs: r.completedAt === null ? null : r.completedAt - r.createdAt,
  };
}

function encodeCursor(r: RunRecord): string {
  return Buffer.from(JSON.stringify([r.createdAt, r.runId])).toString('base64url');
}
function decodeCursor(cursor: string): [number, string] | undefined {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    // An unreadable cursor reads as "from the start", like an absent one.
  }
  return undefined;
}

export class WorkflowAdminService implements RunsAdmin {
  readonly #store: Store;
  readonly #runtime: WorkflowRuntime | undefined;
  readonly #now: () => number;

  /**
   * `runtime` (optional) executes retried and resumed runs at once and aborts cancelled ones running in
   * this process; without it, they wait for the next runtime that launches against this store.
   */
  constructor(options: { store: Store; runtime?: WorkflowRuntime; now?: () => number }) {
    this.#store = options.store;
    this.#runtime = options.runtime;
    this.#now = options.now ?? Date.now;
  }

  #db(): Kysely<WorkflowTables> {
    return this.#store.db<WorkflowTables>();
  }

  async list(query: RunListQuery, scope: TenantScope = '*'): Promise<RunPage> {
    const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
    let q = this.#db().selectFrom('wf_runs').selectAll('wf_runs');
    if (scope !== '*') {
      if (scope.length === 0) return { runs: [], nextCursor: null };
      q = q.where('wf_runs.tenant_id', 'in', [...scope]);
    }
    if (query.tenantId !== undefined) q = q.where('wf_runs.tenant_id', '=', query.tenantId);
    if (query.status !== undefined) q = q.where('wf_runs.status', '=', query.status);
    if (query.workflowName !== undefined) q = q.where('wf_runs.workflow_name', '=', query.workflowName);
    if (query.createdFrom !== undefined) q = q.where('wf_runs.created_at', '>=', query.createdFrom);
    if (query.createdTo !== undefined) q = q.where('wf_runs.created_at', '<', query.createdTo);
    if (query.businessKey !== undefined) {
      const key = query.businessKey;
      q = q.where((eb) =>
        eb.exists(
          eb
            .selectFrom('wf_run_keys')
            .select('wf_run_keys.run_id')
            .whereRef('wf_run_keys.run_id', '=', 'wf_runs.run_id')
            .whereRef('wf_run_keys.tenant_id', '=', 'wf_runs.tenant_id')
            .where('wf_run_keys.key_name', '=', key.name)
            .where('wf_run_keys.key_value', '=', key.value),
        ),
      );
    }
    const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    if (cursor) {
      const [createdAt, runId] = cursor;
      q = q.where((eb) =>
        eb.or([
          eb('wf_runs.created_at', '<', createdAt),
          eb.and([eb('wf_runs.created_at', '=', createdAt), eb('wf_runs.run_id', '<', runId)]),
        ]),
      );
    }
    const rows = await q
      .orderBy('wf_runs.created_at', 'desc')
      .orderBy('wf_runs.run_id', 'desc')
      .limit(limit + 1)
      .execute();
    const records = rows.map(toRunRecord);
    const page = records.slice(0, limit);
    return {
      runs: page.map(toRunSummary),
      nextCursor: records.length > limit ? encodeCursor(page.at(-1)!) : null,
    };
  }

  async #get(runId: string, scope: TenantScope): Promise<RunRecord> {
    const row = await this.#db()
      .selectFrom('wf_runs')
      .selectAll()
      .where('run_id', '=', runId)
      .executeTakeFirst();
    if (!row || !inScope(scope, row.tenant_id)) throw new WorkflowRunNotFoundError(runId);
    return toRunRecord(row);
  }

  async show(runId: string, scope: TenantScope = '*'): Promise<RunDetail> {
    const run = await this.#get(runId, scope);
    const db = this.#db();
    const steps = (
      await db
        .selectFrom('wf_steps')
        .selectAll()
        .where('run_id', '=', runId)
        .where('tenant_id', '=', run.tenantId)
        .orderBy('step_id')
        .execute()
    ).map(toStepRecord);
    const attempts = (
      await db
        .selectFrom('wf_attempts')
        .selectAll()
        .where('run_id', '=', runId)
        .where('tenant_id', '=', run.tenantId)
        .orderBy('step_id')
        .orderBy('attempt')
        .execute()
    ).map(toAttemptRecord);
    return {
      ...toRunSummary(run),
      input: parse(run.input),
      output: parse(run.output),
      owner: run.owner,
      steps: steps.map((s) => ({
        stepId: s.stepId,
        name: s.stepName,
        status: s.status,
        attempts: s.attempts,
        idempotencyKey:
          s.keyGeneration === 0 ? `${runId}:${s.stepId}` : `${runId}:${s.stepId}:e${s.keyGeneration}`,
        input: parse(s.input),
        output: parse(s.output),
        error: s.error === null ? null : (JSON.parse(s.error) as ErrorSummary),
        startedAt: iso(s.startedAt)!,
        completedAt: iso(s.completedAt)!,
        durationMs: s.completedAt - s.startedAt,
        attemptHistory: attempts.filter((a) => a.stepId === s.stepId).map(toAttemptSummary),
      })),
    };
  }

  async retry(runId: string, scope: TenantScope = '*'): Promise<RunSummary> {
    return this.#reopen(runId, scope, 'retry', undefined);
  }

  async resume(runId: string, stepInput: unknown, scope: TenantScope = '*'): Promise<RunSummary> {
    return this.#reopen(runId, scope, 'resume', stepInput);
  }

  async #reopen(
    runId: string,
    scope: TenantScope,
    action: 'retry' | 'resume',
    stepInput: unknown,
  ): Promise<RunSummary> {
    const run = await this.#get(runId, scope);
    const now = this.#now();
    const reopened = await this.#store.transaction(async (tx) => {
      const db = tx.db<WorkflowTables>();
      // Compare-and-set on status and epoch: two operators acting at once cannot both reopen the run.
      const updated = await db
        .updateTable('wf_runs')
        .set({
          status: 'pending',
          error: null,
          owner: null,
          lease_expires_at: null,
          completed_at: null,
          updated_at: now,
        })
        .where('run_id', '=', runId)
        .where('status', '=', 'failed')
        .where('lease_epoch', '=', run.leaseEpoch)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) {
        const current = await db
          .selectFrom('wf_runs')
          .select('status')
          .where('run_id', '=', runId)
          .executeTakeFirst();
        throw new WorkflowRunStateError(runId, current?.status ?? run.status, action);
      }
      const recorded = run.error === null ? null : (JSON.parse(run.error) as RunRecordedError);
      const stepId = recorded?.stepId ?? null;
      if (action === 'resume') {
        if (stepId === null) {
          throw new WorkflowResumeNotApplicableError(
            runId,
            'it failed outside a step (the workflow code threw)',
          );
        }
        const step = await db
          .selectFrom('wf_steps')
          .selectAll()
          .where('run_id', '=', runId)
          .where('step_id', '=', stepId)
          .executeTakeFirst();
        if (!step || step.status !== 'failed') {
          throw new WorkflowResumeNotApplicableError(runId, `step ${stepId} has no failed record`);
        }
        if (step.input === null) {
          throw new WorkflowResumeNotApplicableError(
            runId,
            `step ${stepId} "${step.step_name}" declares no input`,
          );
        }
        const generation = Number(step.key_generation);
        const currentKey = generation === 0 ? `${runId}:${stepId}` : `${runId}:${stepId}:e${generation}`;
        const attempts = (
          await db
            .selectFrom('wf_attempts')
            .selectAll()
            .where('run_id', '=', runId)
            .where('step_id', '=', stepId)
            .where('idempotency_key', '=', currentKey)
            .orderBy('attempt')
            .execute()
        ).map(toAttemptRecord);
        const risky = attempts.find((a) => a.effect !== 'none');
        if (attempts.length === 0 || risky) {
          throw new WorkflowResumeUnsafeError(runId, stepId, risky?.attempt ?? 0);
        }
        await db
          .updateTable('wf_steps')
          .set({ status: 'retry', input: JSON.stringify(stepInput ?? null), key_generation: generation + 1 })
          .where('run_id', '=', runId)
          .where('step_id', '=', stepId)
          .execute();
      } else if (stepId !== null) {
        await db
          .updateTable('wf_steps')
          .set({ status: 'retry' })
          .where('run_id', '=', runId)
          .where('step_id', '=', stepId)
          .where('status', '=', 'failed')
          .execute();
      }
      const row = await db
        .selectFrom('wf_runs')
        .selectAll()
        .where('run_id', '=', runId)
        .executeTakeFirstOrThrow();
      return toRunRecord(row);
    });
    if (this.#runtime) await this.#runtime.dispatch(reopened, 'operator');
    return toRunSummary(reopened);
  }

  async cancel(runId: string, scope: TenantScope = '*'): Promise<RunSummary> {
    const run = await this.#get(runId, scope);
    const now = this.#now();
    const result = await this.#store.durable(async (tx) =>
      tx
        .db<WorkflowTables>()
        .updateTable('wf_runs')
        .set({
          status: 'cancelled',
          owner: null,
          lease_expires_at: null,
          wake_at: null,
          updated_at: now,
          completed_at: now,
        })
        .where('run_id', '=', runId)
        .where('status', 'in', ['pending', 'running', 'waiting', 'failed'])
        .executeTakeFirst(),
    );
    if (Number(result.numUpdatedRows) !== 1) {
      const current = await this.#get(runId, scope);
      throw new WorkflowRunStateError(runId, current.status, 'cancel');
    }
    this.#runtime?.cancelLocal(runId);
    return toRunSummary(await this.#get(runId, scope).catch(() => run));
  }
}
