// Named consumers with committed offsets, applied in per-entity order. The dispatcher reads the log
// from each consumer's position, applies each event only when its entity sequence follows the last
// one applied (older ones are duplicates; a gap is held until it fills), retries failures with
// backoff, dead-letters after the configured attempts (holding back the entity's later events until
// an operator redrives or skips), and runs replays beside the live cursor under a new generation.
// It wakes when events commit (in-process notify, PostgreSQL LISTEN) and polls slowly for safety.
//
// Glossary:
// - position: the global log position; a consumer commits the highest one it has read.
// - generation: 0 for live delivery; each replay gets the next number. Deduplication is per
//   (consumer, generation, entity sequence), i.e. per (consumer, event id, generation).
// - parked: an event read but not yet applied (gap, blocked behind a failed event, awaiting retry).
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { ulid } from 'ulid';
import type { Logger } from '../telemetry/index.ts';
import { silentLogger } from '../telemetry/index.ts';
import { entityKeyString, type EntityKey, type LoggedEvent } from './envelope.ts';
import type { EventLog } from './event-log.ts';
import type { EventMetrics } from './event-metrics.ts';
import type { EventTx } from './store-port.ts';
import type { EvConsumersTable, EvParkedTable, EventsDb } from './tables.ts';

export interface DeliveryContext {
  readonly consumer: string;
  /** 0 for live delivery, the replay's number for a replay. */
  readonly generation: number;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** `consumer:eventId:generation`: the idempotency key of this delivery. */
  readonly deliveryId: string;
}

/** Applies one event; throw to fail the attempt (it is retried, then dead-lettered). */
export type EventHandler = (event: LoggedEvent, ctx: DeliveryContext) => Promise<void> | void;

export interface RetryOptions {
  /** Delay before the second attempt, in ms (default 200); doubles per attempt. */
  readonly baseMs?: number;
  /** Longest delay between attempts, in ms (default 60000). */
  readonly maxMs?: number;
}

export interface ConsumerOptions {
  /** Where a consumer seen for the first time starts: `beginning` of the log (default) or `latest`. */
  readonly start?: 'beginning' | 'latest';
  /** Failed attempts after which an event is dead-lettered (default 5; `entity` failure mode only). */
  readonly maxAttempts?: number;
  /**
   * `entity` (default): a failing event holds back only its own entity; other entities go on.
   * `halt`: the consumer stops at a failing event and retries it with backoff, so delivery stays in
   * log order (outbound webhooks); after `pauseAfterFailures` failures in a row it is paused.
   */
  readonly failureMode?: 'entity' | 'halt';
  /** Consecutive failures that pause a `halt` consumer (default 10). */
  readonly pauseAfterFailures?: number;
  readonly retry?: RetryOptions;
  /** Events read per step (default 500). */
  readonly batchSize?: number;
  /** Events for which this returns false are consumed without calling the handler. */
  readonly filter?: (event: LoggedEvent) => boolean;
  /** Shown in listings: `handler` (default) or `webhook` (`external` for an external source). */
  readonly kind?: string;
  /**
   * `log` (default): the consumer reads the log from its position. `external`: it applies only what
   * is handed to `offer()` (deliveries from another transport, possibly duplicated or out of order);
   * every entity's history is then expected from sequence 1.
   */
  readonly source?: 'log' | 'external';
  /**
   * Awaited before a step commits what it applied; a rejection fails the whole step (nothing of it
   * commits and its events are read again). Lets a handler start slow work per event (the relay's
   * publishes) and confirm it all at once.
   */
  readonly beforeCommit?: () => Promise<void>;
}

export interface DispatcherOptions {
  readonly log: EventLog;
  readonly logger?: Logger;
  readonly metrics?: EventMetrics;
  /** Safety poll: a consumer looks for work at least this often, in ms (default 5000). */
  readonly pollIntervalMs?: number;
  /** How long a process owns a consumer without renewing, in ms (default 30000). */
  readonly leaseMs?: number;
  /** Identity of this process in leases (default: a random UUID). */
  readonly owner?: string;
}

interface AttemptRecord {
  readonly at: string;
  readonly error: string;
}

interface EntityState {
  last: number;
  blocked: number | null;
  dirty: boolean;
  loaded: boolean;
}

interface ParkedEntry {
  row: EvParkedTable;
  event: LoggedEvent;
  history: AttemptRecord[];
  /** Deleted (applied, duplicate or dead-lettered) during this step. */
  gone: boolean;
  dirty: boolean;
}

/** The step's commit was fenced off: another process owns the consumer now. */
class LeaseLostError extends Error {}

interface EntityRow {
  consumer: string;
  generation: number;
  tenant_id: string;
  entity_kind: string;
  entity_id: string;
  last_seq: number;
  blocked_seq: number | null;
}

/** A step's commit of its position and entity states, written together with other consumers' steps. */
interface SharedCommit {
  readonly name: string;
  readonly position: number;
  readonly failures: number;
  readonly updatedAt: number;
  readonly entityRows: readonly EntityRow[];
}

function upsertEntities(db: Kysely<EventsDb>, rows: readonly EntityRow[]) {
  return db
    .insertInto('ev_consumer_entities')
    .values(rows)
    .onConflict((oc) =>
      oc.columns(['consumer', 'generation', 'tenant_id', 'entity_kind', 'entity_id']).doUpdateSet({
        last_seq: sql`excluded.last_seq`,
        blocked_seq: sql`excluded.blocked_seq`,
      }),
    );
}

/** Bind parameters one PostgreSQL statement may carry (the protocol's limit is 65,535). */
const PG_MAX_PARAMS = 60_000;

/** Entity states kept in memory per consumer before the cache starts over. */
const CACHE_LIMIT = 200_000;

interface ReplayFilter {
  readonly types?: readonly string[];
  readonly entity?: { readonly kind: string; readonly id: string; readonly tenantId?: string };
}

function matchesReplay(filter: ReplayFilter | null, event: LoggedEvent): boolean {
  if (filter === null) return true;
  if (filter.types !== undefined && filter.types.length > 0 && !filter.types.includes(event.type))
    return false;
  const entity = filter.entity;
  if (entity !== undefined) {
    if (entity.kind !== event.entity.kind || entity.id !== event.entity.id) return false;
    if (entity.tenantId !== undefined && entity.tenantId !== event.tenantId) return false;
  }
  return true;
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message === '' ? error.name : `${error.name}: ${error.message}`;
  return String(error);
}

/** One step's view of a consumer: caches entity states and parked rows, collects writes, commits once. */
class Step {
  readonly states = new Map<string, EntityState>();
  /** Entities whose held events were all read in this step. */
  readonly parkedLoaded = new Set<string>();
  readonly parked = new Map<string, ParkedEntry>();
  readonly deadLetters: Record<string, unknown>[] = [];
  halted: LoggedEvent | undefined;
  haltError = '';
  applied = 0;

  constructor(
    readonly runner: ConsumerRunner,
    public row: EvConsumersTable,
    readonly now: number,
  ) {}
}

function stateKey(generation: number, key: EntityKey): string {
  return `${generation}\u0000${entityKeyString(key)}`;
}

export class ConsumerRunner {
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #leaseUntil = 0;
  #closed = false;
  #taken: { events: readonly LoggedEvent[]; done: (error?: Error) => void }[] = [];
  /** Committed entity states of this consumer, valid while this process owns it. */
  readonly #cache = new Map<string, { last: number; blocked: number | null }>();
  /** Entities with a stored state, for log consumers (undefined: not read yet). */
  #storedKeys: Set<string> | undefined;
  /** Entities with held events (undefined: not read yet). */
  #parkedKeys: Set<string> | undefined;
  #adminVersion: number | undefined;
  #offered: { events: readonly LoggedEvent[]; done: (error?: Error) => void }[] = [];

  readonly maxAttempts: number;
  readonly failureMode: 'entity' | 'halt';
  readonly pauseAfterFailures: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly batchSize: number;

  constructor(
    readonly dispatcher: EventDispatcher,
    readonly name: string,
    readonly handler: EventHandler,
    readonly options: ConsumerOptions,
  ) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.failureMode = options.failureMode ?? 'entity';
    this.pauseAfterFailures = options.pauseAfterFailures ?? 10;
    this.retryBaseMs = options.retry?.baseMs ?? 200;
    this.retryMaxMs = options.retry?.maxMs ?? 60_000;
    this.batchSize = options.batchSize ?? 500;
  }

  backoff(attempts: number): number {
    return Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.max(0, attempts - 1));
  }

  /** Asks for a step soon; coalesces with one already running. */
  kick(): void {
    if (this.#closed) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
  }

  /** Wakes the runner at `at` (ms epoch) unless an earlier wake is already set. */
  wakeAt(at: number): void {
    if (this.#closed || at >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Infinity;
        this.kick();
      },
      Math.max(0, at - Date.now()),
    );
    this.#timer.unref();
  }

  /**
   * Applies deliveries that came from elsewhere than this log's read (another transport), with the
   * same per-entity rules: duplicates are dropped, gaps held, failures retried and dead-lettered.
   * Resolves once their outcome is committed.
   */
  offer(events: readonly LoggedEvent[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#offered.push({
        events,
        done: (error) => (error === undefined ? resolve() : reject(error)),
      });
      this.kick();
    });
  }

  /** Resolves when no step is running (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.idle();
    // Deliveries handed over but not applied are refused, so their transport redelivers them.
    const pending = this.#offered;
    this.#offered = [];
    for (const o of pending) o.done(new Error(`consumer ${this.name} closed before applying the delivery`));
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false;
      try {
        const more = await this.#step();
        if (more) this.#again = true;
      } catch (error) {
        this.#invalidate();
        if (error instanceof LeaseLostError) {
          // Lost the lease: the step's writes were dropped; try again (and find out whether the
          // lease can be taken back).
          this.#offered = [...this.#taken, ...this.#offered];
          this.#taken = [];
          this.#leaseUntil = 0;
          this.#again = true;
          continue;
        }
        for (const o of this.#taken) o.done(error instanceof Error ? error : new Error(errorText(error)));
        this.#taken = [];
        this.dispatcher.logger.error({ err: error, consumer: this.name }, 'event consumer step failed');
        this.wakeAt(Date.now() + 1000);
        return;
      }
    } while (this.#again && !this.#closed);
  }

  #invalidate(): void {
    this.#cache.clear();
    this.#storedKeys = undefined;
    this.#parkedKeys = undefined;
  }

  async #acquireLease(now: number): Promise<boolean> {
    if (this.#leaseUntil - now > this.dispatcher.leaseMs / 2) return true;
    const until = now + this.dispatcher.leaseMs;
    const owner = this.dispatcher.owner;
    const result = await this.dispatcher.store
      .db<EventsDb>()
      .updateTable('ev_consumers')
      .set({ owner, lease_until: until })
      .where('name', '=', this.name)
      .where((eb) => eb.or([eb('owner', 'is', null), eb('owner', '=', owner), eb('lease_until', '<', now)]))
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 1) {
      this.#leaseUntil = until;
      return true;
    }
    this.#leaseUntil = 0;
    return false;
  }

  async #publish(): Promise<void> {
    const { pending } = await this.dispatcher.log.publish();
    if (pending) this.dispatcher.schedulePublishRetry();
  }

  /** One step: returns true when more work is waiting right away. */
  async #step(): Promise<boolean> {
    const d = this.dispatcher;
    const external = this.options.source === 'external';
    // A consumer fed by another transport reads the log only to replay; publishing is left to the
    // log readers (the relay's own steps), which saves a transaction per partition step.
    if (d.log.dialect === 'postgres' && !external) await this.#publish();
    const db = d.store.db<EventsDb>();
    const row = await d.readConsumer(this.name);
    if (row === undefined || row.status === 'paused') return false;
    const now = Date.now();
    const hadLease = this.#leaseUntil > now;
    if (!(await this.#acquireLease(now))) {
      this.wakeAt(now + d.leaseMs / 2);
      return false;
    }
    if (!hadLease || row.admin_version !== this.#adminVersion) this.#invalidate();
    this.#adminVersion = row.admin_version;
    if (row.retry_at !== null && Number(row.retry_at) > now) {
      this.wakeAt(Number(row.retry_at));
      return false;
    }
    const step = new Step(this, row, now);
    const generation = row.generation;
    const replayActive = row.replay_position !== null && row.replay_until !== null;
    const replayFilter = row.replay_filter === null ? null : (JSON.parse(row.replay_filter) as ReplayFilter);
    if (d.log.dialect === 'postgres' && external && replayActive) await this.#publish();

    // Work: retries that are due, live events after the position, replay events after the replay cursor.
    // Nothing held back (as known since this process took the lease and no operator action since,
    // which bumps admin_version and drops what is known) means nothing can be due.
    const noneParked = this.#parkedKeys !== undefined && this.#parkedKeys.size === 0;
    const due = noneParked
      ? []
      : await db
          .selectFrom('ev_parked')
          .selectAll()
          .where('consumer', '=', this.name)
          .where('reason', 'in', ['retry', 'skip'])
          .where('next_attempt_at', '<=', now)
          .orderBy('position')
          .limit(this.batchSize)
          .execute();
    this.#taken = this.#offered;
    this.#offered = [];
    const offered = this.#taken.flatMap((o) => o.events);
    const live =
      this.options.source === 'external' ? [] : await d.log.read(Number(row.position), this.batchSize);
    const replayEvents = replayActive
      ? await d.log.read(
          Number(row.replay_position),
          Math.min(this.batchSize, Number(row.replay_until) - Number(row.replay_position)),
        )
      : [];
    const replayLive = replayEvents.filter((e) => e.position <= Number(row.replay_until));

    await this.#loadStates(step, [
      ...live.map((e) => ({ generation: 0, key: e.entity })),
      ...offered.map((e) => ({ generation: 0, key: e.entity })),
      ...replayLive.map((e) => ({ generation, key: e.entity })),
      ...due.map((r) => ({
        generation: r.generation,
        key: { tenantId: r.tenant_id, kind: r.entity_kind, id: r.entity_id },
      })),
    ]);

    let newPosition = Number(row.position);
    let newReplayPosition = replayActive ? Number(row.replay_position) : null;

    for (const r of due) {
      if (step.halted !== undefined) break;
      const entry = step.parked.get(`${r.generation}\u0000${r.event_id}`);
      if (entry === undefined || entry.gone) continue;
      if (entry.row.reason === 'skip') await this.#applySkip(step, entry);
      else if (entry.row.reason === 'retry')
        await this.#consider(step, entry.event, entry.row.generation, entry, null);
    }
    for (const e of offered) {
      if (step.halted !== undefined) break;
      await this.#consider(step, e, 0, undefined, null);
    }
    for (const e of live) {
      if (step.halted !== undefined) break;
      await this.#consider(step, e, 0, undefined, null);
      if (step.halted === undefined) newPosition = e.position;
    }
    for (const e of replayLive) {
      if (step.halted !== undefined) break;
      await this.#consider(step, e, generation, undefined, replayFilter);
      if (step.halted === undefined) newReplayPosition = e.position;
    }

    const replayDone =
      replayActive && newReplayPosition !== null && newReplayPosition >= Number(row.replay_until);
    await this.options.beforeCommit?.();
    await this.#commit(step, newPosition, replayActive ? newReplayPosition : null, replayDone);
    for (const o of this.#taken) o.done();
    this.#taken = [];

    if (step.halted !== undefined) return false;
    if (this.#parkedKeys === undefined || this.#parkedKeys.size > 0) {
      const nextDue = await db
        .selectFrom('ev_parked')
        .select((eb) => eb.fn.min('next_attempt_at').as('at'))
        .where('consumer', '=', this.name)
        .where('reason', '=', 'retry')
        .executeTakeFirst();
      if (nextDue?.at !== null && nextDue?.at !== undefined) this.wakeAt(Number(nextDue.at));
    }
    return (
      this.#offered.length > 0 ||
      live.length === this.batchSize ||
      due.length === this.batchSize ||
      (replayActive && !replayDone && replayLive.length > 0)
    );
  }

  /**
   * Loads the entity states and held events of the entities a step touches. States are cached while
   * this process owns the consumer (it is their only writer; operator actions bump `admin_version`,
   * which drops the cache); misses are read with one indexed `IN` query per (generation, tenant,
   * kind). Held events are read only for entities known to have some.
   */
  async #loadStates(step: Step, wanted: { generation: number; key: EntityKey }[]): Promise<void> {
    const db = this.dispatcher.store.db<EventsDb>();
    const unique = new Map<string, { generation: number; key: EntityKey }>();
    for (const w of wanted) unique.set(stateKey(w.generation, w.key), w);
    const misses = new Map<string, { generation: number; tenantId: string; kind: string; ids: string[] }>();
    if (this.options.source !== 'external' && this.#storedKeys === undefined) {
      const rows = await db
        .selectFrom('ev_consumer_entities')
        .select(['generation', 'tenant_id', 'entity_kind', 'entity_id'])
        .where('consumer', '=', this.name)
        .execute();
      this.#storedKeys = new Set(
        rows.map((r) =>
          stateKey(r.generation, { tenantId: r.tenant_id, kind: r.entity_kind, id: r.entity_id }),
        ),
      );
    }
    for (const [k, w] of unique) {
      const cached = this.#cache.get(k);
      if (cached !== undefined) {
        step.states.set(k, { last: cached.last, blocked: cached.blocked, dirty: false, loaded: true });
        continue;
      }
      if (this.#storedKeys !== undefined && !this.#storedKeys.has(k)) continue;
      const group = `${w.generation}\u0000${w.key.tenantId}\u0000${w.key.kind}`;
      let entry = misses.get(group);
      if (entry === undefined) {
        entry = { generation: w.generation, tenantId: w.key.tenantId, kind: w.key.kind, ids: [] };
        misses.set(group, entry);
      }
      entry.ids.push(w.key.id);
    }
    for (const m of misses.values()) {
      for (let i = 0; i < m.ids.length; i += 500) {
        const rows = await db
          .selectFrom('ev_consumer_entities')
          .select(['entity_id', 'last_seq', 'blocked_seq'])
          .where('consumer', '=', this.name)
          .where('generation', '=', m.generation)
          .where('tenant_id', '=', m.tenantId)
          .where('entity_kind', '=', m.kind)
          .where('entity_id', 'in', m.ids.slice(i, i + 500))
          .execute();
        for (const r of rows) {
          step.states.set(stateKey(m.generation, { tenantId: m.tenantId, kind: m.kind, id: r.entity_id }), {
            last: Number(r.last_seq),
            blocked: r.blocked_seq === null ? null : Number(r.blocked_seq),
            dirty: false,
            loaded: true,
          });
        }
      }
    }

    if (this.#parkedKeys === undefined) {
      const rows = await db
        .selectFrom('ev_parked')
        .select(['generation', 'tenant_id', 'entity_kind', 'entity_id'])
        .distinct()
        .where('consumer', '=', this.name)
        .execute();
      this.#parkedKeys = new Set(
        rows.map((r) =>
          stateKey(r.generation, { tenantId: r.tenant_id, kind: r.entity_kind, id: r.entity_id }),
        ),
      );
    }
    for (const [k, w] of unique) {
      if (!this.#parkedKeys.has(k)) continue;
      step.parkedLoaded.add(k);
      const rows = await db
        .selectFrom('ev_parked')
        .selectAll()
        .where('consumer', '=', this.name)
        .where('generation', '=', w.generation)
        .where('tenant_id', '=', w.key.tenantId)
        .where('entity_kind', '=', w.key.kind)
        .where('entity_id', '=', w.key.id)
        .execute();
      this.#addParked(step, rows);
    }
  }

  #addParked(step: Step, rows: EvParkedTable[]): void {
    for (const r of rows) {
      const k = `${r.generation}\u0000${r.event_id}`;
      if (step.parked.has(k)) continue;
      step.parked.set(k, {
        row: r,
        event: JSON.parse(r.event) as LoggedEvent,
        history: JSON.parse(r.history) as AttemptRecord[],
        gone: false,
        dirty: false,
      });
    }
  }

  async #state(step: Step, generation: number, key: EntityKey, seq: number): Promise<EntityState> {
    const k = stateKey(generation, key);
    let state = step.states.get(k);
    if (state !== undefined) return state;
    // An external source may deliver anything in any order: every entity starts at sequence 1. The
    // log is in entity order already (one writer per entity sequence; positions follow it) and the
    // committed position rules out re-reads, so an entity without a stored state simply continues
    // with the event at hand; states are stored only for entities held back by a failure.
    const last = generation === 0 && this.options.source === 'external' ? 0 : seq - 1;
    state = { last, blocked: null, dirty: true, loaded: false };
    step.states.set(k, state);
    return state;
  }

  #park(
    step: Step,
    event: LoggedEvent,
    generation: number,
    entry: ParkedEntry | undefined,
    reason: string,
  ): ParkedEntry {
    if (entry !== undefined) {
      if (entry.row.reason !== reason) {
        entry.row = {
          ...entry.row,
          reason,
          next_attempt_at: reason === 'retry' ? entry.row.next_attempt_at : null,
        };
        entry.dirty = true;
      }
      return entry;
    }
    const created: ParkedEntry = {
      row: {
        consumer: this.name,
        generation,
        event_id: event.id,
        position: event.position,
        tenant_id: event.tenantId,
        entity_kind: event.entity.kind,
        entity_id: event.entity.id,
        entity_seq: event.entitySeq,
        reason,
        attempts: 0,
        next_attempt_at: null,
        history: '[]',
        event: JSON.stringify(event),
      },
      event,
      history: [],
      gone: false,
      dirty: true,
    };
    step.parked.set(`${generation}\u0000${event.id}`, created);
    return created;
  }

  /** Decides what to do with one event for one generation, applying it (and what it unblocks) if due. */
  async #consider(
    step: Step,
    event: LoggedEvent,
    generation: number,
    entry: ParkedEntry | undefined,
    replayFilter: ReplayFilter | null,
  ): Promise<void> {
    const state = await this.#state(step, generation, event.entity, event.entitySeq);
    entry ??= step.parked.get(`${generation}\u0000${event.id}`);
    if (entry?.gone === true) return;
    if (event.entitySeq <= state.last) {
      this.dispatcher.metrics?.duplicates.inc({ consumer: this.name });
      if (entry !== undefined) entry.gone = true;
      return;
    }
    if (state.blocked !== null && state.blocked !== event.entitySeq) {
      this.#park(step, event, generation, entry, 'blocked');
      return;
    }
    if (generation === 0 && event.entitySeq !== state.last + 1) {
      this.#park(step, event, generation, entry, 'gap');
      return;
    }
    if (entry?.row.reason === 'retry' && Number(entry.row.next_attempt_at ?? 0) > step.now) return;

    const attempt = (entry?.row.attempts ?? 0) + 1;
    const wanted =
      (this.options.filter === undefined || this.options.filter(event)) && matchesReplay(replayFilter, event);
    let failure: unknown;
    let failed = false;
    if (wanted) {
      try {
        await this.handler(event, {
          consumer: this.name,
          generation,
          attempt,
          deliveryId: `${this.name}:${event.id}:${generation}`,
        });
      } catch (error) {
        failed = true;
        failure = error;
      }
    }
    if (!failed) {
      if (wanted) {
        step.applied += 1;
        this.dispatcher.metrics?.delivered.inc({ consumer: this.name });
        if (generation === 0) {
          this.dispatcher.metrics?.deliveryLatency.observe(
            { consumer: this.name },
            Math.max(0, Date.now() - event.recordedAt) / 1000,
          );
        }
      }
      state.last = event.entitySeq;
      state.blocked = null;
      state.dirty = true;
      if (entry !== undefined) entry.gone = true;
      if (this.failureMode === 'halt' && step.row.consecutive_failures > 0) {
        step.row = { ...step.row, consecutive_failures: 0 };
      }
      await this.#drain(step, event.entity, generation, replayFilter);
      return;
    }

    this.dispatcher.metrics?.failures.inc({ consumer: this.name });
    const history = [...(entry?.history ?? []), { at: new Date().toISOString(), error: errorText(failure) }];
    this.dispatcher.logger.warn(
      { consumer: this.name, eventId: event.id, type: event.type, attempt, err: failure },
      'event delivery failed',
    );
    if (this.failureMode === 'halt') {
      step.halted = event;
      step.haltError = errorText(failure);
      if (entry !== undefined) {
        entry.row = { ...entry.row, attempts: attempt, history: JSON.stringify(history) };
        entry.history = history;
        entry.dirty = true;
      }
      return;
    }
    if (attempt >= this.maxAttempts) {
      step.deadLetters.push({
        id: ulid(),
        consumer: this.name,
        generation,
        event_id: event.id,
        position: event.position,
        tenant_id: event.tenantId,
        entity_kind: event.entity.kind,
        entity_id: event.entity.id,
        entity_seq: event.entitySeq,
        type: event.type,
        error: errorText(failure),
        attempts: attempt,
        history: JSON.stringify(history),
        event: JSON.stringify(event),
        status: 'open',
        created_at: step.now,
        resolved_at: null,
        resolved_by: null,
      });
      this.dispatcher.metrics?.deadLettered.inc({ consumer: this.name });
      this.dispatcher.logger.error(
        { consumer: this.name, eventId: event.id, type: event.type, attempts: attempt },
        'event dead-lettered; its entity is held back until it is redriven or skipped',
      );
      if (entry !== undefined) entry.gone = true;
      state.blocked = event.entitySeq;
      state.dirty = true;
      return;
    }
    const parked = this.#park(step, event, generation, entry, 'retry');
    parked.row = {
      ...parked.row,
      reason: 'retry',
      attempts: attempt,
      next_attempt_at: step.now + this.backoff(attempt),
      history: JSON.stringify(history),
    };
    parked.history = history;
    parked.dirty = true;
    state.blocked = event.entitySeq;
    state.dirty = true;
  }

  /**
   * An operator skipped a dead-lettered event: count it as applied without delivering it, and
   * release the entity's next events. Done here, by the consumer's owner, so that the entity's
   * state has a single writer.
   */
  async #applySkip(step: Step, entry: ParkedEntry): Promise<void> {
    const generation = entry.row.generation;
    const seq = Number(entry.row.entity_seq);
    const state = await this.#state(step, generation, entry.event.entity, seq);
    entry.gone = true;
    if (seq > state.last) state.last = seq;
    if (state.blocked !== null && state.blocked <= seq) state.blocked = null;
    state.dirty = true;
    await this.#drain(step, entry.event.entity, generation, null);
  }

  /** Applies parked events of an entity that are now next in line. */
  async #drain(
    step: Step,
    key: EntityKey,
    generation: number,
    replayFilter: ReplayFilter | null,
  ): Promise<void> {
    const waiting = [...step.parked.values()]
      .filter(
        (p) =>
          !p.gone &&
          p.row.generation === generation &&
          p.row.reason !== 'retry' &&
          p.row.reason !== 'skip' &&
          p.row.tenant_id === key.tenantId &&
          p.row.entity_kind === key.kind &&
          p.row.entity_id === key.id,
      )
      .sort((a, b) => Number(a.row.entity_seq) - Number(b.row.entity_seq));
    const next = waiting[0];
    if (next === undefined) return;
    const state = await this.#state(step, generation, key, Number(next.row.entity_seq));
    if (state.blocked !== null) return;
    if (generation === 0 && Number(next.row.entity_seq) !== state.last + 1) return;
    await this.#consider(step, next.event, generation, next, replayFilter);
  }

  async #commit(
    step: Step,
    position: number,
    replayPosition: number | null,
    replayDone: boolean,
  ): Promise<void> {
    const d = this.dispatcher;
    const name = this.name;
    const halted = step.halted;
    let status = step.row.status;
    let pausedReason = step.row.paused_reason;
    let failures = step.row.consecutive_failures;
    let retryAt: number | null = null;
    if (halted !== undefined) {
      failures += 1;
      retryAt = step.now + this.backoff(failures);
      if (failures >= this.pauseAfterFailures) {
        status = 'paused';
        pausedReason = `paused after ${failures} failed deliveries in a row; last: ${step.haltError}`;
        d.logger.error({ consumer: name, failures, error: step.haltError }, 'event consumer paused');
      }
    }
    const external = this.options.source === 'external';
    const entityRows: EntityRow[] = [...step.states.entries()]
      .filter(([, s]) => s.dirty && (external || s.loaded || s.blocked !== null))
      .map(([k, s]) => {
        const [generation, tenantId, kind, id] = k.split('\u0000') as [string, string, string, string];
        return {
          consumer: name,
          generation: Number(generation),
          tenant_id: tenantId,
          entity_kind: kind,
          entity_id: id,
          last_seq: s.last,
          blocked_seq: s.blocked,
        };
      });
    const gone = [...step.parked.values()].filter((p) => p.gone && p.row.attempts >= 0);
    const upserts = [...step.parked.values()].filter((p) => !p.gone && p.dirty);
    if (
      halted === undefined &&
      replayPosition === null &&
      gone.length === 0 &&
      upserts.length === 0 &&
      step.deadLetters.length === 0
    ) {
      // The common step (position and entity states only) shares its statements with the steps of
      // this process's other consumers that commit at the same moment.
      const ok = await d.commitShared({
        name,
        position,
        failures,
        updatedAt: step.now,
        entityRows,
      });
      if (!ok) throw new LeaseLostError(name);
    } else {
      // Through the group commit: the step shares a commit (and its sync) with concurrent appends.
      await d.store.durable(async (tx: EventTx) => {
        const db = tx.db<EventsDb>();
        // Only what this step owns is written: an operator may pause, resume or start a replay while
        // the step runs, and those columns must survive its commit.
        const fenced = await db
          .updateTable('ev_consumers')
          .set({
            position,
            consecutive_failures: failures,
            retry_at: retryAt,
            ...(status === 'paused' ? { status, paused_reason: pausedReason } : {}),
            updated_at: step.now,
          })
          .where('name', '=', name)
          .where('owner', '=', d.owner)
          .executeTakeFirst();
        if (Number(fenced.numUpdatedRows) !== 1) throw new LeaseLostError(name);
        if (replayPosition !== null) {
          // Progress of the replay this step worked on; discarded if a new replay replaced it meanwhile.
          await db
            .updateTable('ev_consumers')
            .set(
              replayDone
                ? { replay_position: null, replay_until: null, replay_filter: null }
                : { replay_position: replayPosition },
            )
            .where('name', '=', name)
            .where('generation', '=', step.row.generation)
            .execute();
        }
        for (let i = 0; i < entityRows.length; i += 200) {
          await upsertEntities(db, entityRows.slice(i, i + 200)).execute();
        }
        for (const p of gone) {
          await db
            .deleteFrom('ev_parked')
            .where('consumer', '=', name)
            .where('generation', '=', p.row.generation)
            .where('event_id', '=', p.row.event_id)
            .execute();
        }
        for (const p of upserts) {
          await db
            .insertInto('ev_parked')
            .values(p.row)
            .onConflict((oc) =>
              oc.columns(['consumer', 'generation', 'event_id']).doUpdateSet({
                reason: p.row.reason,
                attempts: p.row.attempts,
                next_attempt_at: p.row.next_attempt_at,
                history: p.row.history,
              }),
            )
            .execute();
        }
        if (step.deadLetters.length > 0) {
          await db
            .insertInto('ev_dead_letters')
            .values(step.deadLetters as never)
            .execute();
        }
      });
    }
    if (this.#cache.size > CACHE_LIMIT) this.#cache.clear();
    for (const [k, st] of step.states)
      if (st.dirty) this.#cache.set(k, { last: st.last, blocked: st.blocked });
    const keys = this.#parkedKeys;
    if (keys !== undefined) {
      const remaining = new Set<string>();
      for (const p of step.parked.values()) {
        const k = stateKey(p.row.generation, {
          tenantId: p.row.tenant_id,
          kind: p.row.entity_kind,
          id: p.row.entity_id,
        });
        if (!p.gone) {
          keys.add(k);
          remaining.add(k);
        }
      }
      for (const k of step.parkedLoaded) if (!remaining.has(k)) keys.delete(k);
    }
    if (retryAt !== null && status !== 'paused') this.wakeAt(retryAt);
  }
}

export class EventDispatcher {
  readonly log: EventLog;
  readonly logger: Logger;
  readonly metrics: EventMetrics | undefined;
  readonly pollIntervalMs: number;
  readonly leaseMs: number;
  readonly owner: string;
  readonly #runners = new Map<string, ConsumerRunner>();
  #unsubscribe: (() => void) | undefined;
  #poll: NodeJS.Timeout | undefined;
  #publishRetry: NodeJS.Timeout | undefined;
  #publishDelay = 10;
  #rowReads = new Map<
    string,
    { resolve: (row: EvConsumersTable | undefined) => void; reject: (e: unknown) => void }[]
  >();
  #commits: { commit: SharedCommit; resolve: (ok: boolean) => void; reject: (e: unknown) => void }[] = [];

  constructor(options: DispatcherOptions) {
    this.log = options.log;
    this.logger = options.logger ?? silentLogger();
    this.metrics = options.metrics;
    this.pollIntervalMs = options.pollIntervalMs ?? 5000;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.owner = options.owner ?? randomUUID();
  }

  get store() {
    return this.log.store;
  }

  /**
   * Registers a named consumer in this process and starts delivering to it. The consumer's row (its
   * committed position) is created on first use and kept across restarts.
   */
  async subscribe(
    name: string,
    handler: EventHandler,
    options: ConsumerOptions = {},
  ): Promise<ConsumerRunner> {
    const existing = this.#runners.get(name);
    if (existing !== undefined) await existing.close();
    const now = Date.now();
    const start = options.start === 'latest' ? await this.log.head() : 0;
    await this.store
      .db<EventsDb>()
      .insertInto('ev_consumers')
      .values({
        name,
        kind: options.source === 'external' ? 'external' : (options.kind ?? 'handler'),
        status: 'active',
        paused_reason: null,
        start_position: start,
        position: start,
        generation: 0,
        replay_position: null,
        replay_until: null,
        replay_filter: null,
        consecutive_failures: 0,
        admin_version: 0,
        retry_at: null,
        owner: null,
        lease_until: null,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const runner = new ConsumerRunner(this, name, handler, options);
    this.#runners.set(name, runner);
    this.#ensureStarted();
    runner.kick();
    return runner;
  }

  /** Stops delivering to a consumer in this process (its position is kept). */
  async unsubscribe(name: string): Promise<void> {
    const runner = this.#runners.get(name);
    this.#runners.delete(name);
    if (runner !== undefined) await runner.close();
    await this.store
      .db<EventsDb>()
      .updateTable('ev_consumers')
      .set({ owner: null, lease_until: null })
      .where('name', '=', name)
      .where('owner', '=', this.owner)
      .execute();
  }

  consumers(): string[] {
    return [...this.#runners.keys()];
  }

  /** Wakes every consumer (or one). */
  kick(name?: string): void {
    if (name !== undefined) {
      this.#runners.get(name)?.kick();
      return;
    }
    // Consumers fed by another transport do not read the log: a commit gives them nothing to do.
    for (const runner of this.#runners.values()) if (runner.options.source !== 'external') runner.kick();
  }

  /** Resolves when every consumer has nothing left to do right now. */
  async idle(): Promise<void> {
    for (const runner of this.#runners.values()) await runner.idle();
  }

  #ensureStarted(): void {
    if (this.#unsubscribe !== undefined) return;
    this.#unsubscribe = this.log.onAppended(() => this.kick());
    // The safety poll also steps consumers fed by another transport: their steps renew their lease
    // and pick up operator actions (replay, redrive, skip) even when no delivery arrives.
    this.#poll = setInterval(() => {
      for (const runner of this.#runners.values()) runner.kick();
    }, this.pollIntervalMs);
    this.#poll.unref();
  }

  /**
   * A consumer's row. The reads asked for in the same turn of the event loop (the steps of several
   * partitions woken by one burst of deliveries) share one query.
   */
  readConsumer(name: string): Promise<EvConsumersTable | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.#rowReads.get(name);
      if (waiting !== undefined) {
        waiting.push({ resolve, reject });
        return;
      }
      if (this.#rowReads.size === 0) setImmediate(() => void this.#readRows());
      this.#rowReads.set(name, [{ resolve, reject }]);
    });
  }

  async #readRows(): Promise<void> {
    const asked = this.#rowReads;
    this.#rowReads = new Map();
    try {
      const rows = await this.store
        .db<EventsDb>()
        .selectFrom('ev_consumers')
        .selectAll()
        .where('name', 'in', [...asked.keys()])
        .execute();
      const byName = new Map(rows.map((r) => [r.name, r]));
      for (const [name, waiting] of asked) for (const w of waiting) w.resolve(byName.get(name));
    } catch (error) {
      for (const waiting of asked.values()) for (const w of waiting) w.reject(error);
    }
  }

  /**
   * Commits a step's position and entity states, fenced by this process's lease; false when the
   * lease is gone (nothing of the step was written). The commits asked for in the same turn of the
   * event loop are written by one group-commit callback: one fenced update of all their positions,
   * then one upsert of the entity states of those still owned.
   */
  commitShared(commit: SharedCommit): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.#commits.length === 0) setImmediate(() => void this.#writeCommits());
      this.#commits.push({ commit, resolve, reject });
    });
  }

  async #writeCommits(): Promise<void> {
    const batch = this.#commits;
    this.#commits = [];
    try {
      const rows = batch.reduce((n, { commit }) => n + commit.entityRows.length, 0);
      const fenced =
        this.store.dialect === 'postgres' && batch.length * 4 + rows * 7 <= PG_MAX_PARAMS
          ? await this.#commitStatement(batch.map((b) => b.commit))
          : await this.#commitDurable(batch.map((b) => b.commit));
      for (const { commit, resolve } of batch) resolve(fenced.has(commit.name));
    } catch (error) {
      for (const { reject } of batch) reject(error);
    }
  }

  /**
   * On PostgreSQL the whole batch is one statement, so it needs no transaction of its own (a single
   * statement is atomic, and with synchronous_commit on it is durable when it returns): the fenced
   * update of the positions, and the upsert of the entity states of the consumers it matched.
   */
  async #commitStatement(commits: readonly SharedCommit[]): Promise<Set<string>> {
    const positions = sql.join(
      commits.map(
        (c) => sql`(${c.name}, ${c.position}::bigint, ${c.failures}::integer, ${c.updatedAt}::bigint)`,
      ),
    );
    const entityRows = commits.flatMap((c) => c.entityRows);
    const states =
      entityRows.length === 0
        ? sql``
        : sql`, e (consumer, generation, tenant_id, entity_kind, entity_id, last_seq, blocked_seq) as (
            values ${sql.join(
              entityRows.map(
                (r) =>
                  sql`(${r.consumer}, ${r.generation}::integer, ${r.tenant_id}, ${r.entity_kind}, ${r.entity_id}, ${r.last_seq}::bigint, ${r.blocked_seq}::bigint)`,
              ),
            )}
          ), i as (
            insert into ev_consumer_entities
              (consumer, generation, tenant_id, entity_kind, entity_id, last_seq, blocked_seq)
            select * from e where e.consumer in (select name from f)
            on conflict (consumer, generation, tenant_id, entity_kind, entity_id)
            do update set last_seq = excluded.last_seq, blocked_seq = excluded.blocked_seq
          )`;
    const { rows } = await sql<{ name: string }>`
      with v (name, position, failures, updated_at) as (values ${positions}),
      f as (
        update ev_consumers c
        set position = v.position, consecutive_failures = v.failures, retry_at = null,
            updated_at = v.updated_at
        from v
        where c.name = v.name and c.owner = ${this.owner}
        returning c.name
      )${states}
      select name from f`.execute(this.store.db<EventsDb>());
    return new Set(rows.map((r) => r.name));
  }

  /** Elsewhere (SQLite, or a batch too large for one statement) through one group-commit callback. */
  async #commitDurable(commits: readonly SharedCommit[]): Promise<Set<string>> {
    const owner = this.owner;
    const chunk = this.store.dialect === 'postgres' ? 1000 : 200;
    // Run again from the start if the group commit retries the callback (deadlock).
    return this.store.durable(async (tx: EventTx) => {
      const db = tx.db<EventsDb>();
      const owned = new Set<string>();
      for (const c of commits) {
        const r = await db
          .updateTable('ev_consumers')
          .set({
            position: c.position,
            consecutive_failures: c.failures,
            retry_at: null,
            updated_at: c.updatedAt,
          })
          .where('name', '=', c.name)
          .where('owner', '=', owner)
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) === 1) owned.add(c.name);
      }
      const rows = commits.flatMap((c) => (owned.has(c.name) ? c.entityRows : []));
      for (let i = 0; i < rows.length; i += chunk)
        await upsertEntities(db, rows.slice(i, i + chunk)).execute();
      return owned;
    });
  }

  /** Rows are held unpublished behind an older transaction: look again soon, backing off. */
  schedulePublishRetry(): void {
    if (this.#publishRetry !== undefined) return;
    const delay = this.#publishDelay;
    this.#publishDelay = Math.min(this.pollIntervalMs, delay * 2);
    this.#publishRetry = setTimeout(() => {
      this.#publishRetry = undefined;
      void this.log.publish().then(
        ({ pending, published }) => {
          if (published > 0) this.#publishDelay = 10;
          if (pending) this.schedulePublishRetry();
          else this.#publishDelay = 10;
        },
        (error: unknown) => this.logger.warn({ err: error }, 'event publisher failed'),
      );
    }, delay);
    this.#publishRetry.unref();
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#poll !== undefined) clearInterval(this.#poll);
    if (this.#publishRetry !== undefined) clearTimeout(this.#publishRetry);
    this.#poll = undefined;
    this.#publishRetry = undefined;
    const names = [...this.#runners.keys()];
    for (const name of names) await this.unsubscribe(name);
  }
}
