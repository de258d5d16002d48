// Identity and links: resolves a system's external id to the canonical id of an entity (creating it
// on first sight, so a shipment that arrives before its order still links to it), registers the ids
// other systems give the same entity, and keeps the correlation graph between canonical entities
// (order, shipments, tracking, invoices, credit, returns, cases, customer). Every query is per tenant.
import { sql, type Kysely } from 'kysely';
import { ulid } from 'ulid';
import { ID_PREFIXES, newId, type IdKind } from '../domain/index.ts';
import type { StoreTx } from '../store/index.ts';
import type { SyncDb } from './tables.ts';

export interface EntityRef {
  readonly kind: string;
  readonly id: string;
}

export interface ExternalRef {
  readonly system: string;
  readonly externalId: string;
}

export interface LinkEdge {
  readonly from: EntityRef;
  readonly relation: string;
  readonly to: EntityRef;
}

export interface CorrelationGraph {
  /** Every entity reached from the start, the start first. */
  readonly nodes: readonly EntityRef[];
  readonly edges: readonly LinkEdge[];
}

/** A domain id (`ord_<ULID>`) for the canonical kinds of src/domain, a bare ULID for other kinds. */
function newCanonicalId(kind: string): string {
  return Object.hasOwn(ID_PREFIXES, kind) ? newId(kind as IdKind) : ulid();
}

/** Canonical id of (kind, system, externalId); a new id is assigned the first time it is seen. */
export async function resolveIdentity(
  tx: StoreTx,
  tenantId: string,
  kind: string,
  ref: ExternalRef,
): Promise<string> {
  const db = tx.db<SyncDb>();
  const found = await findCanonicalId(db, tenantId, kind, ref);
  if (found !== undefined) return found;
  const inserted = await db
    .insertInto('sync_identities')
    .values({
      tenant_id: tenantId,
      entity_kind: kind,
      system: ref.system,
      external_id: ref.externalId,
      canonical_id: newCanonicalId(kind),
      created_at: new Date().toISOString(),
    })
    .onConflict((oc) => oc.doNothing())
    .returning('canonical_id')
    .executeTakeFirst();
  // No row: a concurrent transaction (PostgreSQL) won the insert; its id is the one.
  return inserted?.canonical_id ?? (await findCanonicalId(db, tenantId, kind, ref))!;
}

/**
 * Records that `ref` names the canonical entity `entity` (e.g. the helpdesk ticket Crossdock created for
 * an order's case). Returns false when `ref` already names another entity: identities never move.
 */
export async function registerIdentity(
  tx: StoreTx,
  tenantId: string,
  entity: EntityRef,
  ref: ExternalRef,
): Promise<boolean> {
  const db = tx.db<SyncDb>();
  await db
    .insertInto('sync_identities')
    .values({
      tenant_id: tenantId,
      entity_kind: entity.kind,
      system: ref.system,
      external_id: ref.externalId,
      canonical_id: entity.id,
      created_at: new Date().toISOString(),
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
  return (await findCanonicalId(db, tenantId, entity.kind, ref)) === entity.id;
}

export async function findCanonicalId(
  db: Kysely<SyncDb>,
  tenantId: string,
  kind: string,
  ref: ExternalRef,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('sync_identities')
    .select('canonical_id')
    .where('tenant_id', '=', tenantId)
    .where('entity_kind', '=', kind)
    .where('system', '=', ref.system)
    .where('external_id', '=', ref.externalId)
    .executeTakeFirst();
  return row?.canonical_id;
}

/** The id `system` uses for a canonical entity, if Crossdock knows one. */
export async function findExternalId(
  db: Kysely<SyncDb>,
  tenantId: string,
  entity: EntityRef,
  system: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('sync_identities')
    .select('external_id')
    .where('tenant_id', '=', tenantId)
    .where('entity_kind', '=', entity.kind)
    .where('canonical_id', '=', entity.id)
    .where('system', '=', system)
    .orderBy('created_at')
    .executeTakeFirst();
  return row?.external_id;
}

/** Adds the edge `from -relation-> to` (idempotent). */
export async function linkEntities(
  tx: StoreTx,
  tenantId: string,
  from: EntityRef,
  relation: string,
  to: EntityRef,
): Promise<void> {
  await tx
    .db<SyncDb>()
    .insertInto('sync_links')
    .values({
      tenant_id: tenantId,
      from_kind: from.kind,
      from_id: from.id,
      relation,
      to_kind: to.kind,
      to_id: to.id,
      created_at: new Date().toISOString(),
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/**
 * Everything connected to `start` within `maxHops` edges, followed in both directions: from an order,
 * its shipments, their tracking, invoices, credit, returns, the cases about any of them, the customer.
 */
export async function correlationGraph(
  db: Kysely<SyncDb>,
  tenantId: string,
  start: EntityRef,
  maxHops = 4,
): Promise<CorrelationGraph> {
  const key = (e: EntityRef) => `${e.kind}\u0000${e.id}`;
  const nodes = new Map<string, EntityRef>([[key(start), start]]);
  const edges = new Map<string, LinkEdge>();
  let frontier: EntityRef[] = [start];
  for (let hop = 0; hop < maxHops && frontier.length > 0; hop++) {
    const next: EntityRef[] = [];
    // One query per hop: rows touching any frontier node on either end.
    const pairs = frontier.map((e) => sql`(${e.kind}, ${e.id})`);
    const rows = await db
      .selectFrom('sync_links')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where((eb) =>
        eb.or([
          eb(sql`(from_kind, from_id)`, 'in', sql`(${sql.join(pairs)})`),
          eb(sql`(to_kind, to_id)`, 'in', sql`(${sql.join(pairs)})`),
        ]),
      )
      .execute();
    for (const r of rows) {
      const from = { kind: r.from_kind, id: r.from_id };
      const to = { kind: r.to_kind, id: r.to_id };
      edges.set(`${key(from)}\u0000${r.relation}\u0000${key(to)}`, { from, relation: r.relation, to });
      for (const n of [from, to]) {
        if (!nodes.has(key(n))) {
          nodes.set(key(n), n);
          next.push(n);
        }
      }
    }
    frontier = next;
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}
