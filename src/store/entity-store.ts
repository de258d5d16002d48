// The entity store: canonical entities with optimistic concurrency, lookup by canonical id and by
// external reference, and the link graph between them. Every query names its tenant; no method can
// read or link across tenants. Writes go through the group committer (or a caller's transaction, so an
// entity and the event it causes commit together).
import type { Kysely } from 'kysely';
import {
  ENTITY_KINDS,
  assertStatusChange,
  assertValidEntity,
  kindOfId,
  type AnyEntity,
  type EntityKind,
  type EntityOf,
  type ExternalRef,
} from '../domain/index.ts';
import { NotFoundError } from '../errors/index.ts';
import { ExternalRefConflictError, VersionConflictError } from './errors.ts';
import { prepareQuery } from './prepared-query.ts';
import type { Store, StoreTx } from './store.ts';

interface EntityTables {
  ent_entities: {
    tenant_id: string;
    id: string;
    kind: string;
    version: number;
    schema_version: number;
    data: string;
    created_at: string;
    updated_at: string;
    last_changed_by: string;
  };
  ent_external_refs: {
    tenant_id: string;
    kind: string;
    system: string;
    external_id: string;
    entity_id: string;
  };
  ent_links: { tenant_id: string; from_id: string; to_id: string; relation: string; created_at: string };
}
type Db = Kysely<EntityTables>;

export interface WriteOptions {
  /** System making the change (`tryton`, `request-tracker`, `crossdock`, `api`); stored as `lastChangedBy`. */
  readonly changedBy: string;
  /** Run inside this transaction instead of a durable group commit of its own. */
  readonly tx?: StoreTx;
}

export interface ReadOptions {
  /** Read inside this transaction (sees its uncommitted writes). */
  readonly tx?: StoreTx;
}

export interface LinkedEntity {
  readonly kind: EntityKind;
  readonly entity: AnyEntity;
  /** The link that reached it: `from` -> `to` with its relation. */
  readonly via: { readonly from: string; readonly to: string; readonly relation: string };
  /** Hops from the starting entity (1 = directly linked). */
  readonly depth: number;
}

export interface LinkedOptions extends ReadOptions {
  /** How many hops to follow (default 1, at most 5). */
  readonly depth?: number;
  /** Only return (and only walk through) these kinds. */
  readonly kinds?: readonly EntityKind[];
  /** Stop after this many entities (default 500). */
  readonly limit?: number;
}

export interface ListOptions extends ReadOptions {
  /** Return entities with ids after this one (ids sort by creation). */
  readonly after?: string;
  /** Page size (default 100, at most 1000). */
  readonly limit?: number;
}

export interface EntityStore {
  /**
   * Stores `entity` if its `version` is the stored version (0: must not exist yet); the stored copy gets
   * version + 1, a fresh `updatedAt` and `lastChangedBy`. A stale version fails with VERSION_CONFLICT,
   * a forbidden status change with ILLEGAL_TRANSITION, an invalid entity with VALIDATION_FAILED, an
   * external ref owned by another entity with EXTERNAL_REF_CONFLICT. Reference fields (`orderId`,
   * `customerId`, ...) become links named after the field.
   */
  upsert<K extends EntityKind>(kind: K, entity: EntityOf<K>, options: WriteOptions): Promise<EntityOf<K>>;
  get<K extends EntityKind>(
    tenantId: string,
    id: string,
    options?: ReadOptions & { kind?: K },
  ): Promise<EntityOf<K> | undefined>;
  findByExternalRef<K extends EntityKind>(
    tenantId: string,
    kind: K,
    ref: ExternalRef,
    options?: ReadOptions,
  ): Promise<EntityOf<K> | undefined>;
  list<K extends EntityKind>(tenantId: string, kind: K, options?: ListOptions): Promise<EntityOf<K>[]>;
  /** Links two existing entities of the tenant (NOT_FOUND otherwise); linking twice is a no-op. */
  link(
    tenantId: string,
    fromId: string,
    toId: string,
    relation: string,
    options?: { tx?: StoreTx },
  ): Promise<void>;
  unlink(
    tenantId: string,
    fromId: string,
    toId: string,
    relation: string,
    options?: { tx?: StoreTx },
  ): Promise<void>;
  /** Entities linked to `id` in either direction, breadth first, up to `depth` hops. */
  linked(tenantId: string, id: string, options?: LinkedOptions): Promise<LinkedEntity[]>;
}

/** Reference fields that become links: top-level string fields named `<something>Id` holding a canonical id. */
function referenceLinks(entity: AnyEntity): Map<string, string> {
  const links = new Map<string, string>();
  for (const [field, value] of Object.entries(entity)) {
    if (field === 'id' || field === 'tenantId' || !field.endsWith('Id') || typeof value !== 'string')
      continue;
    if (kindOfId(value) !== undefined) links.set(`${field}:${value}`, value);
  }
  return links;
}

function refKey(ref: ExternalRef): string {
  return `${ref.system}\u0000${ref.id}`;
}

const MAX_DEPTH = 5;

class EntityStoreImpl implements EntityStore {
  // Point queries on the hot paths, compiled once (see prepared-query.ts).
  readonly #q;

  constructor(private readonly store: Store) {
    const db = store.db<EntityTables>();
    this.#q = {
      current: prepareQuery(db, (d, p: (n: 'tenantId' | 'id') => never) =>
        d
          .selectFrom('ent_entities')
          .select(['version', 'data'])
          .where('tenant_id', '=', p('tenantId'))
          .where('id', '=', p('id')),
      ),
      version: prepareQuery(db, (d, p: (n: 'tenantId' | 'id') => never) =>
        d
          .selectFrom('ent_entities')
          .select('version')
          .where('tenant_id', '=', p('tenantId'))
          .where('id', '=', p('id')),
      ),
      data: prepareQuery(db, (d, p: (n: 'tenantId' | 'id') => never) =>
        d
          .selectFrom('ent_entities')
          .select('data')
          .where('tenant_id', '=', p('tenantId'))
          .where('id', '=', p('id')),
      ),
      dataOfKind: prepareQuery(db, (d, p: (n: 'tenantId' | 'id' | 'kind') => never) =>
        d
          .selectFrom('ent_entities')
          .select('data')
          .where('tenant_id', '=', p('tenantId'))
          .where('id', '=', p('id'))
          .where('kind', '=', p('kind')),
      ),
      byRef: prepareQuery(db, (d, p: (n: 'tenantId' | 'kind' | 'system' | 'externalId') => never) =>
        d
          .selectFrom('ent_external_refs as r')
          .innerJoin('ent_entities as e', (join) =>
            join.onRef('e.tenant_id', '=', 'r.tenant_id').onRef('e.id', '=', 'r.entity_id'),
          )
          .select('e.data')
          .where('r.tenant_id', '=', p('tenantId'))
          .where('r.kind', '=', p('kind'))
          .where('r.system', '=', p('system'))
          .where('r.external_id', '=', p('externalId')),
      ),
      insert: prepareQuery(
        db,
        (
          d,
          p: (
            n:
              | 'tenantId'
              | 'id'
              | 'kind'
              | 'version'
              | 'schemaVersion'
              | 'data'
              | 'createdAt'
              | 'updatedAt'
              | 'changedBy',
          ) => never,
        ) =>
          d
            .insertInto('ent_entities')
            .values({
              tenant_id: p('tenantId'),
              id: p('id'),
              kind: p('kind'),
              version: p('version'),
              schema_version: p('schemaVersion'),
              data: p('data'),
              created_at: p('createdAt'),
              updated_at: p('updatedAt'),
              last_changed_by: p('changedBy'),
            })
            .onConflict((oc) => oc.columns(['tenant_id', 'id']).doNothing()),
      ),
      update: prepareQuery(
        db,
        (
          d,
          p: (
            n:
              | 'tenantId'
              | 'id'
              | 'expected'
              | 'version'
              | 'schemaVersion'
              | 'data'
              | 'updatedAt'
              | 'changedBy',
          ) => never,
        ) =>
          d
            .updateTable('ent_entities')
            .set({
              version: p('version'),
              schema_version: p('schemaVersion'),
              data: p('data'),
              updated_at: p('updatedAt'),
              last_changed_by: p('changedBy'),
            })
            .where('tenant_id', '=', p('tenantId'))
            .where('id', '=', p('id'))
            .where('version', '=', p('expected')),
      ),
    };
  }

  #db(tx: StoreTx | undefined): Db {
    return tx === undefined ? this.store.db<EntityTables>() : tx.db<EntityTables>();
  }

  async upsert<K extends EntityKind>(
    kind: K,
    entity: EntityOf<K>,
    options: WriteOptions,
  ): Promise<EntityOf<K>> {
    assertValidEntity(kind, entity);
    const write = (tx: StoreTx) => this.#upsertIn(tx.db<EntityTables>(), kind, entity, options.changedBy);
    return options.tx === undefined ? this.store.durable(write) : write(options.tx);
  }

  async #upsertIn<K extends EntityKind>(
    db: Db,
    kind: K,
    input: EntityOf<K>,
    changedBy: string,
  ): Promise<EntityOf<K>> {
    const tenantId = input.tenantId;
    const expected = input.version;
    // A create needs no read: the primary key refuses a second one (one round trip saved on PostgreSQL).
    const current =
      expected === 0 ? undefined : (await this.#q.current.execute(db, { tenantId, id: input.id })).rows[0];
    if (
      (current === undefined) !== (expected === 0) ||
      (current !== undefined && current.version !== expected)
    ) {
      throw new VersionConflictError(input.id, expected, current?.version ?? null);
    }
    const previous = current === undefined ? undefined : (JSON.parse(current.data) as AnyEntity);
    if (previous !== undefined) {
      assertStatusChange(
        kind,
        (previous as { status?: string }).status,
        (input as { status?: string }).status,
      );
    }
    const now = new Date().toISOString();
    const stored = {
      ...input,
      version: expected + 1,
      createdAt: previous?.createdAt ?? input.createdAt,
      updatedAt: now,
      lastChangedBy: changedBy,
    } as EntityOf<K>;
    const data = JSON.stringify(stored);
    if (current === undefined) {
      // ON CONFLICT DO NOTHING rather than catching the violation: on PostgreSQL an error would abort
      // the caller's transaction, and we still need to read the winner's version.
      const inserted = await this.#q.insert.execute(db, {
        tenantId,
        id: stored.id,
        kind,
        version: stored.version,
        schemaVersion: ENTITY_KINDS[kind].schemaVersion,
        data,
        createdAt: stored.createdAt,
        updatedAt: now,
        changedBy,
      });
      if ((inserted.numAffectedRows ?? 0n) === 0n) {
        throw new VersionConflictError(input.id, expected, await this.#versionOf(db, tenantId, input.id));
      }
    } else {
      const result = await this.#q.update.execute(db, {
        tenantId,
        id: stored.id,
        expected,
        version: stored.version,
        schemaVersion: ENTITY_KINDS[kind].schemaVersion,
        data,
        updatedAt: now,
        changedBy,
      });
      if ((result.numAffectedRows ?? 0n) === 0n) {
        throw new VersionConflictError(input.id, expected, await this.#versionOf(db, tenantId, stored.id));
      }
    }
    await this.#syncRefs(db, kind, stored, previous);
    await this.#syncReferenceLinks(db, stored, previous, now);
    return stored;
  }

  async #versionOf(db: Db, tenantId: string, id: string): Promise<number | null> {
    const row = (await this.#q.version.execute(db, { tenantId, id })).rows[0];
    return row?.version ?? null;
  }

  async #syncRefs(
    db: Db,
    kind: EntityKind,
    entity: AnyEntity,
    previous: AnyEntity | undefined,
  ): Promise<void> {
    const before = new Map((previous?.externalRefs ?? []).map((r) => [refKey(r), r]));
    const after = new Map(entity.externalRefs.map((r) => [refKey(r), r]));
    for (const [key, ref] of before) {
      if (after.has(key)) continue;
      await db
        .deleteFrom('ent_external_refs')
        .where('tenant_id', '=', entity.tenantId)
        .where('kind', '=', kind)
        .where('system', '=', ref.system)
        .where('external_id', '=', ref.id)
        .where('entity_id', '=', entity.id)
        .execute();
    }
    for (const [key, ref] of after) {
      if (before.has(key)) continue;
      const inserted = await db
        .insertInto('ent_external_refs')
        .values({
          tenant_id: entity.tenantId,
          kind,
          system: ref.system,
          external_id: ref.id,
          entity_id: entity.id,
        })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      if ((inserted.numInsertedOrUpdatedRows ?? 0n) > 0n) continue;
      const owner = await db
        .selectFrom('ent_external_refs')
        .select('entity_id')
        .where('tenant_id', '=', entity.tenantId)
        .where('kind', '=', kind)
        .where('system', '=', ref.system)
        .where('external_id', '=', ref.id)
        .executeTakeFirst();
      if (owner !== undefined && owner.entity_id !== entity.id) {
        throw new ExternalRefConflictError(kind, ref.system, ref.id, entity.id, owner.entity_id);
      }
    }
  }

  async #syncReferenceLinks(
    db: Db,
    entity: AnyEntity,
    previous: AnyEntity | undefined,
    now: string,
  ): Promise<void> {
    const before = previous === undefined ? new Map<string, string>() : referenceLinks(previous);
    const after = referenceLinks(entity);
    for (const [key, target] of before) {
      if (after.has(key)) continue;
      await db
        .deleteFrom('ent_links')
        .where('tenant_id', '=', entity.tenantId)
        .where('from_id', '=', entity.id)
        .where('to_id', '=', target)
        .where('relation', '=', key.slice(0, key.indexOf(':')))
        .execute();
    }
    const added = [...after].filter(([key]) => !before.has(key));
    if (added.length === 0) return;
    await db
      .insertInto('ent_links')
      .values(
        added.map(([key, target]) => ({
          tenant_id: entity.tenantId,
          from_id: entity.id,
          to_id: target,
          relation: key.slice(0, key.indexOf(':')),
          created_at: now,
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  async get<K extends EntityKind>(
    tenantId: string,
    id: string,
    options: ReadOptions & { kind?: K } = {},
  ): Promise<EntityOf<K> | undefined> {
    const db = this.#db(options.tx);
    const { rows } =
      options.kind === undefined
        ? await this.#q.data.execute(db, { tenantId, id })
        : await this.#q.dataOfKind.execute(db, { tenantId, id, kind: options.kind });
    const row = rows[0];
    return row === undefined ? undefined : (JSON.parse(row.data) as EntityOf<K>);
  }

  async findByExternalRef<K extends EntityKind>(
    tenantId: string,
    kind: K,
    ref: ExternalRef,
    options: ReadOptions = {},
  ): Promise<EntityOf<K> | undefined> {
    const { rows } = await this.#q.byRef.execute(this.#db(options.tx), {
      tenantId,
      kind,
      system: ref.system,
      externalId: ref.id,
    });
    const row = rows[0];
    return row === undefined ? undefined : (JSON.parse(row.data) as EntityOf<K>);
  }

  async list<K extends EntityKind>(
    tenantId: string,
    kind: K,
    options: ListOptions = {},
  ): Promise<EntityOf<K>[]> {
    let query = this.#db(options.tx)
      .selectFrom('ent_entities')
      .select('data')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind);
    if (options.after !== undefined) query = query.where('id', '>', options.after);
    const rows = await query
      .orderBy('id')
      .limit(Math.min(Math.max(1, options.limit ?? 100), 1000))
      .execute();
    return rows.map((r) => JSON.parse(r.data) as EntityOf<K>);
  }

  async link(
    tenantId: string,
    fromId: string,
    toId: string,
    relation: string,
    options: { tx?: StoreTx } = {},
  ): Promise<void> {
    const write = async (db: Db): Promise<void> => {
      const found = await db
        .selectFrom('ent_entities')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', [fromId, toId])
        .execute();
      for (const id of [fromId, toId]) {
        if (!found.some((r) => r.id === id)) throw new NotFoundError(`entity ${id}`);
      }
      await db
        .insertInto('ent_links')
        .values({
          tenant_id: tenantId,
          from_id: fromId,
          to_id: toId,
          relation,
          created_at: new Date().toISOString(),
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
    };
    if (options.tx !== undefined) return write(options.tx.db<EntityTables>());
    return this.store.durable((tx) => write(tx.db<EntityTables>()));
  }

  async unlink(
    tenantId: string,
    fromId: string,
    toId: string,
    relation: string,
    options: { tx?: StoreTx } = {},
  ): Promise<void> {
    const write = async (db: Db): Promise<void> => {
      await db
        .deleteFrom('ent_links')
        .where('tenant_id', '=', tenantId)
        .where('from_id', '=', fromId)
        .where('to_id', '=', toId)
        .where('relation', '=', relation)
        .execute();
    };
    if (options.tx !== undefined) return write(options.tx.db<EntityTables>());
    return this.store.durable((tx) => write(tx.db<EntityTables>()));
  }

  async linked(tenantId: string, id: string, options: LinkedOptions = {}): Promise<LinkedEntity[]> {
    const db = this.#db(options.tx);
    const depth = Math.min(Math.max(1, options.depth ?? 1), MAX_DEPTH);
    const limit = Math.max(1, options.limit ?? 500);
    const kinds = options.kinds === undefined ? undefined : new Set<string>(options.kinds);
    const seen = new Set([id]);
    const out: LinkedEntity[] = [];
    let frontier = [id];
    for (let level = 1; level <= depth && frontier.length > 0 && out.length < limit; level++) {
      const edges = await db
        .selectFrom('ent_links')
        .select(['from_id', 'to_id', 'relation'])
        .where('tenant_id', '=', tenantId)
        .where((eb) => eb.or([eb('from_id', 'in', frontier), eb('to_id', 'in', frontier)]))
        .orderBy('from_id')
        .orderBy('to_id')
        .orderBy('relation')
        .execute();
      const reached = new Map<string, { from: string; to: string; relation: string }>();
      for (const edge of edges) {
        const other = frontier.includes(edge.from_id) ? edge.to_id : edge.from_id;
        if (seen.has(other) || reached.has(other)) continue;
        const otherKind = kindOfId(other);
        if (kinds !== undefined && (otherKind === undefined || !kinds.has(otherKind))) continue;
        reached.set(other, { from: edge.from_id, to: edge.to_id, relation: edge.relation });
      }
      if (reached.size === 0) break;
      // Only entities that exist in this tenant: a link to a missing or foreign id yields nothing.
      const rows = await db
        .selectFrom('ent_entities')
        .select(['id', 'kind', 'data'])
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', [...reached.keys()])
        .orderBy('id')
        .execute();
      frontier = [];
      for (const row of rows) {
        seen.add(row.id);
        frontier.push(row.id);
        if (out.length >= limit) break;
        out.push({
          kind: row.kind as EntityKind,
          entity: JSON.parse(row.data) as AnyEntity,
          via: reached.get(row.id)!,
          depth: level,
        });
      }
    }
    return out;
  }
}

/** The entity store over `store` (which must have `storeMigrations` applied). */
export function createEntityStore(store: Store): EntityStore {
  return new EntityStoreImpl(store);
}
