// The durable event log. `appendEvents(tx, events)` writes events inside the caller's transaction (the
// outbox: a change and its events commit or vanish together); `EventLog` appends on its own through
// the store's group commit, reads by global position, publishes positions on PostgreSQL and wakes
// in-process listeners (and, through LISTEN/NOTIFY, other processes) when new events commit.
//
// Why a publisher on PostgreSQL: sequence values are taken at insert time but transactions commit in
// any order, so a reader taking `position > last` would skip a row that commits late. Rows are
// therefore written without a position; the publisher gives positions, in one step serialized by
// the head row's lock, to the rows already committed (visible to it), in row-id order. A row that
// commits later simply gets a later position at the next publication: positions never fill in
// behind a reader. Per entity, row-id order is sequence order (a writer takes the entity's next
// sequence only after the previous writer committed), so positions keep each entity's order. The
// transaction id is kept with each row for diagnosis. (Filtering on `pg_snapshot_xmin` instead would
// also be safe, but xmin is cluster-wide: one long transaction in any database would stall
// publication.) On SQLite there is one writer, so insertion order is commit order and the row id is
// the position.
import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { monotonicFactory } from 'ulid';
import type { Logger } from '../telemetry/index.ts';
import { silentLogger } from '../telemetry/index.ts';
import { entitySubject, type JsonObject, type LoggedEvent, type NewEvent } from './envelope.ts';
import { EventInvalidError } from './errors.ts';
import { EVENT_TYPES, isEventType, type EventType } from './event-types.ts';
import type { EventMetrics } from './event-metrics.ts';
import type { Dialect, EventStore, EventTx } from './store-port.ts';
import type { EvEventsTable, EventsDb } from './tables.ts';

/** Channel appenders NOTIFY on (PostgreSQL) so every process's dispatcher wakes. */
export const EVENTS_NOTIFY_CHANNEL = 'crossdock_events';

/** Rows per multi-row INSERT (keeps SQLite under its bound-parameter limit). */
const INSERT_CHUNK = 300;
/** Rows the publisher numbers per step. */
const PUBLISH_BATCH = 5000;

export interface AppendedEvent {
  readonly id: string;
  readonly type: EventType;
  readonly tenantId: string;
  readonly entityKind: string;
  readonly entityId: string;
  readonly entitySeq: number;
  /** Position, known at once on SQLite; on PostgreSQL it is given at publication (undefined here). */
  readonly position: number | undefined;
}

/**
 * Event ids: ULIDs, monotonic within this process, so ids sort in creation order and a burst of
 * appends draws fresh randomness once per millisecond instead of once per id (it showed up as the
 * top cost of appending in the benchmark).
 */
const nextEventId = monotonicFactory();

/** Every open EventLog in this process: an append committed through any transaction wakes them. */
const openLogs = new Set<EventLog>();

function announceCommitted(appended: readonly AppendedEvent[]): void {
  for (const log of openLogs) log.committed(appended);
}

function validate(event: NewEvent): { kind: string } {
  if (!isEventType(event.type)) {
    throw new EventInvalidError(`event type ${String(event.type)} is not in the event type map`, 'type');
  }
  const kind = event.entity.kind ?? EVENT_TYPES[event.type].entity;
  if (kind !== EVENT_TYPES[event.type].entity) {
    throw new EventInvalidError(
      `event type ${event.type} is about ${EVENT_TYPES[event.type].entity}, not ${kind}`,
      'entity.kind',
    );
  }
  if (typeof event.tenantId !== 'string' || event.tenantId === '') {
    throw new EventInvalidError('tenantId is required', 'tenantId');
  }
  if (typeof event.entity.id !== 'string' || event.entity.id === '') {
    throw new EventInvalidError('entity.id is required', 'entity.id');
  }
  if (event.data === null || typeof event.data !== 'object' || Array.isArray(event.data)) {
    throw new EventInvalidError('data must be a JSON object', 'data');
  }
  return { kind };
}

/**
 * Writes `events` into the log inside the caller's transaction: they commit with the change that
 * caused them or not at all. Per-entity sequence numbers are taken here; concurrent transactions on
 * one entity queue on its sequence row, so sequence order is commit order. Dispatchers in this
 * process are woken after the commit (`tx.afterCommit`), other processes by PostgreSQL NOTIFY.
 */
const EVENT_COLUMNS = [
  'event_id',
  'tenant_id',
  'type',
  'source',
  'subject',
  'time',
  'entity_kind',
  'entity_id',
  'entity_seq',
  'schema_version',
  'data',
  'correlation_id',
  'causation_id',
  'traceparent',
  'recorded_at',
  'size_bytes',
] as const;

// The append path builds its SQL text by hand (cached per dialect and row count) rather than through
// Kysely's builder: compiling multi-row inserts was a third of the CPU spent per appended event.
const sqlCache = new Map<string, string>();

function placeholders(dialect: Dialect, rows: number, columns: number, extra = ''): string {
  const out: string[] = [];
  let n = 0;
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let c = 0; c < columns; c++) cells.push(dialect === 'postgres' ? `$${++n}` : '?');
    if (extra !== '') cells.push(extra);
    out.push(`(${cells.join(', ')})`);
  }
  return out.join(', ');
}

function seqUpsertSql(dialect: Dialect, rows: number): string {
  const key = `seq:${dialect}:${rows}`;
  let text = sqlCache.get(key);
  if (text === undefined) {
    text =
      `insert into ev_entity_seq (tenant_id, entity_kind, entity_id, seq) values ${placeholders(dialect, rows, 4)} ` +
      'on conflict (tenant_id, entity_kind, entity_id) do update set seq = ev_entity_seq.seq + excluded.seq ' +
      'returning tenant_id, entity_kind, entity_id, seq';
    sqlCache.set(key, text);
  }
  return text;
}

function eventInsertSql(dialect: Dialect, rows: number): string {
  const key = `ev:${dialect}:${rows}`;
  let text = sqlCache.get(key);
  if (text === undefined) {
    text =
      dialect === 'postgres'
        ? `insert into ev_events (${EVENT_COLUMNS.join(', ')}, xid) values ${placeholders(
            dialect,
            rows,
            EVENT_COLUMNS.length,
            'pg_current_xact_id()::text::bigint',
          )}`
        : `insert into ev_events (${EVENT_COLUMNS.join(', ')}) values ${placeholders(
            dialect,
            rows,
            EVENT_COLUMNS.length,
          )} returning position`;
    sqlCache.set(key, text);
  }
  return text;
}

/**
 * Writes `events` into the log inside the caller's transaction: they commit with the change that
 * caused them or not at all. Per-entity sequence numbers are taken here; concurrent transactions on
 * one entity queue on its sequence row, so sequence order is commit order. Dispatchers in this
 * process are woken after the commit (`tx.afterCommit`), other processes by PostgreSQL NOTIFY.
 * Events whose `id` is already in the log are skipped (idempotent retries); the result lists the
 * events appended by this call.
 */
export async function appendEvents(tx: EventTx, given: readonly NewEvent[]): Promise<AppendedEvent[]> {
  if (given.length === 0) return [];
  const db = tx.db<EventsDb>();
  // A producer that retries passes the same event ids: events already in the log are left out (before
  // sequences are taken, so a retry leaves no gap in its entity's sequence).
  let events = given;
  const explicit = given.flatMap((e) => (e.id === undefined ? [] : [e.id]));
  if (explicit.length > 0) {
    const present = new Set<string>();
    for (let i = 0; i < explicit.length; i += INSERT_CHUNK) {
      const rows = await db
        .selectFrom('ev_events')
        .select('event_id')
        .where('event_id', 'in', explicit.slice(i, i + INSERT_CHUNK))
        .execute();
      for (const r of rows) present.add(r.event_id);
    }
    if (present.size > 0) events = given.filter((e) => e.id === undefined || !present.has(e.id));
    if (events.length === 0) return [];
  }
  const dialect = tx.dialect;
  const now = Date.now();
  const nowIso = new Date(now).toISOString();

  // Count events per entity, in a fixed key order so concurrent writers lock sequence rows in the
  // same order and cannot deadlock.
  const kinds = events.map((e) => validate(e).kind);
  const counts = new Map<string, { tenantId: string; kind: string; id: string; n: number; next: number }>();
  events.forEach((e, i) => {
    const kind = kinds[i]!;
    const key = `${e.tenantId}\u0000${kind}\u0000${e.entity.id}`;
    const entry = counts.get(key);
    if (entry === undefined) counts.set(key, { tenantId: e.tenantId, kind, id: e.entity.id, n: 1, next: 0 });
    else entry.n += 1;
  });
  const keys = [...counts.keys()].sort();
  for (let i = 0; i < keys.length; i += INSERT_CHUNK) {
    const chunk = keys.slice(i, i + INSERT_CHUNK).map((k) => counts.get(k)!);
    const params: unknown[] = [];
    for (const c of chunk) params.push(c.tenantId, c.kind, c.id, c.n);
    const { rows } = await db.executeQuery<{
      tenant_id: string;
      entity_kind: string;
      entity_id: string;
      seq: number | string;
    }>(CompiledQuery.raw(seqUpsertSql(dialect, chunk.length), params));
    for (const row of rows) {
      const entry = counts.get(`${row.tenant_id}\u0000${row.entity_kind}\u0000${row.entity_id}`)!;
      entry.next = Number(row.seq) - entry.n + 1;
    }
  }

  const out: AppendedEvent[] = new Array<AppendedEvent>(events.length);
  const params: unknown[] = [];
  events.forEach((e, i) => {
    const kind = kinds[i]!;
    const entry = counts.get(`${e.tenantId}\u0000${kind}\u0000${e.entity.id}`)!;
    const seq = entry.next++;
    const data = JSON.stringify(e.data);
    const id = e.id ?? nextEventId(now);
    out[i] = {
      id,
      type: e.type,
      tenantId: e.tenantId,
      entityKind: kind,
      entityId: e.entity.id,
      entitySeq: seq,
      position: undefined,
    };
    params.push(
      id,
      e.tenantId,
      e.type,
      e.source ?? '/crossdock',
      entitySubject(kind, e.entity.id),
      e.time ?? nowIso,
      kind,
      e.entity.id,
      seq,
      EVENT_TYPES[e.type].schemaVersion,
      data,
      e.correlationId ?? null,
      e.causationId ?? null,
      e.traceparent ?? null,
      now,
      Buffer.byteLength(data),
    );
  });

  const width = EVENT_COLUMNS.length;
  for (let i = 0; i < events.length; i += INSERT_CHUNK) {
    const n = Math.min(INSERT_CHUNK, events.length - i);
    const chunkParams = params.slice(i * width, (i + n) * width);
    const { rows } = await db.executeQuery<{ position: number | string }>(
      CompiledQuery.raw(eventInsertSql(dialect, n), chunkParams),
    );
    if (dialect === 'sqlite') {
      // Rows of one statement get increasing row ids in the order given.
      const positions = rows.map((r) => Number(r.position)).sort((a, b) => a - b);
      positions.forEach((position, j) => {
        out[i + j] = { ...out[i + j]!, position };
      });
    }
  }
  // Other processes: PostgreSQL delivers the notification only when (and if) this transaction commits.
  if (dialect === 'postgres') await sql`select pg_notify(${EVENTS_NOTIFY_CHANNEL}, '')`.execute(db);
  // This process: wake dispatchers once the caller's transaction has committed.
  tx.afterCommit(() => announceCommitted(out));
  return out;
}

export interface ReadFilter {
  /** Only these tenants (default: all). */
  readonly tenants?: readonly string[];
  /** Only these event types (default: all). */
  readonly types?: readonly string[];
  /** Only this entity. */
  readonly entity?: { readonly tenantId?: string; readonly kind: string; readonly id: string };
}

export function rowToEvent(row: EvEventsTable): LoggedEvent {
  return {
    position: Number(row.position),
    id: row.event_id,
    type: row.type as EventType,
    source: row.source,
    subject: row.subject,
    time: row.time,
    tenantId: row.tenant_id,
    entity: { tenantId: row.tenant_id, kind: row.entity_kind, id: row.entity_id },
    entitySeq: Number(row.entity_seq),
    schemaVersion: row.schema_version,
    data: JSON.parse(row.data) as JsonObject,
    correlationId: row.correlation_id ?? undefined,
    causationId: row.causation_id ?? undefined,
    traceparent: row.traceparent ?? undefined,
    recordedAt: Number(row.recorded_at),
  };
}

export interface EventLogOptions {
  readonly store: EventStore;
  readonly logger?: Logger;
  /** Counts appends committed in this process (`crossdock_events_appended_total`). */
  readonly metrics?: EventMetrics;
  /**
   * PostgreSQL URL for a LISTEN connection, so appends committed by other processes wake this one at
   * once (default: none; they are then found by the dispatcher's safety poll).
   */
  readonly listenUrl?: string;
}

export type AppendListener = (appended: number) => void;

export class EventLog {
  readonly store: EventStore;
  readonly dialect: Dialect;
  readonly #logger: Logger;
  readonly #listenUrl: string | undefined;
  readonly #metrics: EventMetrics | undefined;
  readonly #listeners = new Set<AppendListener>();
  #listenClient: pg.Client | undefined;
  #listenTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #publishing: Promise<{ published: number; pending: boolean }> | undefined;
  #publishAgain = false;

  constructor(options: EventLogOptions) {
    this.store = options.store;
    this.dialect = options.store.dialect;
    this.#logger = options.logger ?? silentLogger();
    this.#listenUrl = options.listenUrl;
    this.#metrics = options.metrics;
    openLogs.add(this);
  }

  /** Appends events on their own, through the store's group commit, and wakes dispatchers. */
  async append(events: readonly NewEvent[]): Promise<AppendedEvent[]> {
    return this.store.durable((tx) => appendEvents(tx, events));
  }

  /** Counts events committed by this process (any transaction) and wakes listeners. */
  committed(appended: readonly AppendedEvent[]): void {
    if (this.#metrics !== undefined) for (const e of appended) this.#metrics.appended.inc({ type: e.type });
    this.notifyCommitted(appended.length);
  }

  /** Tells in-process listeners that events were committed (call after a commit holding appends). */
  notifyCommitted(count = 1): void {
    for (const listener of this.#listeners) listener(count);
  }

  /** Subscribes to "events committed" wake-ups; returns the unsubscribe function. */
  onAppended(listener: AppendListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Opens the LISTEN connection (PostgreSQL with `listenUrl` only); reconnects while running. */
  async start(): Promise<void> {
    this.#stopped = false;
    if (this.dialect !== 'postgres' || this.#listenUrl === undefined) return;
    await this.#connectListener();
  }

  async #connectListener(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#listenUrl });
    client.on('notification', () => this.notifyCommitted(1));
    client.on('error', (error) => {
      this.#logger.warn({ err: error }, 'event log LISTEN connection failed; reconnecting');
      this.#listenClient = undefined;
      void client.end().catch(() => undefined);
      this.#scheduleReconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_NOTIFY_CHANNEL}`);
      this.#listenClient = client;
      // Anything committed while we were not listening is found now.
      this.notifyCommitted(1);
    } catch (error) {
      this.#logger.warn({ err: error }, 'event log LISTEN connection failed; retrying');
      void client.end().catch(() => undefined);
      this.#scheduleReconnect();
    }
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#listenTimer !== undefined) return;
    this.#listenTimer = setTimeout(() => {
      this.#listenTimer = undefined;
      if (!this.#stopped) void this.#connectListener();
    }, 1000);
    this.#listenTimer.unref();
  }

  /** Stops listening and unhooks this log from in-process wake-ups. */
  async stop(): Promise<void> {
    this.#stopped = true;
    openLogs.delete(this);
    if (this.#listenTimer !== undefined) clearTimeout(this.#listenTimer);
    this.#listenTimer = undefined;
    const client = this.#listenClient;
    this.#listenClient = undefined;
    if (client !== undefined) await client.end().catch(() => undefined);
    await this.#publishing;
  }

  /**
   * Gives positions to committed rows (PostgreSQL; a no-op on SQLite). Single-flight in this process;
   * serialized across processes by the head row's lock. `pending` is true when unpublished rows
   * remain (written by transactions still running, or beyond one step's batch); the caller looks
   * again shortly.
   */
  async publish(): Promise<{ published: number; pending: boolean }> {
    if (this.dialect !== 'postgres') return { published: 0, pending: false };
    if (this.#publishing !== undefined) {
      this.#publishAgain = true;
      return this.#publishing;
    }
    const run = async (): Promise<{ published: number; pending: boolean }> => {
      let total = 0;
      let pending: boolean;
      do {
        this.#publishAgain = false;
        const r = await this.#publishOnce();
        total += r.published;
        pending = r.pending;
        if (r.published === PUBLISH_BATCH) this.#publishAgain = true;
      } while (this.#publishAgain);
      return { published: total, pending };
    };
    this.#publishing = run().finally(() => {
      this.#publishing = undefined;
    });
    const result = await this.#publishing;
    if (result.published > 0) this.notifyCommitted(result.published);
    return result;
  }

  async #publishOnce(): Promise<{ published: number; pending: boolean }> {
    return this.store.transaction(async (tx) => {
      const db = tx.db<EventsDb>();
      const head = await db
        .selectFrom('ev_log_head')
        .select('position')
        .where('id', '=', 1)
        .forUpdate()
        .executeTakeFirstOrThrow();
      const base = Number(head.position);
      const { rows: numbered } = await sql<{ position: string }>`
        update ev_events e set position = ${base} + s.rn
        from (
          select row_id, row_number() over (order by row_id) as rn
          from ev_events
          where position is null
          order by row_id
          limit ${PUBLISH_BATCH}
        ) s
        where e.row_id = s.row_id
        returning e.position`.execute(db);
      if (numbered.length > 0) {
        await db
          .updateTable('ev_log_head')
          .set({ position: base + numbered.length })
          .where('id', '=', 1)
          .execute();
        await sql`select pg_notify(${EVENTS_NOTIFY_CHANNEL}, '')`.execute(db);
      }
      const left = await db
        .selectFrom('ev_events')
        .select('row_id')
        .where('position', 'is', null)
        .limit(1)
        .executeTakeFirst();
      return { published: numbered.length, pending: left !== undefined };
    });
  }

  /** Events with position > `after`, in position order. */
  async read(after: number, limit: number, filter: ReadFilter = {}): Promise<LoggedEvent[]> {
    let q = this.store
      .db<EventsDb>()
      .selectFrom('ev_events')
      .selectAll()
      .where('position', '>', after)
      .orderBy('position')
      .limit(limit);
    if (filter.tenants !== undefined) {
      if (filter.tenants.length === 0) return [];
      q = q.where('tenant_id', 'in', filter.tenants);
    }
    if (filter.types !== undefined && filter.types.length > 0) q = q.where('type', 'in', filter.types);
    if (filter.entity !== undefined) {
      q = q.where('entity_kind', '=', filter.entity.kind).where('entity_id', '=', filter.entity.id);
      if (filter.entity.tenantId !== undefined) q = q.where('tenant_id', '=', filter.entity.tenantId);
    }
    const rows = await q.execute();
    return rows.map(rowToEvent);
  }

  /** The highest published position (0 for an empty log). */
  async head(): Promise<number> {
    const row = await this.store
      .db<EventsDb>()
      .selectFrom('ev_events')
      .select((eb) => eb.fn.max('position').as('max'))
      .executeTakeFirst();
    return row?.max === null || row?.max === undefined ? 0 : Number(row.max);
  }

  /** The position just before the first event recorded at or after `ms` (for replay by time). */
  async positionBefore(ms: number): Promise<number> {
    const row = await this.store
      .db<EventsDb>()
      .selectFrom('ev_events')
      .select((eb) => eb.fn.min('position').as('min'))
      .where('recorded_at', '>=', ms)
      .where('position', 'is not', null)
      .executeTakeFirst();
    if (row?.min === null || row?.min === undefined) return this.head();
    return Number(row.min) - 1;
  }

  /** One event by id (published or not yet), or undefined. */
  async get(eventId: string): Promise<LoggedEvent | undefined> {
    const row = await this.store
      .db<EventsDb>()
      .selectFrom('ev_events')
      .selectAll()
      .where('event_id', '=', eventId)
      .executeTakeFirst();
    return row === undefined || row.position === null ? undefined : rowToEvent(row);
  }
}
