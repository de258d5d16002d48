// Echo suppression: per (tenant, system, entity, field) the normalised value Crossdock last wrote into
// that system. A read-back equal to it is an echo (not propagated); anything else is a genuine change,
// even one second after the write (a person editing the field must still propagate). A genuine change
// that replaces a Crossdock write is one step deeper in a causation chain; past `maxCausationDepth`
// the chain is a loop and the change goes to a dead letter instead of being propagated.
import type { Kysely } from 'kysely';
import type { JsonValue } from '../connectors/index.ts';
import type { StoreTx } from '../store/index.ts';
import { normalizeValue } from './normalize-value.ts';
import type { SyncEvents } from './sync-events.ts';
import type { SyncDb } from './tables.ts';

export type ChangeClass =
  | { readonly kind: 'echo' }
  /** `causationDepth`: 0 for a change nobody at Crossdock caused; n+1 when it replaces a write of depth n. */
  | { readonly kind: 'genuine'; readonly causationDepth: number };

export interface EchoMemoryOptions {
  /** Longest chain of changes caused by Crossdock writes before a loop is assumed (default 8). */
  readonly maxCausationDepth?: number;
  /** Normal form per field name, for fields a system rewrites more loosely (default normalizeValue). */
  readonly fieldNormalizers?: Readonly<Record<string, (value: JsonValue | undefined) => string>>;
  readonly events?: SyncEvents;
}

export interface DeadLetterRow {
  readonly id: number;
  readonly code: string;
  readonly entityKey: string;
  readonly detail: JsonValue;
  readonly createdAt: string;
}

export const DEFAULT_MAX_CAUSATION_DEPTH = 8;

export class EchoMemory {
  readonly maxCausationDepth: number;
  readonly #normalizers: Readonly<Record<string, (value: JsonValue | undefined) => string>>;
  readonly #events: SyncEvents | undefined;

  constructor(options: EchoMemoryOptions = {}) {
    this.maxCausationDepth = options.maxCausationDepth ?? DEFAULT_MAX_CAUSATION_DEPTH;
    this.#normalizers = options.fieldNormalizers ?? {};
    this.#events = options.events;
  }

  normalize(field: string, value: JsonValue | undefined): string {
    return (this.#normalizers[field] ?? normalizeValue)(value);
  }

  /** Remembers what Crossdock wrote into `system` (call in the transaction recording the applied effect). */
  async recordWritten(
    tx: StoreTx,
    tenantId: string,
    system: string,
    entityKey: string,
    fields: Readonly<Record<string, JsonValue>>,
    causationDepth: number,
  ): Promise<void> {
    const now = new Date().toISOString();
    const rows = Object.entries(fields).map(([field, value]) => ({
      tenant_id: tenantId,
      system,
      entity_key: entityKey,
      field,
      value: this.normalize(field, value),
      causation_depth: causationDepth,
      written_at: now,
    }));
    if (rows.length === 0) return;
    await tx
      .db<SyncDb>()
      .insertInto('sync_written')
      .values(rows)
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'system', 'entity_key', 'field']).doUpdateSet((eb) => ({
          value: eb.ref('excluded.value'),
          causation_depth: eb.ref('excluded.causation_depth'),
          written_at: eb.ref('excluded.written_at'),
        })),
      )
      .execute();
  }

  /**
   * Echo or genuine. A genuine change forgets the remembered write, so the field's next read-backs are
   * judged against nothing (a person setting it back to Crossdock's old value is genuine too).
   */
  async classifyChange(
    tx: StoreTx,
    tenantId: string,
    system: string,
    entityKey: string,
    field: string,
    value: JsonValue | undefined,
  ): Promise<ChangeClass> {
    const classes = await this.classifyChanges(tx, tenantId, system, entityKey, { [field]: value ?? null });
    return classes.get(field)!;
  }

  /** `classifyChange` for several fields of one entity, in two queries at most. */
  async classifyChanges(
    tx: StoreTx,
    tenantId: string,
    system: string,
    entityKey: string,
    values: Readonly<Record<string, JsonValue>>,
  ): Promise<Map<string, ChangeClass>> {
    const fields = Object.keys(values);
    const result = new Map<string, ChangeClass>();
    if (fields.length === 0) return result;
    const db = tx.db<SyncDb>();
    const rows = await db
      .selectFrom('sync_written')
      .select(['field', 'value', 'causation_depth'])
      .where('tenant_id', '=', tenantId)
      .where('system', '=', system)
      .where('entity_key', '=', entityKey)
      .where('field', 'in', fields)
      .execute();
    const written = new Map(rows.map((r) => [r.field, r]));
    const replaced: string[] = [];
    for (const field of fields) {
      const w = written.get(field);
      if (w === undefined) result.set(field, { kind: 'genuine', causationDepth: 0 });
      else if (w.value === this.normalize(field, values[field])) result.set(field, { kind: 'echo' });
      else {
        replaced.push(field);
        result.set(field, { kind: 'genuine', causationDepth: Number(w.causation_depth) + 1 });
      }
    }
    if (replaced.length > 0) {
      await db
        .deleteFrom('sync_written')
        .where('tenant_id', '=', tenantId)
        .where('system', '=', system)
        .where('entity_key', '=', entityKey)
        .where('field', 'in', replaced)
        .execute();
    }
    const echoes = fields.filter((f) => result.get(f)!.kind === 'echo');
    if (echoes.length > 0) {
      tx.afterCommit(() => {
        for (const field of echoes)
          this.#events?.emit('sync:echo-suppressed', { tenantId, system, entityKey, field });
      });
    }
    return result;
  }

  /** True when `depth` is beyond the cap; then a dead letter is written in `tx`. */
  async deadLetterIfTooDeep(
    tx: StoreTx,
    tenantId: string,
    entityKey: string,
    depth: number,
    detail: JsonValue,
  ): Promise<boolean> {
    if (depth <= this.maxCausationDepth) return false;
    await writeDeadLetter(tx, tenantId, 'SYNC_CAUSATION_DEPTH_EXCEEDED', entityKey, {
      depth,
      maxDepth: this.maxCausationDepth,
      detail,
    });
    tx.afterCommit(() =>
      this.#events?.emit('sync:dead-lettered', {
        tenantId,
        code: 'SYNC_CAUSATION_DEPTH_EXCEEDED',
        entityKey,
      }),
    );
    return true;
  }
}

export async function writeDeadLetter(
  tx: StoreTx,
  tenantId: string,
  code: string,
  entityKey: string,
  detail: JsonValue,
): Promise<void> {
  await tx
    .db<SyncDb>()
    .insertInto('sync_dead_letters')
    .values({
      tenant_id: tenantId,
      code,
      entity_key: entityKey,
      detail: JSON.stringify(detail),
      created_at: new Date().toISOString(),
      resolved_at: null,
    })
    .execute();
}

/** Open sync dead letters of a tenant, oldest first. */
export async function listDeadLetters(db: Kysely<SyncDb>, tenantId: string): Promise<DeadLetterRow[]> {
  const rows = await db
    .selectFrom('sync_dead_letters')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('resolved_at', 'is', null)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    code: r.code,
    entityKey: r.entity_key,
    detail: JSON.parse(r.detail) as JsonValue,
    createdAt: r.created_at,
  }));
}
