// Capture: turns source records (from polling or webhooks) into canonical changes exactly once each.
// Every batch is one durable transaction holding the raw records (with the mapping version that read
// them), the per-record high-water marks, identities and links, the caller's canonical upsert and
// events (the change sink), and, for polling, the stream cursor: a crash leaves all or none of it.
//
// Repeats (overlap windows, webhook retries) hit the unique (tenant, system, stream, externalId,
// updatedAt) key and are no-ops; a version older than the one applied (out-of-order delivery) is kept
// raw but not applied. Paging itself is the connector's job (by (timestamp, id), never by offset).
import { Counter } from 'prom-client';
import { sql, type Kysely } from 'kysely';
import type { Connector, Cursor, JsonValue, Priority, SourceRecord } from '../connectors/index.ts';
import type { Store, StoreTx } from '../store/index.ts';
import { silentLogger, type Logger, type MetricsRegistry } from '../telemetry/index.ts';
import type { EchoMemory } from './echo-memory.ts';
import { SyncMapperMissingError, SyncMappingFailedError, SyncRecordCollisionError } from './errors.ts';
import { writeDeadLetter } from './echo-memory.ts';
import type { FieldOwnership, OwnershipViolation } from './field-ownership.ts';
import { linkEntities, resolveIdentity, type EntityRef } from './identity.ts';
import type { MappedRecord, RecordMapper } from './mapping.ts';
import { normalizeValue } from './normalize-value.ts';
import { normalizeSourceTime } from './source-time.ts';
import type { SyncEvents } from './sync-events.ts';
import type { SyncDb } from './tables.ts';

/** A canonical change the capture engine applied; what the change sink and propagation rules see. */
export interface CapturedChange {
  readonly tenantId: string;
  readonly system: string;
  readonly stream: string;
  readonly externalId: string;
  /** Source update time, normalised (UTC, 6 fractional digits). */
  readonly updatedAt: string;
  /** Row of `sync_raw_records` holding the payload. */
  readonly rawId: number;
  readonly entity: EntityRef;
  /** The full canonical fields after this change. */
  readonly fields: Readonly<Record<string, JsonValue>>;
  /** The fields before, as this system last gave them (undefined on first sight). */
  readonly previous: Readonly<Record<string, JsonValue>> | undefined;
  /** Fields whose normalised value differs from `previous` (on first sight: the non-empty ones). */
  readonly changed: readonly string[];
  /** Changed fields to propagate: genuine (not echoes), owned by this system, within causation depth. */
  readonly propagate: readonly string[];
  /** Changed fields that were read-backs of what Crossdock wrote. */
  readonly echoes: readonly string[];
  readonly violations: readonly OwnershipViolation[];
  /** Deepest causation chain among `propagate` (0 when no Crossdock write caused them). */
  readonly causationDepth: number;
  readonly deleted: boolean;
  readonly mappingVersion: string;
  /** True when produced by `remap` over a stored payload rather than by a new source version. */
  readonly remapped: boolean;
}

/**
 * Writes the canonical change where the rest of Crossdock reads it (entity store, event outbox), in the
 * capture transaction. Await only `tx` queries inside.
 */
export type ChangeSink = (tx: StoreTx, change: CapturedChange) => Promise<void>;

/** Mappers by (system, stream). */
export class MapperRegistry {
  readonly #mappers = new Map<string, RecordMapper>();
  register(system: string, stream: string, mapper: RecordMapper): this {
    this.#mappers.set(`${system}\u0000${stream}`, mapper);
    return this;
  }
  get(system: string, stream: string): RecordMapper | undefined {
    return this.#mappers.get(`${system}\u0000${stream}`);
  }
}

export interface CaptureEngineOptions {
  readonly store: Store;
  readonly mappers: MapperRegistry;
  /** Canonical upsert + events, in the capture transaction (default: none; state stays in sync_ tables). */
  readonly sink?: ChangeSink;
  /** Field ownership; without it every changed field may propagate. */
  readonly ownership?: FieldOwnership;
  /** Echo memory; without it no change is treated as an echo. */
  readonly echo?: EchoMemory;
  readonly events?: SyncEvents;
  readonly metrics?: MetricsRegistry;
  readonly logger?: Logger;
}

export interface IngestOptions {
  /** Cursor to store in the same transaction as the records (polling). */
  readonly cursor?: { readonly stream: string; readonly value: Cursor };
}

export interface IngestResult {
  readonly applied: number;
  readonly duplicates: number;
  readonly stale: number;
  readonly failed: number;
  /** Versions with the update time of a captured one but other content: not applied, dead-lettered. */
  readonly collisions: number;
  readonly changes: readonly CapturedChange[];
}

export interface PollOptions {
  /** Records per read (default: the connector's). */
  readonly limit?: number;
  /** Reads in one poll before yielding even if `hasMore` (default 100). */
  readonly maxPages?: number;
  /**
   * Name the stream's cursor is kept under (default: the stream's name). A backfill keeps its own,
   * so reading history neither moves nor waits for the live poll's position.
   */
  readonly cursorName?: string;
  /** When the cursor does not exist yet: read only records changed at or after this instant. */
  readonly since?: string;
  /** Rate-budget priority of the reads (default: the connector's, `low`). */
  readonly priority?: Priority;
  /** Called after each page is committed, e.g. to show progress. */
  readonly onPage?: (page: PollPage) => void;
  readonly signal?: AbortSignal;
}

export interface PollPage {
  readonly records: number;
  readonly applied: number;
  /** Newest source time on the page (ISO), if it had records. */
  readonly newest?: string;
  readonly hasMore: boolean;
}

export interface PollResult extends Omit<IngestResult, 'changes'> {
  readonly pages: number;
  /** True when `maxPages` stopped the loop while the connector still had records ready. */
  readonly hasMore: boolean;
}

type Prepared = {
  readonly record: SourceRecord;
  readonly updatedAt: string;
  readonly payload: string;
  readonly mappingVersion: string | null;
} & ({ readonly mapped: MappedRecord } | { readonly error: SyncMappingFailedError });

type Outcome = 'applied' | 'duplicate' | 'stale' | 'failed' | 'collision';

export class CaptureEngine {
  readonly #store: Store;
  readonly #mappers: MapperRegistry;
  readonly #sink: ChangeSink | undefined;
  readonly #ownership: FieldOwnership | undefined;
  readonly #echo: EchoMemory | undefined;
  readonly #events: SyncEvents | undefined;
  readonly #logger: Logger;
  readonly #records: Counter<'system' | 'stream' | 'outcome'> | undefined;

  constructor(options: CaptureEngineOptions) {
    this.#store = options.store;
    this.#mappers = options.mappers;
    this.#sink = options.sink;
    this.#ownership = options.ownership;
    this.#echo = options.echo;
    this.#events = options.events;
    this.#logger = options.logger ?? silentLogger();
    this.#records =
      options.metrics === undefined
        ? undefined
        : new Counter({
            name: 'crossdock_sync_records_total',
            help: 'Source records captured, by outcome (applied, duplicate, stale, failed, collision)',
            labelNames: ['system', 'stream', 'outcome'],
            registers: [options.metrics],
          });
  }

  /** The stored cursor of a stream (undefined: read from the beginning). */
  async loadCursor(tenantId: string, system: string, stream: string): Promise<Cursor | undefined> {
    const row = await this.#store
      .db<SyncDb>()
      .selectFrom('sync_cursors')
      .select('cursor')
      .where('tenant_id', '=', tenantId)
      .where('system', '=', system)
      .where('stream', '=', stream)
      .executeTakeFirst();
    return row === undefined ? undefined : (JSON.parse(row.cursor) as Cursor);
  }

  /**
   * Applies records (a webhook's, or one read's) durably: resolves once they are committed and synced,
   * so a webhook may be acknowledged then. Mapping runs before the transaction.
   */
  async ingest(
    tenantId: string,
    system: string,
    records: readonly SourceRecord[],
    options: IngestOptions = {},
  ): Promise<IngestResult> {
    const prepared = await Promise.all(records.map((r) => this.#prepare(tenantId, system, r)));
    // Oldest first, so a batch holding two versions of a record applies them in order.
    prepared.sort((a, b) =>
      a.updatedAt < b.updatedAt
        ? -1
        : a.updatedAt > b.updatedAt
          ? 1
          : a.record.externalId < b.record.externalId
            ? -1
            : a.record.externalId > b.record.externalId
              ? 1
              : 0,
    );
    return this.#store.durable(async (tx) => {
      const counts = { applied: 0, duplicates: 0, stale: 0, failed: 0, collisions: 0 };
      const changes: CapturedChange[] = [];
      const outcomes: [Prepared, Outcome][] = [];
      for (const p of prepared) {
        const [outcome, change] = await this.#applyOne(tx, tenantId, system, p);
        outcomes.push([p, outcome]);
        if (outcome === 'applied') counts.applied++;
        else if (outcome === 'duplicate') counts.duplicates++;
        else if (outcome === 'stale') counts.stale++;
        else if (outcome === 'collision') counts.collisions++;
        else counts.failed++;
        if (change !== undefined) changes.push(change);
      }
      if (options.cursor !== undefined) {
        await saveCursor(tx, tenantId, system, options.cursor.stream, options.cursor.value);
      }
      tx.afterCommit(() => this.#report(tenantId, system, outcomes, changes));
      return { ...counts, changes };
    });
  }

  /**
   * Reads `stream` from its stored cursor until the connector has nothing more ready (or `maxPages`),
   * ingesting each page and its next cursor in one transaction: the cursor never runs ahead of the
   * records it covers, and a crash between pages re-reads at most one page (then deduplicated).
   */
  async poll(
    tenantId: string,
    system: string,
    connector: Pick<Connector, 'read'>,
    stream: string,
    options: PollOptions = {},
  ): Promise<PollResult> {
    const maxPages = options.maxPages ?? 100;
    const cursorName = options.cursorName ?? stream;
    let cursor = await this.loadCursor(tenantId, system, cursorName);
    const totals = { applied: 0, duplicates: 0, stale: 0, failed: 0, collisions: 0 };
    let pages = 0;
    let hasMore: boolean;
    do {
      options.signal?.throwIfAborted();
      const page = await connector.read({
        stream,
        ...(cursor === undefined ? {} : { cursor }),
        ...(options.limit === undefined ? {} : { limit: options.limit }),
        ...(cursor === undefined && options.since !== undefined ? { since: options.since } : {}),
        ...(options.priority === undefined ? {} : { priority: options.priority }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      const r = await this.ingest(tenantId, system, page.records, {
        cursor: { stream: cursorName, value: page.cursor },
      });
      if (options.onPage !== undefined) {
        const newest = page.records.reduce<string | undefined>(
          (max, rec) => (max === undefined || rec.updatedAt > max ? rec.updatedAt : max),
          undefined,
        );
        options.onPage({
          records: page.records.length,
          applied: r.applied,
          ...(newest === undefined ? {} : { newest }),
          hasMore: page.hasMore,
        });
      }
      totals.applied += r.applied;
      totals.duplicates += r.duplicates;
      totals.stale += r.stale;
      totals.failed += r.failed;
      totals.collisions += r.collisions;
      cursor = page.cursor;
      hasMore = page.hasMore;
      pages++;
    } while (hasMore && pages < maxPages);
    return { ...totals, pages, hasMore };
  }

  /**
   * Re-runs `mapper` over the stored payloads of a stream (the newest version of each record), e.g.
   * after a custom-field mapping changed. Records whose canonical fields change are passed to the sink
   * as changes with `remapped: true`; the new mapping version is recorded on state and raw rows.
   */
  async remap(
    tenantId: string,
    system: string,
    stream: string,
    mapper: RecordMapper,
  ): Promise<{ readonly remapped: number; readonly changed: number; readonly failed: number }> {
    this.#mappers.register(system, stream, mapper);
    const db = this.#store.db<SyncDb>();
    const raws = await db
      .selectFrom('sync_raw_records')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('system', '=', system)
      .where('stream', '=', stream)
      .where('status', 'in', ['applied', 'mapping-failed'])
      .orderBy('external_id')
      .orderBy('source_updated_at', 'desc')
      .execute();
    const newest = new Map<string, (typeof raws)[number]>();
    for (const r of raws) if (!newest.has(r.external_id)) newest.set(r.external_id, r);
    let remapped = 0;
    let changed = 0;
    let failed = 0;
    for (const raw of newest.values()) {
      const record: SourceRecord = {
        stream,
        externalId: raw.external_id,
        updatedAt: raw.source_updated_at,
        payload: JSON.parse(raw.payload) as unknown,
        ...(raw.deleted === 1 ? { deleted: true } : {}),
      };
      const p = await this.#prepare(tenantId, system, record);
      if ('error' in p) {
        failed++;
        continue;
      }
      const change = await this.#store.durable(async (tx) => {
        const state = await readState(tx.db<SyncDb>(), tenantId, system, stream, raw.external_id);
        // A newer version may have been applied since the read above; leave it alone.
        if (state !== undefined && state.source_updated_at > p.updatedAt) return undefined;
        await tx
          .db<SyncDb>()
          .updateTable('sync_raw_records')
          .set({ status: 'applied', mapping_version: mapper.version, error: null })
          .where('id', '=', raw.id)
          .execute();
        return this.#applyMapped(tx, tenantId, system, p, p.mapped, Number(raw.id), state, true);
      });
      remapped++;
      if (change !== undefined && change.changed.length > 0) changed++;
    }
    return { remapped, changed, failed };
  }

  async #prepare(tenantId: string, system: string, record: SourceRecord): Promise<Prepared> {
    const updatedAt = normalizeSourceTime(record.updatedAt);
    const payload = JSON.stringify(record.payload ?? null);
    const mapper = this.#mappers.get(system, record.stream);
    if (mapper === undefined) throw new SyncMapperMissingError(system, record.stream);
    try {
      const mapped = await mapper.map(record, { tenantId, system });
      if (typeof mapped.kind !== 'string' || typeof mapped.fields !== 'object' || mapped.fields === null) {
        throw new TypeError('mapper returned no kind or fields');
      }
      return { record, updatedAt, payload, mappingVersion: mapper.version, mapped };
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      const error = new SyncMappingFailedError(system, record.stream, record.externalId, reason, cause);
      return { record, updatedAt, payload, mappingVersion: mapper.version, error };
    }
  }

  async #applyOne(
    tx: StoreTx,
    tenantId: string,
    system: string,
    p: Prepared,
  ): Promise<[Outcome, CapturedChange | undefined]> {
    const db = tx.db<SyncDb>();
    const { record } = p;
    if (tx.dialect === 'postgres') {
      // Serialises concurrent capture of one record (a webhook and a poll) until commit, so the
      // high-water-mark check below and the upsert after it see the same state.
      const lockKey = JSON.stringify(['sync', tenantId, system, record.stream, record.externalId]);
      await sql`select pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))`.execute(db);
    }
    // The state is read first so the raw row is written once, with its final status.
    const state =
      'error' in p ? undefined : await readState(db, tenantId, system, record.stream, record.externalId);
    const stale = state !== undefined && state.source_updated_at >= p.updatedAt;
    const status = 'error' in p ? 'mapping-failed' : stale ? 'stale' : 'applied';
    const inserted = await db
      .insertInto('sync_raw_records')
      .values({
        tenant_id: tenantId,
        system,
        stream: record.stream,
        external_id: record.externalId,
        source_updated_at: p.updatedAt,
        payload: p.payload,
        deleted: record.deleted === true ? 1 : 0,
        status,
        mapping_version: p.mappingVersion,
        error: 'error' in p ? p.error.reason : null,
        received_at: new Date().toISOString(),
      })
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .executeTakeFirst();
    if (inserted === undefined) {
      const stored = await db
        .selectFrom('sync_raw_records')
        .select('payload')
        .where('tenant_id', '=', tenantId)
        .where('system', '=', system)
        .where('stream', '=', record.stream)
        .where('external_id', '=', record.externalId)
        .where('source_updated_at', '=', p.updatedAt)
        .executeTakeFirst();
      if (stored === undefined || stored.payload === p.payload) return ['duplicate', undefined];
      // Systems serialise objects in no fixed key order (RT's Perl hashes): the same content twice.
      if (sameJson(stored.payload, p.payload)) return ['duplicate', undefined];
      // Same version key, other content: two changes inside the system's timestamp resolution. Which
      // is newer cannot be known here, so nothing is applied and an operator sees both.
      const error = new SyncRecordCollisionError(system, record.stream, record.externalId, p.updatedAt);
      const letterKey = `${system}/${record.stream}/${record.externalId}`;
      // Overlapping polls re-read the colliding version each pass: record it once.
      const open = await db
        .selectFrom('sync_dead_letters')
        .select('detail')
        .where('tenant_id', '=', tenantId)
        .where('code', '=', error.code)
        .where('entity_key', '=', letterKey)
        .where('resolved_at', 'is', null)
        .execute();
      const received = JSON.parse(p.payload) as JsonValue;
      const seen = open.some((l) => {
        const d = JSON.parse(l.detail) as { updatedAt?: string; received?: JsonValue };
        return d.updatedAt === p.updatedAt && JSON.stringify(d.received) === JSON.stringify(received);
      });
      if (seen) return ['duplicate', undefined];
      await writeDeadLetter(tx, tenantId, error.code, letterKey, {
        updatedAt: p.updatedAt,
        stored: JSON.parse(stored.payload) as JsonValue,
        received,
      });
      tx.afterCommit(() => {
        this.#logger.warn({ err: error, tenantId }, 'sync record collision');
        this.#events?.emit('sync:record-collision', {
          tenantId,
          system,
          stream: record.stream,
          externalId: record.externalId,
          updatedAt: p.updatedAt,
        });
      });
      return ['collision', undefined];
    }
    if ('error' in p) return ['failed', undefined];
    if (stale) {
      tx.afterCommit(() =>
        this.#events?.emit('sync:record-stale', {
          tenantId,
          system,
          stream: record.stream,
          externalId: record.externalId,
          updatedAt: p.updatedAt,
          appliedUpdatedAt: state.source_updated_at,
        }),
      );
      return ['stale', undefined];
    }
    const change = await this.#applyMapped(
      tx,
      tenantId,
      system,
      p,
      p.mapped,
      Number(inserted.id),
      state,
      false,
    );
    return ['applied', change];
  }

  async #applyMapped(
    tx: StoreTx,
    tenantId: string,
    system: string,
    p: Prepared,
    mapped: MappedRecord,
    rawId: number,
    state: StateRow | undefined,
    remapped: boolean,
  ): Promise<CapturedChange> {
    const db = tx.db<SyncDb>();
    const { record } = p;
    const canonicalId =
      state?.entity_kind === mapped.kind
        ? state.canonical_id
        : await resolveIdentity(tx, tenantId, mapped.kind, { system, externalId: record.externalId });
    const entity = { kind: mapped.kind, id: canonicalId };
    for (const link of mapped.links ?? []) {
      const to = await resolveIdentity(tx, tenantId, link.kind, {
        system: link.system ?? system,
        externalId: link.externalId,
      });
      await linkEntities(tx, tenantId, entity, link.relation, { kind: link.kind, id: to });
    }
    const previous =
      state === undefined ? undefined : (JSON.parse(state.fields) as Record<string, JsonValue>);
    const changed = diffFields(previous, mapped.fields);
    const now = new Date().toISOString();
    const values = {
      source_updated_at: p.updatedAt,
      raw_id: rawId,
      entity_kind: mapped.kind,
      canonical_id: canonicalId,
      fields: JSON.stringify(mapped.fields),
      deleted: record.deleted === true ? 1 : 0,
      mapping_version: p.mappingVersion ?? '',
      applied_at: now,
    };
    if (state === undefined) {
      await db
        .insertInto('sync_record_state')
        .values({
          tenant_id: tenantId,
          system,
          stream: record.stream,
          external_id: record.externalId,
          ...values,
        })
        .execute();
    } else {
      await db
        .updateTable('sync_record_state')
        .set(values)
        .where('tenant_id', '=', tenantId)
        .where('system', '=', system)
        .where('stream', '=', record.stream)
        .where('external_id', '=', record.externalId)
        .execute();
    }

    // Which changed fields travel on: not echoes, owned by this system, not part of a runaway chain.
    const entityKey = `${entity.kind}:${entity.id}`;
    const echoes: string[] = [];
    const genuine: Record<string, JsonValue> = {};
    let depth = 0;
    const changedValues = Object.fromEntries(changed.map((f) => [f, mapped.fields[f] ?? null]));
    const classes =
      this.#echo === undefined || remapped
        ? undefined
        : await this.#echo.classifyChanges(tx, tenantId, system, entityKey, changedValues);
    for (const field of changed) {
      const value = changedValues[field]!;
      const c = classes?.get(field);
      if (c === undefined || this.#echo === undefined) {
        genuine[field] = value;
        continue;
      }
      if (c.kind === 'echo') {
        echoes.push(field);
        continue;
      }
      if (
        await this.#echo.deadLetterIfTooDeep(tx, tenantId, entityKey, c.causationDepth, {
          system,
          stream: record.stream,
          externalId: record.externalId,
          field,
          value,
        })
      ) {
        continue;
      }
      depth = Math.max(depth, c.causationDepth);
      genuine[field] = value;
    }
    let propagate = Object.keys(genuine);
    let violations: readonly OwnershipViolation[] = [];
    if (this.#ownership !== undefined) {
      if (remapped) {
        const own = this.#ownership;
        propagate = propagate.filter((f) => own.owns(system, entity.kind, f));
      } else {
        const checked = await this.#ownership.check(tx, tenantId, system, entity, genuine);
        propagate = [...checked.allowed];
        violations = checked.violations;
      }
    }
    const change: CapturedChange = {
      tenantId,
      system,
      stream: record.stream,
      externalId: record.externalId,
      updatedAt: p.updatedAt,
      rawId,
      entity,
      fields: mapped.fields,
      previous,
      changed,
      propagate,
      echoes,
      violations,
      causationDepth: depth,
      deleted: record.deleted === true,
      mappingVersion: p.mappingVersion ?? '',
      remapped,
    };
    // A re-mapping that changes nothing is recorded (mapping version) but is no canonical change.
    if (this.#sink !== undefined && !(remapped && changed.length === 0)) await this.#sink(tx, change);
    return change;
  }

  #report(
    tenantId: string,
    system: string,
    outcomes: [Prepared, Outcome][],
    changes: CapturedChange[],
  ): void {
    for (const [p, outcome] of outcomes) {
      const { stream, externalId } = p.record;
      this.#records?.inc({ system, stream, outcome });
      if (outcome === 'duplicate') {
        this.#events?.emit('sync:record-duplicate', {
          tenantId,
          system,
          stream,
          externalId,
          updatedAt: p.updatedAt,
        });
      } else if (outcome === 'failed' && 'error' in p) {
        this.#logger.warn({ err: p.error, tenantId, system, stream, externalId }, 'sync mapping failed');
        this.#events?.emit('sync:mapping-failed', {
          tenantId,
          system,
          stream,
          externalId,
          reason: p.error.reason,
        });
      }
    }
    for (const c of changes) {
      this.#events?.emit('sync:record-applied', {
        tenantId,
        system,
        stream: c.stream,
        externalId: c.externalId,
        updatedAt: c.updatedAt,
        entity: c.entity,
      });
    }
  }
}

/** Two JSON texts with the same content, whatever the order of keys in their objects. */
function sameJson(a: string, b: string): boolean {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
          )
        : v;
  try {
    return JSON.stringify(sorted(JSON.parse(a))) === JSON.stringify(sorted(JSON.parse(b)));
  } catch {
    return false;
  }
}

type StateRow = { source_updated_at: string; entity_kind: string; canonical_id: string; fields: string };

async function readState(
  db: Kysely<SyncDb>,
  tenantId: string,
  system: string,
  stream: string,
  externalId: string,
): Promise<StateRow | undefined> {
  return db
    .selectFrom('sync_record_state')
    .select(['source_updated_at', 'entity_kind', 'canonical_id', 'fields'])
    .where('tenant_id', '=', tenantId)
    .where('system', '=', system)
    .where('stream', '=', stream)
    .where('external_id', '=', externalId)
    .executeTakeFirst();
}

async function saveCursor(tx: StoreTx, tenantId: string, system: string, stream: string, cursor: Cursor) {
  await tx
    .db<SyncDb>()
    .insertInto('sync_cursors')
    .values({
      tenant_id: tenantId,
      system,
      stream,
      cursor: JSON.stringify(cursor),
      updated_at: new Date().toISOString(),
    })
    .onConflict((oc) =>
      oc.columns(['tenant_id', 'system', 'stream']).doUpdateSet((eb) => ({
        cursor: eb.ref('excluded.cursor'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

function diffFields(
  before: Readonly<Record<string, JsonValue>> | undefined,
  after: Readonly<Record<string, JsonValue>>,
): string[] {
  // First sight compares with nothing: a field that is null or absent there is not a change.
  const was = before ?? {};
  const keys = new Set([...Object.keys(was), ...Object.keys(after)]);
  return [...keys].filter((k) => normalizeValue(was[k]) !== normalizeValue(after[k]));
}
