// Field ownership: which system may change which canonical field. A change to a field from a system
// that does not own it is not propagated; it is reported (a `sync_violations` row an operator lists,
// the `sync:ownership-violated` event, the `crossdock_sync_ownership_violations_total` counter).
// By default the ERP owns order, shipment, invoice and credit fields and the helpdesk owns case fields.
import type { Kysely } from 'kysely';
import { Counter } from 'prom-client';
import type { JsonValue, SystemKind } from '../connectors/index.ts';
import type { StoreTx } from '../store/index.ts';
import type { MetricsRegistry } from '../telemetry/index.ts';
import type { EntityRef } from './identity.ts';
import type { SyncEvents } from './sync-events.ts';
import type { SyncDb } from './tables.ts';

export interface EntityOwnership {
  /** Owner of every field of the kind not listed in `fields`: a system name (`tryton`) or kind (`erp`). */
  readonly owner: string;
  /** Per-field owners overriding `owner`, e.g. a case's `orderStatus` owned by `erp`. */
  readonly fields?: Readonly<Record<string, string>>;
}

/** Entity kind -> ownership. Kinds not listed may be changed by any system. */
export type OwnershipConfig = Readonly<Record<string, EntityOwnership>>;

export const DEFAULT_OWNERSHIP: OwnershipConfig = {
  order: { owner: 'erp' },
  shipment: { owner: 'erp' },
  invoice: { owner: 'erp' },
  creditStatus: { owner: 'erp' },
  creditHold: { owner: 'erp' },
  case: { owner: 'helpdesk' },
};

export interface OwnershipViolation {
  readonly system: string;
  readonly owner: string;
  readonly entity: EntityRef;
  readonly field: string;
  readonly value: JsonValue;
}

export interface OwnershipCheck {
  /** Fields the system owns (or nobody owns): propagate these. */
  readonly allowed: readonly string[];
  readonly violations: readonly OwnershipViolation[];
}

export interface ViolationRow extends OwnershipViolation {
  readonly id: number;
  readonly detectedAt: string;
}

export interface FieldOwnershipOptions {
  /** Ownership per entity kind (default DEFAULT_OWNERSHIP). */
  readonly config?: OwnershipConfig;
  /** Kind of each configured system by name, e.g. `{ tryton: 'erp', rt: 'helpdesk' }`. */
  readonly systems: Readonly<Record<string, SystemKind>>;
  readonly events?: SyncEvents;
  readonly metrics?: MetricsRegistry;
}

export class FieldOwnership {
  readonly #config: OwnershipConfig;
  readonly #systems: Readonly<Record<string, SystemKind>>;
  readonly #events: SyncEvents | undefined;
  readonly #counter: Counter<'system' | 'entity_kind'> | undefined;

  constructor(options: FieldOwnershipOptions) {
    this.#config = options.config ?? DEFAULT_OWNERSHIP;
    this.#systems = options.systems;
    this.#events = options.events;
    this.#counter =
      options.metrics === undefined
        ? undefined
        : new Counter({
            name: 'crossdock_sync_ownership_violations_total',
            help: 'Field changes from a system that does not own the field (not propagated)',
            labelNames: ['system', 'entity_kind'],
            registers: [options.metrics],
          });
  }

  /** The configured owner of `field` of `kind`, or undefined when nobody owns it. */
  ownerOf(kind: string, field: string): string | undefined {
    const entity = this.#config[kind];
    if (entity === undefined) return undefined;
    return entity.fields?.[field] ?? entity.owner;
  }

  owns(system: string, kind: string, field: string): boolean {
    const owner = this.ownerOf(kind, field);
    return owner === undefined || owner === system || owner === this.#systems[system];
  }

  /** Splits `changes` into fields `system` may change and violations, recording the violations in `tx`. */
  async check(
    tx: StoreTx,
    tenantId: string,
    system: string,
    entity: EntityRef,
    changes: Readonly<Record<string, JsonValue>>,
  ): Promise<OwnershipCheck> {
    const allowed: string[] = [];
    const violations: OwnershipViolation[] = [];
    for (const [field, value] of Object.entries(changes)) {
      if (this.owns(system, entity.kind, field)) allowed.push(field);
      else violations.push({ system, owner: this.ownerOf(entity.kind, field)!, entity, field, value });
    }
    if (violations.length > 0) {
      const now = new Date().toISOString();
      await tx
        .db<SyncDb>()
        .insertInto('sync_violations')
        .values(
          violations.map((v) => ({
            tenant_id: tenantId,
            system: v.system,
            owner: v.owner,
            entity_kind: v.entity.kind,
            entity_id: v.entity.id,
            field: v.field,
            value: JSON.stringify(v.value),
            detected_at: now,
          })),
        )
        .execute();
      tx.afterCommit(() => {
        for (const v of violations) {
          this.#counter?.inc({ system: v.system, entity_kind: v.entity.kind });
          this.#events?.emit('sync:ownership-violated', { tenantId, ...v });
        }
      });
    }
    return { allowed, violations };
  }
}

/** Violations recorded for a tenant, newest first, for the operator's list. */
export async function listViolations(
  db: Kysely<SyncDb>,
  tenantId: string,
  options: { readonly limit?: number; readonly beforeId?: number } = {},
): Promise<ViolationRow[]> {
  let q = db.selectFrom('sync_violations').selectAll().where('tenant_id', '=', tenantId);
  if (options.beforeId !== undefined) q = q.where('id', '<', options.beforeId);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(options.limit ?? 100)
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    system: r.system,
    owner: r.owner,
    entity: { kind: r.entity_kind, id: r.entity_id },
    field: r.field,
    value: JSON.parse(r.value) as JsonValue,
    detectedAt: r.detected_at,
  }));
}
