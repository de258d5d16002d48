// Desired state and coalesced propagation: what a target record should hold (e.g. a helpdesk case's
// order fields), versioned per (tenant, target system, target record). Every change merges into it
// and bumps the version; the propagator writes only the latest version, once, through the effect
// ledger (business key `<record>:desired:v<version>`), so a burst of ten order changes makes one
// helpdesk update. The applied version only moves forward, so a stale propagation never wins.
import type { Kysely } from 'kysely';
import type { Connector, JsonValue } from '../connectors/index.ts';
import type { Store, StoreTx } from '../store/index.ts';
import { crashPoint } from './crash-points.ts';
import type { EchoMemory } from './echo-memory.ts';
import { writeDeadLetter } from './echo-memory.ts';
import type { EffectLedger, EffectRequest, EffectResult } from './effect-ledger.ts';
import { SyncCausationDepthExceededError } from './errors.ts';
import type { SyncDb, SyncDesiredTable } from './tables.ts';

export interface DesiredTarget {
  readonly system: string;
  /** The record in that system, as a canonical entity key, e.g. `case:01J...`. */
  readonly recordKey: string;
}

export interface DesiredRecord extends DesiredTarget {
  readonly tenantId: string;
  readonly fields: Readonly<Record<string, JsonValue>>;
  readonly version: number;
  readonly appliedVersion: number;
  readonly causationDepth: number;
}

/** Turns the desired fields of a target into the command that writes them. */
export type CommandBuilder = (desired: DesiredRecord) => EffectRequest | Promise<EffectRequest>;

export type PropagateResult =
  | { readonly status: 'up-to-date'; readonly version: number }
  | { readonly status: 'written'; readonly version: number; readonly effect: EffectResult }
  /** The write was not applied or its outcome is unknown; the effect says which, with the error. */
  | {
      readonly status: 'failed';
      readonly version: number;
      readonly effect: Exclude<EffectResult, { readonly status: 'applied' }>;
    }
  | {
      readonly status: 'dead-lettered';
      readonly version: number;
      readonly error: SyncCausationDepthExceededError;
    };

/**
 * Merges `fields` into the desired state of `target` and bumps its version, in the caller's transaction
 * (the one applying the canonical change that caused it). Returns the new version.
 */
export async function setDesired(
  tx: StoreTx,
  tenantId: string,
  target: DesiredTarget,
  fields: Readonly<Record<string, JsonValue>>,
  causationDepth = 0,
): Promise<number> {
  const db = tx.db<SyncDb>();
  const current = await selectDesired(db, tenantId, target);
  const now = new Date().toISOString();
  if (current === undefined) {
    const inserted = await db
      .insertInto('sync_desired')
      .values({
        tenant_id: tenantId,
        system: target.system,
        record_key: target.recordKey,
        fields: JSON.stringify(fields),
        version: 1,
        applied_version: 0,
        causation_depth: causationDepth,
        updated_at: now,
      })
      .onConflict((oc) => oc.doNothing())
      .returning('version')
      .executeTakeFirst();
    // Lost an insert race (PostgreSQL): merge into the winner's row.
    return inserted !== undefined ? 1 : setDesired(tx, tenantId, target, fields, causationDepth);
  }
  const merged = { ...(JSON.parse(current.fields) as Record<string, JsonValue>), ...fields };
  const pending = Number(current.version) > Number(current.applied_version);
  const version = Number(current.version) + 1;
  const updated = await db
    .updateTable('sync_desired')
    .set({
      fields: JSON.stringify(merged),
      version,
      // Coalesced changes carry the deepest chain among them, so a loop cannot hide in a burst.
      causation_depth: pending ? Math.max(Number(current.causation_depth), causationDepth) : causationDepth,
      updated_at: now,
    })
    .where('tenant_id', '=', tenantId)
    .where('system', '=', target.system)
    .where('record_key', '=', target.recordKey)
    .where('version', '=', current.version)
    .executeTakeFirst();
  // Guarded by version: a concurrent writer (PostgreSQL) bumped it first; merge on top of theirs.
  if (Number(updated.numUpdatedRows) === 0) return setDesired(tx, tenantId, target, fields, causationDepth);
  return version;
}

export interface PropagatorOptions {
  readonly store: Store;
  readonly ledger: EffectLedger;
  /** Connector of each target system by name. */
  readonly connector: (system: string) => Pick<Connector, 'describe' | 'write' | 'findEffect'>;
  readonly buildCommand: CommandBuilder;
  /** Remembers written values so their read-back is an echo; also holds the causation depth cap. */
  readonly echo?: EchoMemory;
  /** Causation depth cap when no echo memory is given (default 8). */
  readonly maxCausationDepth?: number;
}

export class Propagator {
  readonly #o: PropagatorOptions;

  constructor(options: PropagatorOptions) {
    this.#o = options;
  }

  async get(tenantId: string, target: DesiredTarget): Promise<DesiredRecord | undefined> {
    const row = await selectDesired(this.#o.store.db<SyncDb>(), tenantId, target);
    return row === undefined ? undefined : toRecord(row);
  }

  /**
   * Writes the latest desired version of `target` if it is not applied yet. Idempotent: run it again
   * (after a crash, or from a retried workflow step) and the ledger returns the recorded effect.
   */
  async propagate(tenantId: string, target: DesiredTarget): Promise<PropagateResult> {
    const desired = await this.get(tenantId, target);
    if (desired === undefined) return { status: 'up-to-date', version: 0 };
    if (desired.appliedVersion >= desired.version) return { status: 'up-to-date', version: desired.version };
    const max = this.#o.echo?.maxCausationDepth ?? this.#o.maxCausationDepth ?? 8;
    if (desired.causationDepth > max) {
      const error = new SyncCausationDepthExceededError(target.recordKey, desired.causationDepth, max);
      await this.#o.store.durable(async (tx) => {
        await writeDeadLetter(tx, tenantId, error.code, target.recordKey, {
          system: target.system,
          version: desired.version,
          depth: desired.causationDepth,
          fields: desired.fields,
        });
        await ack(tx, tenantId, target, desired.version);
      });
      return { status: 'dead-lettered', version: desired.version, error };
    }
    const request = await this.#o.buildCommand(desired);
    const effect = await this.#o.ledger.perform(
      tenantId,
      target.system,
      this.#o.connector(target.system),
      `${target.recordKey}:desired:v${desired.version}`,
      request,
      {
        onApplied: async (tx) => {
          await this.#o.echo?.recordWritten(
            tx,
            tenantId,
            target.system,
            target.recordKey,
            desired.fields,
            desired.causationDepth,
          );
        },
      },
    );
    if (effect.status !== 'applied') return { status: 'failed', version: desired.version, effect };
    crashPoint('after-effect-before-desired-ack');
    await this.#o.store.durable((tx) => ack(tx, tenantId, target, desired.version));
    return { status: 'written', version: desired.version, effect };
  }

  /** Propagates every target of a tenant with an unapplied version; returns the results by record. */
  async drain(tenantId: string): Promise<Map<string, PropagateResult>> {
    const rows = await this.#o.store
      .db<SyncDb>()
      .selectFrom('sync_desired')
      .select(['system', 'record_key'])
      .where('tenant_id', '=', tenantId)
      .whereRef('applied_version', '<', 'version')
      .orderBy('updated_at')
      .execute();
    const results = new Map<string, PropagateResult>();
    for (const r of rows) {
      results.set(
        `${r.system}/${r.record_key}`,
        await this.propagate(tenantId, { system: r.system, recordKey: r.record_key }),
      );
    }
    return results;
  }
}

async function ack(tx: StoreTx, tenantId: string, target: DesiredTarget, version: number): Promise<void> {
  await tx
    .db<SyncDb>()
    .updateTable('sync_desired')
    .set({ applied_version: version })
    .where('tenant_id', '=', tenantId)
    .where('system', '=', target.system)
    .where('record_key', '=', target.recordKey)
    .where('applied_version', '<', version)
    .execute();
}

async function selectDesired(
  db: Kysely<SyncDb>,
  tenantId: string,
  target: DesiredTarget,
): Promise<SyncDesiredTable | undefined> {
  return db
    .selectFrom('sync_desired')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('system', '=', target.system)
    .where('record_key', '=', target.recordKey)
    .executeTakeFirst();
}

function toRecord(row: SyncDesiredTable): DesiredRecord {
  return {
    tenantId: row.tenant_id,
    system: row.system,
    recordKey: row.record_key,
    fields: JSON.parse(row.fields) as Record<string, JsonValue>,
    version: Number(row.version),
    appliedVersion: Number(row.applied_version),
    causationDepth: Number(row.causation_depth),
  };
}
