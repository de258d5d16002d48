// The effect ledger: every write to another system, by business key (e.g. case + milestone kind +
// version), recorded durably before it is sent and after its outcome is known. Applied effects are never
// sent again; an effect that may have been sent (ambiguous outcome, or a crash between sending and
// recording) is looked up in the target (`findEffect`, by the marker the write carries) before any
// retry, so a system without idempotency keys still gets each effect exactly once.
import { createHash, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { Counter } from 'prom-client';
import type { Command, Connector, Effect, JsonValue, WriteOutcome } from '../connectors/index.ts';
import { CrossdockError, InternalError } from '../errors/index.ts';
import type { Store, StoreTx } from '../store/index.ts';
import { silentLogger, type Logger, type MetricsRegistry } from '../telemetry/index.ts';
import { crashPoint } from './crash-points.ts';
import { SyncEffectConflictError, SyncEffectInFlightError, SyncEffectUnverifiableError } from './errors.ts';
import type { SyncEvents } from './sync-events.ts';
import type { SyncDb, SyncEffectsTable } from './tables.ts';

export const EFFECT_STATUSES = {
  /** Recorded; may or may not have been sent (see `attempts`). */
  pending: 'pending',
  applied: 'applied',
  notApplied: 'not-applied',
  /** Sent, no answer: look it up before retrying. */
  ambiguous: 'ambiguous',
} as const;
export type EffectStatus = (typeof EFFECT_STATUSES)[keyof typeof EFFECT_STATUSES];

export interface EffectRecord {
  readonly tenantId: string;
  readonly system: string;
  readonly businessKey: string;
  readonly commandType: string;
  readonly idempotencyKey: string;
  readonly args: JsonValue;
  readonly status: EffectStatus;
  /** Times the command was handed to the connector. */
  readonly attempts: number;
  readonly externalId: string | undefined;
  readonly effect: Effect | undefined;
  readonly lastError: string | undefined;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type EffectResult =
  /** `sent`: this call sent the command; false when it was found applied (ledger or target lookup). */
  | {
      readonly status: 'applied';
      readonly effect: Effect;
      readonly sent: boolean;
      readonly record: EffectRecord;
    }
  | { readonly status: 'not-applied'; readonly error: CrossdockError; readonly record: EffectRecord }
  | { readonly status: 'ambiguous'; readonly error: CrossdockError; readonly record: EffectRecord };

export interface EffectRequest {
  /** Command type, one of the connector's. */
  readonly type: string;
  readonly args: JsonValue;
  readonly signal?: AbortSignal;
}

export interface PerformOptions {
  /** Runs in the transaction that records the applied outcome (e.g. echo memory, desired-state ack). */
  readonly onApplied?: (tx: StoreTx, effect: Effect) => Promise<void>;
}

const PROCESS_OWNER = `${process.pid}-${randomUUID()}`;

export interface EffectLedgerOptions {
  readonly store: Store;
  /**
   * How long an attempt that has not recorded its outcome keeps others from sending the same effect, in
   * ms (default 60000; keep it above the connector's write timeout). After it, the attempt is presumed
   * dead and the next one looks the effect up in the target before sending.
   */
  readonly attemptLeaseMs?: number;
  /**
   * This process is the only one sending effects on its store (the embedded SQLite mode is one
   * process): an unfinished attempt recorded by another process was made by one that is gone,
   * so it is looked up in the target at once instead of waiting out `attemptLeaseMs` (default false:
   * other live processes may share the store).
   */
  readonly exclusive?: boolean;
  readonly events?: SyncEvents;
  readonly metrics?: MetricsRegistry;
  readonly logger?: Logger;
}

/** The idempotency key of a business effect: stable, so every retry (and every process) uses the same. */
export function effectIdempotencyKey(tenantId: string, system: string, businessKey: string): string {
  const digest = createHash('sha256')
    .update(`${tenantId}\u0000${system}\u0000${businessKey}`)
    .digest('base64url');
  return `cd-${digest.slice(0, 24)}`;
}

export class EffectLedger {
  readonly #store: Store;
  readonly #leaseMs: number;
  readonly #exclusive: boolean;
  /** Marks this process's attempts (shared by its ledgers: among them the lease applies). */
  readonly #owner = PROCESS_OWNER;
  readonly #events: SyncEvents | undefined;
  readonly #logger: Logger;
  readonly #outcomes: Counter<'system' | 'status'> | undefined;

  constructor(options: EffectLedgerOptions) {
    this.#store = options.store;
    this.#leaseMs = options.attemptLeaseMs ?? 60_000;
    this.#exclusive = options.exclusive ?? false;
    this.#events = options.events;
    this.#logger = options.logger ?? silentLogger();
    this.#outcomes =
      options.metrics === undefined
        ? undefined
        : new Counter({
            name: 'crossdock_sync_effects_total',
            help: 'Effect ledger outcomes: applied (sent or found), not-applied, ambiguous',
            labelNames: ['system', 'status'],
            registers: [options.metrics],
          });
  }

  /**
   * Performs the effect named by `businessKey` in `system` at most once: returns the recorded effect if
   * it was applied; checks the target before resending anything that may have been sent; records the
   * intent and each attempt durably before sending and the outcome durably after.
   */
  async perform(
    tenantId: string,
    system: string,
    connector: Pick<Connector, 'describe' | 'write' | 'findEffect'>,
    businessKey: string,
    request: EffectRequest,
    options: PerformOptions = {},
  ): Promise<EffectResult> {
    const idempotencyKey = effectIdempotencyKey(tenantId, system, businessKey);
    const now = new Date().toISOString();
    const row = await this.#store.durable(async (tx) => {
      const db = tx.db<SyncDb>();
      await db
        .insertInto('sync_effects')
        .values({
          tenant_id: tenantId,
          system,
          business_key: businessKey,
          command_type: request.type,
          idempotency_key: idempotencyKey,
          args: JSON.stringify(request.args),
          status: EFFECT_STATUSES.pending,
          attempts: 0,
          external_id: null,
          effect: null,
          last_error: null,
          created_at: now,
          updated_at: now,
          attempt_owner: null,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return (await selectEffect(db, tenantId, system, businessKey))!;
    });
    if (row.command_type !== request.type) {
      throw new SyncEffectConflictError(system, businessKey, row.command_type, request.type);
    }
    if (row.status === EFFECT_STATUSES.applied) {
      const record = toRecord(row);
      return { status: 'applied', effect: record.effect!, sent: false, record };
    }
    crashPoint('after-intent-recorded');

    const command: Command = {
      type: request.type,
      idempotencyKey,
      args: request.args,
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    };
    const predecessor = this.#exclusive && row.attempt_owner !== this.#owner;
    if (row.status === EFFECT_STATUSES.pending && row.attempts > 0 && !predecessor) {
      const left = Date.parse(row.updated_at) + this.#leaseMs - Date.now();
      if (left > 0) throw new SyncEffectInFlightError(system, businessKey, left);
    }
    // Sent before and never answered (or answered and not recorded): find out before sending again.
    const maySent = row.attempts > 0 && row.status !== EFFECT_STATUSES.notApplied;
    if (maySent) {
      if (connector.findEffect !== undefined) {
        const lookup = await connector.findEffect(command);
        if (lookup.found) {
          const record = await this.#record(
            tenantId,
            system,
            businessKey,
            row.attempts,
            {
              status: 'applied',
              effect: lookup.effect,
              replayed: true,
            },
            options,
          );
          return { status: 'applied', effect: lookup.effect, sent: false, record };
        }
      } else {
        const mode = connector.describe().commands.find((c) => c.type === request.type)?.idempotency;
        if (mode !== 'native') throw new SyncEffectUnverifiableError(system, businessKey);
      }
    }

    const attempts = row.attempts + 1;
    const claimed = await this.#store.durable(async (tx) => {
      const r = await tx
        .db<SyncDb>()
        .updateTable('sync_effects')
        .set({
          attempts,
          status: EFFECT_STATUSES.pending,
          updated_at: new Date().toISOString(),
          attempt_owner: this.#owner,
        })
        .where('tenant_id', '=', tenantId)
        .where('system', '=', system)
        .where('business_key', '=', businessKey)
        // Guarded: of two callers that read the same row, only one gets to send.
        .where('attempts', '=', row.attempts)
        .where('status', '=', row.status)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    });
    if (!claimed) throw new SyncEffectInFlightError(system, businessKey, this.#leaseMs);
    crashPoint('before-remote-write');
    let outcome: WriteOutcome;
    try {
      outcome = await connector.write(command);
    } catch (cause) {
      // The contract says write returns failures; a throw after the request may have left is unknown.
      outcome = {
        status: 'ambiguous',
        error: cause instanceof CrossdockError ? cause : new InternalError({ cause }),
      };
    }
    crashPoint('after-remote-write-before-ledger');
    const record = await this.#record(tenantId, system, businessKey, attempts, outcome, options);
    crashPoint('after-ledger-before-ack');
    if (outcome.status === 'applied')
      return { status: 'applied', effect: outcome.effect, sent: true, record };
    return { status: outcome.status, error: outcome.error, record };
  }

  async get(tenantId: string, system: string, businessKey: string): Promise<EffectRecord | undefined> {
    const row = await selectEffect(this.#store.db<SyncDb>(), tenantId, system, businessKey);
    return row === undefined ? undefined : toRecord(row);
  }

  /** Effects of a tenant, optionally by status (an operator's list of ambiguous ones, say). */
  async list(tenantId: string, filter: { readonly status?: EffectStatus } = {}): Promise<EffectRecord[]> {
    let q = this.#store.db<SyncDb>().selectFrom('sync_effects').selectAll().where('tenant_id', '=', tenantId);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    return (await q.orderBy('created_at').execute()).map(toRecord);
  }

  async #record(
    tenantId: string,
    system: string,
    businessKey: string,
    attempts: number,
    outcome: WriteOutcome,
    options: PerformOptions,
  ): Promise<EffectRecord> {
    const row = await this.#store.durable(async (tx) => {
      const db = tx.db<SyncDb>();
      await db
        .updateTable('sync_effects')
        .set({
          status: outcome.status,
          attempts,
          external_id: outcome.status === 'applied' ? outcome.effect.externalId : null,
          effect: outcome.status === 'applied' ? JSON.stringify(outcome.effect) : null,
          last_error: outcome.status === 'applied' ? null : `${outcome.error.code}: ${outcome.error.message}`,
          updated_at: new Date().toISOString(),
        })
        .where('tenant_id', '=', tenantId)
        .where('system', '=', system)
        .where('business_key', '=', businessKey)
        .execute();
      if (outcome.status === 'applied' && options.onApplied !== undefined) {
        await options.onApplied(tx, outcome.effect);
      }
      return (await selectEffect(db, tenantId, system, businessKey))!;
    });
    const replayed = outcome.status === 'applied' && outcome.replayed;
    this.#outcomes?.inc({ system, status: outcome.status });
    if (outcome.status !== 'applied') {
      this.#logger.warn({ tenantId, system, businessKey, err: outcome.error }, `effect ${outcome.status}`);
    }
    this.#events?.emit('sync:effect-recorded', {
      tenantId,
      system,
      businessKey,
      status: outcome.status,
      attempts,
      replayed,
    });
    return toRecord(row);
  }
}

async function selectEffect(
  db: Kysely<SyncDb>,
  tenantId: string,
  system: string,
  businessKey: string,
): Promise<SyncEffectsTable | undefined> {
  return db
    .selectFrom('sync_effects')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('system', '=', system)
    .where('business_key', '=', businessKey)
    .executeTakeFirst();
}

function toRecord(row: SyncEffectsTable): EffectRecord {
  return {
    tenantId: row.tenant_id,
    system: row.system,
    businessKey: row.business_key,
    commandType: row.command_type,
    idempotencyKey: row.idempotency_key,
    args: JSON.parse(row.args) as JsonValue,
    status: row.status as EffectStatus,
    attempts: Number(row.attempts),
    externalId: row.external_id ?? undefined,
    effect: row.effect === null ? undefined : (JSON.parse(row.effect) as Effect),
    lastError: row.last_error ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
