// `crossdock events tail|consumers|replay|resume|dlq list|dlq show|dlq redrive|dlq skip`: command
// builders for commander. The composition root decides where the commands act (the admin HTTP API
// when a server runs, else a local store) by lending an EventsAdminApi through `withApi`.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { CloudEvent } from './envelope.ts';
import type { EventsAdminApi } from './events-admin-api.ts';
import type { DeadLetter } from './events-admin.ts';
import { EVENT_TYPE_NAMES, isEventType } from './event-types.ts';

export interface EventsCommandsContext {
  /** Lends an EventsAdminApi for one command and releases it afterwards (closing a local store, say). */
  withApi<T>(fn: (api: EventsAdminApi) => Promise<T>): Promise<T>;
  /** Where output goes (default process.stdout). */
  readonly write?: (text: string) => void;
  /** Pause between polls of `tail --follow`, in ms (default 1000). */
  readonly followIntervalMs?: number;
  /** Ends `tail --follow` (default: never; Ctrl-C ends the process). */
  readonly signal?: AbortSignal;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new InvalidArgumentError('expected an integer 1..1000');
  return n;
}

function parseType(value: string, previous: string[] = []): string[] {
  if (!isEventType(value))
    throw new InvalidArgumentError(`unknown event type; one of ${EVENT_TYPE_NAMES.join(', ')}`);
  return [...previous, value];
}

function parseInstant(value: string): string {
  if (Number.isNaN(Date.parse(value)))
    throw new InvalidArgumentError('expected a date-time such as 2026-11-27T10:00:00Z');
  return new Date(value).toISOString();
}

function parseEntity(value: string): { kind: string; id: string } {
  const at = value.indexOf('/');
  if (at <= 0 || at === value.length - 1)
    throw new InvalidArgumentError('expected kind/id, e.g. order/SO-1042');
  return { kind: value.slice(0, at), id: value.slice(at + 1) };
}

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function eventLine(e: CloudEvent): string {
  return `${e.sequence.padStart(8)}  ${e.time}  ${e.tenantid}  ${e.type}  ${e.subject}#${e.entityseq}  ${JSON.stringify(e.data)}`;
}

export function formatDeadLetter(d: DeadLetter): string {
  const lines = [
    `dead letter ${d.id} (${d.status}) for consumer ${d.consumer}${d.generation > 0 ? ` replay ${d.generation}` : ''}`,
    `event ${d.eventId} at position ${d.position}: ${d.type} ${d.entity.kind}/${d.entity.id}#${d.entitySeq} (tenant ${d.tenantId})`,
    `error after ${d.attempts} attempts: ${d.error}`,
    `created ${d.createdAt}${d.resolvedAt === null ? '' : `  resolved ${d.resolvedAt} by ${d.resolvedBy ?? '?'}`}`,
    'attempts:',
    ...d.history.map((h, i) => `  ${i + 1}. ${h.at}  ${h.error}`),
    `data: ${JSON.stringify(d.event.data)}`,
  ];
  return lines.join('\n');
}

/** Adds `events` with its subcommands to `program`. */
export function registerEventsCommands(program: Command, ctx: EventsCommandsContext): Command {
  const write = ctx.write ?? ((text: string) => void process.stdout.write(text));
  const out = (text: string) => write(text.endsWith('\n') ? text : `${text}\n`);
  const events = program
    .command('events')
    .description('inspect the event log, replay consumers, work dead letters');

  events
    .command('tail')
    .description('print events after a position, oldest first')
    .option('--after <position>', 'start after this position (default 0)', parseCount)
    .option('--limit <n>', 'events per page (default 100)', parseLimit)
    .option('--type <type>', 'only this event type (repeatable)', parseType)
    .option('--tenant <id>', 'only this tenant')
    .option('--follow', 'keep printing new events')
    .option('--json', 'print one CloudEvent JSON per line')
    .action(
      async (opts: {
        after?: number;
        limit?: number;
        type?: string[];
        tenant?: string;
        follow?: boolean;
        json?: boolean;
      }) => {
        let after = opts.after ?? 0;
        const pause = ctx.followIntervalMs ?? 1000;
        const aborted = () => ctx.signal?.aborted === true;
        for (;;) {
          const page = await ctx.withApi((api) =>
            api.tail({
              after,
              limit: opts.limit ?? 100,
              ...(opts.type === undefined ? {} : { types: opts.type }),
              ...(opts.tenant === undefined ? {} : { tenant: opts.tenant }),
            }),
          );
          for (const e of page.events) out(opts.json ? JSON.stringify(e) : eventLine(e));
          after = page.next;
          if (page.events.length > 0 && page.events.length === (opts.limit ?? 100)) continue;
          if (opts.follow !== true || aborted()) return;
          await new Promise((resolve) => setTimeout(resolve, pause));
          if (aborted()) return;
        }
      },
    );

  events
    .command('consumers')
    .description('list consumers with position, lag, held events and dead letters')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await ctx.withApi((api) => api.consumers());
      if (opts.json) return out(JSON.stringify(list, null, 2));
      if (list.length === 0) return out('no consumers');
      out(
        pad([
          ['CONSUMER', 'KIND', 'STATUS', 'POSITION', 'LAG', 'HELD', 'DEAD', 'REPLAY'],
          ...list.map((c) => [
            c.name,
            c.kind,
            c.status,
            String(c.position),
            String(c.lag),
            String(c.parked),
            String(c.deadLetters),
            c.replay === null ? '' : `gen ${c.generation}: ${c.replay.position}/${c.replay.until}`,
          ]),
        ]),
      );
    });

  events
    .command('replay <consumer>')
    .description('re-deliver events to one consumer (others are not disturbed)')
    .option('--from-position <position>', 're-deliver events after this position', parseCount)
    .option('--from-time <date-time>', 're-deliver events recorded at or after this time', parseInstant)
    .option('--type <type>', 'only this event type (repeatable)', parseType)
    .option('--entity <kind/id>', 'only this entity', parseEntity)
    .action(
      async (
        consumer: string,
        opts: {
          fromPosition?: number;
          fromTime?: string;
          type?: string[];
          entity?: { kind: string; id: string };
        },
      ) => {
        if ((opts.fromPosition === undefined) === (opts.fromTime === undefined)) {
          throw new InvalidArgumentError('give exactly one of --from-position or --from-time');
        }
        const started = await ctx.withApi((api) =>
          api.replay(consumer, {
            ...(opts.fromPosition === undefined ? {} : { fromPosition: opts.fromPosition }),
            ...(opts.fromTime === undefined ? {} : { fromTime: opts.fromTime }),
            ...(opts.type === undefined ? {} : { types: opts.type }),
            ...(opts.entity === undefined ? {} : { entity: opts.entity }),
          }),
        );
        out(
          `replay ${started.generation} of ${started.consumer}: positions ${started.from + 1}..${started.until} are re-delivered`,
        );
      },
    );

  events
    .command('resume <consumer>')
    .description('resume a paused consumer or webhook endpoint (webhook:<id>)')
    .action(async (consumer: string) => {
      await ctx.withApi((api) => api.resume(consumer));
      out(`${consumer} resumed`);
    });

  const dlq = events.command('dlq').description('dead letters: events a consumer failed to apply');
  dlq
    .command('list')
    .description('list dead letters (open ones by default)')
    .option('--consumer <name>', 'only this consumer')
    .option('--status <status>', 'open (default), redriven or skipped')
    .option('--limit <n>', 'at most this many (default 100)', parseLimit)
    .option('--json', 'print JSON')
    .action(async (opts: { consumer?: string; status?: string; limit?: number; json?: boolean }) => {
      const list = await ctx.withApi((api) => api.dlqList(opts));
      if (opts.json) return out(JSON.stringify(list, null, 2));
      if (list.length === 0) return out('no dead letters');
      out(
        pad([
          ['ID', 'CONSUMER', 'TENANT', 'TYPE', 'ENTITY', 'ATTEMPTS', 'CREATED', 'ERROR'],
          ...list.map((d) => [
            d.id,
            d.consumer,
            d.tenantId,
            d.type,
            `${d.entity.kind}/${d.entity.id}#${d.entitySeq}`,
            String(d.attempts),
            d.createdAt,
            d.error,
          ]),
        ]),
      );
    });
  dlq
    .command('show <id>')
    .description('show a dead letter: its event, error and attempt history')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const d = await ctx.withApi((api) => api.dlqShow(id));
      out(opts.json ? JSON.stringify(d, null, 2) : formatDeadLetter(d));
    });
  dlq
    .command('redrive <id>')
    .description('deliver the event again (after fixing the cause); its entity stays held until it succeeds')
    .action(async (id: string) => {
      const d = await ctx.withApi((api) => api.dlqRedrive(id));
      out(
        `dead letter ${d.id} redriven: ${d.type} ${d.entity.kind}/${d.entity.id}#${d.entitySeq} goes back to ${d.consumer}`,
      );
    });
  dlq
    .command('skip <id>')
    .description("give up on the event and release its entity's later events")
    .action(async (id: string) => {
      const d = await ctx.withApi((api) => api.dlqSkip(id));
      out(`dead letter ${d.id} skipped: ${d.entity.kind}/${d.entity.id} continues after #${d.entitySeq}`);
    });
  return events;
}
