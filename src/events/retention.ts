// Retention of the log by age, count and/or size. It never removes an event some consumer has not
// read (live position or running replay); when the policy wants more removed than that allows, the
// consumers holding it back are reported as lagging (log line, metric and the returned result).
import { sql } from 'kysely';
import type { Logger } from '../telemetry/index.ts';
import type { EventLog } from './event-log.ts';
import type { EventsDb } from './tables.ts';

export interface RetentionPolicy {
  /** Remove events recorded longer ago than this, in ms (default: no age limit). */
  readonly maxAgeMs?: number;
  /** Keep at most this many of the newest events (default: no count limit). */
  readonly maxEvents?: number;
  /** Keep at most this many bytes of event data, newest first (default: no size limit). */
  readonly maxBytes?: number;
}

export interface LaggingConsumer {
  readonly consumer: string;
  /** Position the consumer (or its replay) has read up to. */
  readonly position: number;
  /** Events the policy would remove that this consumer has not read. */
  readonly holding: number;
}

export interface RetentionResult {
  /** Events removed. */
  readonly removed: number;
  /** Highest position the policy wanted removed (0: nothing). */
  readonly wantedUpTo: number;
  /** Highest position actually removed up to. */
  readonly removedUpTo: number;
  readonly lagging: readonly LaggingConsumer[];
}

const DELETE_CHUNK = 10_000;

export async function enforceRetention(
  log: EventLog,
  policy: RetentionPolicy,
  options: { now?: number; logger?: Logger } = {},
): Promise<RetentionResult> {
  const now = options.now ?? Date.now();
  const db = log.store.db<EventsDb>();
  const head = await log.head();
  let wanted = 0;
  if (policy.maxAgeMs !== undefined) {
    const row = await db
      .selectFrom('ev_events')
      .select((eb) => eb.fn.max('position').as('p'))
      .where('recorded_at', '<', now - policy.maxAgeMs)
      .where('position', 'is not', null)
      .executeTakeFirst();
    wanted = Math.max(wanted, Number(row?.p ?? 0));
  }
  if (policy.maxEvents !== undefined) wanted = Math.max(wanted, head - policy.maxEvents);
  if (policy.maxBytes !== undefined) {
    const { rows } = await sql<{ p: string | number | null }>`
      select max(position) as p from (
        select position, sum(size_bytes) over (order by position desc) as total
        from ev_events where position is not null
      ) w where w.total > ${policy.maxBytes}`.execute(db);
    wanted = Math.max(wanted, Number(rows[0]?.p ?? 0));
  }
  wanted = Math.min(wanted, head);

  const consumers = await db
    .selectFrom('ev_consumers')
    .select(['name', 'position', 'replay_position'])
    // A consumer fed from another transport (`external`) does not read this log.
    .where('kind', 'not in', ['external', 'member'])
    .execute();
  let bound = head;
  const lagging: LaggingConsumer[] = [];
  for (const c of consumers) {
    const read = Math.min(
      Number(c.position),
      c.replay_position === null ? Infinity : Number(c.replay_position),
    );
    bound = Math.min(bound, read);
    if (read < wanted) lagging.push({ consumer: c.name, position: read, holding: wanted - read });
  }
  const upTo = Math.min(wanted, bound);
  let removed = 0;
  const lowest = await db
    .selectFrom('ev_events')
    .select((eb) => eb.fn.min('position').as('p'))
    .where('position', 'is not', null)
    .executeTakeFirst();
  let from = Number(lowest?.p ?? 0);
  while (upTo > 0 && from <= upTo) {
    const to = Math.min(upTo, from + DELETE_CHUNK);
    const result = await db.deleteFrom('ev_events').where('position', '<=', to).executeTakeFirst();
    removed += Number(result.numDeletedRows);
    from = to + 1;
  }
  if (lagging.length > 0) {
    options.logger?.warn(
      { lagging, wantedUpTo: wanted, removedUpTo: upTo },
      'event retention held back by consumers that have not read the events yet',
    );
  }
  return { removed, wantedUpTo: wanted, removedUpTo: upTo, lagging };
}
