// Operator actions on the event log: list consumers with their lag, replay one consumer, pause and
// resume, and work the dead-letter list (show, redrive, skip). Used by the admin HTTP routes and by
// the CLI when no server runs. Every action is tenant-scoped when the caller's tenants are given.
import type { LoggedEvent } from './envelope.ts';
import {
  DeadLetterNotFoundError,
  DeadLetterResolvedError,
  EventConsumerNotFoundError,
  EventInvalidError,
} from './errors.ts';
import type { EventLog, ReadFilter } from './event-log.ts';
import type { EventsDb, EvDeadLettersTable } from './tables.ts';

/** Tenants a caller may see: a list, or `*` for all. */
export type TenantScope = readonly string[] | '*';

export interface ConsumerInfo {
  readonly name: string;
  readonly kind: string;
  readonly status: string;
  readonly pausedReason: string | null;
  readonly position: number;
  /** Published events not yet read. */
  readonly lag: number;
  readonly generation: number;
  readonly replay: { readonly position: number; readonly until: number; readonly filter: unknown } | null;
  readonly consecutiveFailures: number;
  readonly parked: number;
  readonly deadLetters: number;
}

export interface DeadLetter {
  readonly id: string;
  readonly consumer: string;
  readonly generation: number;
  readonly eventId: string;
  readonly position: number;
  readonly tenantId: string;
  readonly entity: { readonly kind: string; readonly id: string };
  readonly entitySeq: number;
  readonly type: string;
  readonly error: string;
  readonly attempts: number;
  readonly history: readonly { readonly at: string; readonly error: string }[];
  readonly status: 'open' | 'redriven' | 'skipped';
  readonly createdAt: string;
  readonly resolvedAt: string | null;
  readonly resolvedBy: string | null;
  /** The event as it was delivered. */
  readonly event: LoggedEvent;
}

export interface ReplayRequest {
  /** Re-deliver events after this position. */
  readonly fromPosition?: number;
  /** Or re-deliver events recorded at or after this instant (ISO 8601). */
  readonly fromTime?: string;
  /** Only these types (the others in the range are passed over). */
  readonly types?: readonly string[];
  /** Only this entity. */
  readonly entity?: { readonly kind: string; readonly id: string; readonly tenantId?: string };
}

export interface ReplayStarted {
  readonly consumer: string;
  readonly generation: number;
  /** Events with position > from and <= until are re-delivered. */
  readonly from: number;
  readonly until: number;
}

function toDeadLetter(r: EvDeadLettersTable): DeadLetter {
  return {
    id: r.id,
    consumer: r.consumer,
    generation: r.generation,
    eventId: r.event_id,
    position: Number(r.position),
    tenantId: r.tenant_id,
    entity: { kind: r.entity_kind, id: r.entity_id },
    entitySeq: Number(r.entity_seq),
    type: r.type,
    error: r.error,
    attempts: r.attempts,
    history: JSON.parse(r.history) as DeadLetter['history'],
    status: r.status as DeadLetter['status'],
    createdAt: new Date(Number(r.created_at)).toISOString(),
    resolvedAt: r.resolved_at === null ? null : new Date(Number(r.resolved_at)).toISOString(),
    resolvedBy: r.resolved_by,
    event: JSON.parse(r.event) as LoggedEvent,
  };
}

export class EventsAdmin {
  constructor(
    readonly log: EventLog,
    /** Called after an action that gives a consumer work (in-process wake-up). */
    private readonly wake: (consumer: string) => void = () => log.notifyCommitted(1),
  ) {}

  #db() {
    return this.log.store.db<EventsDb>();
  }

  /** Events after `after`, oldest first, limited to the caller's tenants. */
  async tail(
    after: number,
    limit: number,
    scope: TenantScope,
    filter: ReadFilter = {},
  ): Promise<LoggedEvent[]> {
    return this.log.read(after, limit, scope === '*' ? filter : { ...filter, tenants: scope });
  }

  async consumers(): Promise<ConsumerInfo[]> {
    const head = await this.log.head();
    const rows = await this.#db().selectFrom('ev_consumers').selectAll().orderBy('name').execute();
    const parked = await this.#db()
      .selectFrom('ev_parked')
      .select(['consumer', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('consumer')
      .execute();
    const dead = await this.#db()
      .selectFrom('ev_dead_letters')
      .select(['consumer', (eb) => eb.fn.countAll<number>().as('n')])
      .where('status', '=', 'open')
      .groupBy('consumer')
      .execute();
    const parkedBy = new Map(parked.map((p) => [p.consumer, Number(p.n)]));
    const deadBy = new Map(dead.map((p) => [p.consumer, Number(p.n)]));
    return rows.map((r) => ({
      name: r.name,
      kind: r.kind,
      status: r.status,
      pausedReason: r.paused_reason,
      position: Number(r.position),
      lag: r.kind === 'external' || r.kind === 'member' ? 0 : Math.max(0, head - Number(r.position)),
      generation: r.generation,
      replay:
        r.replay_position === null || r.replay_until === null
          ? null
          : {
              position: Number(r.replay_position),
              until: Number(r.replay_until),
              filter: r.replay_filter === null ? null : (JSON.parse(r.replay_filter) as unknown),
            },
      consecutiveFailures: r.consecutive_failures,
      parked: parkedBy.get(r.name) ?? 0,
      deadLetters: deadBy.get(r.name) ?? 0,
    }));
  }

  async #consumer(name: string) {
    const row = await this.#db()
      .selectFrom('ev_consumers')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    if (row === undefined) throw new EventConsumerNotFoundError(name);
    return row;
  }

  /**
   * Re-delivers events to one consumer from a position or a time, optionally only some types or one
   * entity, under a new generation: deliveries carry the new generation in their idempotency key, so
   * they are not swallowed as duplicates, and the consumer's live position and other consumers are
   * untouched. A replay started while another runs replaces it. A cluster-mode subscriber's name
   * (its partitions are the consumers `<name>#<p>`) replays every partition; the answer names the
   * subscriber and the highest of the partitions' new generations.
   */
  async replay(name: string, request: ReplayRequest): Promise<ReplayStarted> {
    const targets = await this.#replayTargets(name);
    let from: number;
    if (request.fromPosition !== undefined) from = request.fromPosition;
    else if (request.fromTime !== undefined) {
      const ms = Date.parse(request.fromTime);
      if (Number.isNaN(ms))
        throw new EventInvalidError(`fromTime ${request.fromTime} is not ISO 8601`, 'fromTime');
      from = await this.log.positionBefore(ms);
    } else throw new EventInvalidError('give fromPosition or fromTime', 'fromPosition');
    if (!Number.isInteger(from) || from < 0)
      throw new EventInvalidError('fromPosition must be >= 0', 'fromPosition');
    const until = await this.log.head();
    const filter =
      request.types === undefined && request.entity === undefined
        ? null
        : JSON.stringify({ types: request.types, entity: request.entity });
    const rows = await this.#db()
      .updateTable('ev_consumers')
      .set((eb) => ({
        generation: eb('generation', '+', 1),
        admin_version: eb('admin_version', '+', 1),
        replay_position: from,
        replay_until: until,
        replay_filter: filter,
        updated_at: Date.now(),
      }))
      .where('name', 'in', targets)
      .returning(['generation'])
      .execute();
    for (const t of targets) this.wake(t);
    return { consumer: name, generation: Math.max(...rows.map((r) => Number(r.generation))), from, until };
  }

  /** The consumer itself, or else the partitions `<name>#<p>` of a cluster-mode subscriber. */
  async #replayTargets(name: string): Promise<string[]> {
    const own = await this.#db()
      .selectFrom('ev_consumers')
      .select('name')
      .where('name', '=', name)
      .executeTakeFirst();
    if (own !== undefined) return [name];
    const prefix = `${name}#`;
    const partitions = (
      await this.#db().selectFrom('ev_consumers').select('name').where('kind', '=', 'external').execute()
    )
      .map((r) => r.name)
      .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)));
    if (partitions.length === 0) throw new EventConsumerNotFoundError(name);
    return partitions;
  }

  /** Forgets a consumer: its position, entity states, held events (open dead letters stay listed). */
  async remove(name: string): Promise<void> {
    await this.#consumer(name);
    await this.log.store.transaction(async (tx) => {
      const db = tx.db<EventsDb>();
      await db.deleteFrom('ev_parked').where('consumer', '=', name).execute();
      await db.deleteFrom('ev_consumer_entities').where('consumer', '=', name).execute();
      await db.deleteFrom('ev_consumers').where('name', '=', name).execute();
    });
  }

  async pause(name: string, reason = 'paused by an operator'): Promise<void> {
    await this.#consumer(name);
    await this.#db()
      .updateTable('ev_consumers')
      .set({ status: 'paused', paused_reason: reason, updated_at: Date.now() })
      .where('name', '=', name)
      .execute();
  }

  /** Resumes a paused consumer; its failure count restarts and the next attempt is immediate. */
  async resume(name: string): Promise<void> {
    await this.#consumer(name);
    await this.#db()
      .updateTable('ev_consumers')
      .set({
        status: 'active',
        paused_reason: null,
        consecutive_failures: 0,
        retry_at: null,
        updated_at: Date.now(),
      })
      .where('name', '=', name)
      .execute();
    this.wake(name);
  }

  async deadLetters(
    scope: TenantScope,
    filter: { consumer?: string; status?: string; limit?: number } = {},
  ): Promise<DeadLetter[]> {
    let q = this.#db()
      .selectFrom('ev_dead_letters')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .limit(filter.limit ?? 100);
    if (scope !== '*') {
      if (scope.length === 0) return [];
      q = q.where('tenant_id', 'in', scope);
    }
    if (filter.consumer !== undefined) q = q.where('consumer', '=', filter.consumer);
    q = q.where('status', '=', filter.status ?? 'open');
    return (await q.execute()).map(toDeadLetter);
  }

  async deadLetter(id: string, scope: TenantScope): Promise<DeadLetter> {
    const row = await this.#db()
      .selectFrom('ev_dead_letters')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined || (scope !== '*' && !scope.includes(row.tenant_id)))
      throw new DeadLetterNotFoundError(id);
    return toDeadLetter(row);
  }

  /** Puts a dead-lettered event back for delivery (after the cause is fixed); its entity stays held until it succeeds. */
  async redrive(id: string, scope: TenantScope, by: string): Promise<DeadLetter> {
    return this.#resolve(id, scope, by, 'redriven');
  }

  /**
   * Gives up on a dead-lettered event: its entity's later events are released in order. The
   * consumer's owner applies the skip at its next step (it is the only writer of entity states).
   */
  async skip(id: string, scope: TenantScope, by: string): Promise<DeadLetter> {
    return this.#resolve(id, scope, by, 'skipped');
  }

  /**
   * Closes an open dead letter and parks its event for the consumer's owner: `retry` (attempts reset)
   * for a redrive, `skip` for a skip. Bumping the consumer's admin version tells the owning process to
   * reread its held events.
   */
  async #resolve(
    id: string,
    scope: TenantScope,
    by: string,
    outcome: 'redriven' | 'skipped',
  ): Promise<DeadLetter> {
    const dl = await this.deadLetter(id, scope);
    if (dl.status !== 'open') throw new DeadLetterResolvedError(id, dl.status);
    const now = Date.now();
    const reason = outcome === 'redriven' ? 'retry' : 'skip';
    await this.log.store.transaction(async (tx) => {
      const db = tx.db<EventsDb>();
      const claimed = await db
        .updateTable('ev_dead_letters')
        .set({ status: outcome, resolved_at: now, resolved_by: by })
        .where('id', '=', id)
        .where('status', '=', 'open')
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) throw new DeadLetterResolvedError(id, 'resolved');
      await db
        .updateTable('ev_consumers')
        .set((eb) => ({ admin_version: eb('admin_version', '+', 1) }))
        .where('name', '=', dl.consumer)
        .execute();
      await db
        .insertInto('ev_parked')
        .values({
          consumer: dl.consumer,
          generation: dl.generation,
          event_id: dl.eventId,
          position: dl.position,
          tenant_id: dl.tenantId,
          entity_kind: dl.entity.kind,
          entity_id: dl.entity.id,
          entity_seq: dl.entitySeq,
          reason,
          attempts: 0,
          next_attempt_at: now,
          history: JSON.stringify(dl.history),
          event: JSON.stringify(dl.event),
        })
        .onConflict((oc) =>
          oc
            .columns(['consumer', 'generation', 'event_id'])
            .doUpdateSet(
              reason === 'retry'
                ? { reason, attempts: 0, next_attempt_at: now }
                : { reason, next_attempt_at: now },
            ),
        )
        .execute();
    });
    this.wake(dl.consumer);
    return this.deadLetter(id, scope);
  }
}
