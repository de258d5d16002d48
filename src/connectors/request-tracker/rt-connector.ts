// The Request Tracker 5 connector (REST 2.0, token auth): capture of tickets by TicketSQL on
// `LastUpdated` and of their transactions (create, comment, correspondence, status), and commands
// (comment with a marker, create a ticket with a marker, set status and custom fields). It stores
// nothing: the engine keeps cursors and the effect ledger.
//
// Time zones. TicketSQL reads a date in the integration user's time zone; the API answers in UTC.
// The configured `timezone` is used to write query dates, and `check()` proves it right against a
// real ticket (and, when wrong, finds the zone offset RT actually uses).
//
// Paging. Tickets are read in passes ordered by (LastUpdated, id); within a pass the position moves
// strictly forward, and each pass starts `overlapMs` before the newest LastUpdated seen (RT has 1 s
// resolution and sets LastUpdated before its request commits). Transactions never change, so they
// are paged by id with the same overlap on `Created`. Repeats are dropped by the engine on (id, updated).
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  effectMarker,
  type CheckItem,
  type CheckResult,
  type Command,
  type Connector,
  type ConnectorDeps,
  type ConnectorDescription,
  type ConnectorFactory,
  type Cursor,
  type EffectLookup,
  type JsonValue,
  type ReadRequest,
  type ReadResult,
  type StreamDescription,
  type WriteOutcome,
} from '../connector.ts';
import {
  ConnectorConfigInvalidError,
  ConnectorCursorInvalidError,
  ConnectorError,
  ConnectorSystemError,
  ConnectorUnknownCommandError,
  ConnectorUnknownStreamError,
  schemaIssues,
} from '../errors.ts';
import { CrossdockError } from '../../errors/index.ts';
import { HttpClient, TokenBucketRateBudget, type HttpRequest, type Priority } from '../http/index.ts';
import { assertTimeZone, rtInstant, safeLowerBound, wallClock, zoneOffsetMs } from './rt-time.ts';
import { TicketUpdateCoalescer, type TicketChange } from './ticket-update-coalescer.ts';

export const RtConfigSchema = Type.Object(
  {
    url: Type.String({ description: 'REST 2.0 base URL, e.g. `http://127.0.0.1:8010/REST/2.0`.' }),
    queues: Type.Optional(
      Type.Array(Type.String(), {
        minItems: 1,
        description: 'Queues captured and written (default `["General"]`).',
      }),
    ),
    timezone: Type.Optional(
      Type.String({
        description:
          "IANA time zone in which RT reads TicketSQL dates for the integration user (the user's Timezone preference, else RT's $Timezone); default `UTC`. `check()` verifies it.",
      }),
    ),
    customFields: Type.Optional(
      Type.Array(Type.String(), {
        description:
          'Ticket custom fields Crossdock reads and writes (default `["ERP Order", "ERP Customer"]`).',
      }),
    ),
    overlapMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'How far before the newest seen change each pass starts, in ms (default 30000).',
      }),
    ),
    pageSize: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 99, description: 'Records per read (default 50).' }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Per-request timeout in ms (default 30000).' }),
    ),
    maxInFlight: Type.Optional(
      Type.Integer({ minimum: 1, description: "Concurrent requests (default 2, RT's worker count)." }),
    ),
    ratePerSecond: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Requests per second (default 8).' }),
    ),
  },
  { additionalProperties: false },
);
export type RtConfig = Static<typeof RtConfigSchema>;

export const CaseCommentArgs = Type.Object(
  {
    ticket: Type.Integer({ minimum: 1 }),
    text: Type.String({ minLength: 1 }),
    subject: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type CaseComment = Static<typeof CaseCommentArgs>;

export const CaseCreateArgs = Type.Object(
  {
    queue: Type.Optional(Type.String({ description: 'Default: the first configured queue.' })),
    subject: Type.String({ minLength: 1 }),
    requestor: Type.String({ minLength: 3, description: "The customer's e-mail address." }),
    text: Type.String({ minLength: 1 }),
    customFields: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
);
export type CaseCreate = Static<typeof CaseCreateArgs>;

export const CaseUpdateArgs = Type.Object(
  {
    ticket: Type.Integer({ minimum: 1 }),
    status: Type.Optional(Type.String({ minLength: 1 })),
    customFields: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
);
export type CaseUpdate = Static<typeof CaseUpdateArgs>;

export const RT_COMMANDS = {
  comment: 'case.comment',
  create: 'case.create',
  update: 'case.update',
} as const;

const DESCRIPTION: ConnectorDescription = {
  system: 'request-tracker',
  kind: 'helpdesk',
  displayName: 'Request Tracker 5 (REST 2.0)',
  configSchema: RtConfigSchema,
  secrets: [
    { name: 'token', description: 'Auth token of the integration user (RT: Settings > Auth Tokens).' },
  ],
  commands: [
    {
      type: RT_COMMANDS.comment,
      description: 'Adds an internal comment to a ticket; the comment ends with the marker.',
      argsSchema: CaseCommentArgs,
      idempotency: 'marker',
    },
    {
      type: RT_COMMANDS.create,
      description: 'Creates a ticket for a requestor; its first message ends with the marker.',
      argsSchema: CaseCreateArgs,
      idempotency: 'marker',
    },
    {
      type: RT_COMMANDS.update,
      description:
        "Sets a ticket's status and/or custom fields (e.g. `ERP Order`, `ERP Customer`). Updates of one ticket close together are coalesced into one request; the result is read back to confirm RT applied it.",
      argsSchema: CaseUpdateArgs,
      idempotency: 'natural',
    },
  ],
  webhooks: false,
};

const TICKET_FIELDS =
  'Subject,Status,Queue,Owner,Requestor,Priority,Created,LastUpdated,Resolved,Due,CustomFields';
const MILESTONE_TYPES = ['Create', 'Comment', 'Correspond', 'Status'];

interface TicketCursor {
  readonly v: 1;
  /** Position: LastUpdated (ISO, UTC) and id of the last ticket returned; null = beginning. */
  readonly at: string | null;
  readonly id: number;
  /** Lower bound of the current pass (ISO, UTC), null = everything. */
  readonly from: string | null;
  /** Newest LastUpdated seen. */
  readonly high: string | null;
}

interface TransactionCursor {
  readonly v: 1;
  /** Last transaction id returned in this pass. */
  readonly id: number;
  /** Lower bound on Created of the current pass (ISO, UTC), null = everything. */
  readonly from: string | null;
  readonly high: string | null;
}

type Json = Record<string, unknown>;

interface Collection {
  readonly items: Json[];
  readonly total?: number;
}

const iso = (v: unknown) => typeof v === 'string' && !Number.isNaN(Date.parse(v));

function readTicketCursor(cursor: Cursor | undefined): TicketCursor {
  if (cursor === undefined || cursor === null) return { v: 1, at: null, id: 0, from: null, high: null };
  const c = cursor as Partial<Record<string, unknown>>;
  const ok =
    typeof cursor === 'object' &&
    !Array.isArray(cursor) &&
    c.v === 1 &&
    typeof c.id === 'number' &&
    [c.at, c.from, c.high].every((x) => x === null || iso(x));
  if (!ok) throw new ConnectorCursorInvalidError('request-tracker', 'ticket', JSON.stringify(cursor));
  return cursor as unknown as TicketCursor;
}

function readTransactionCursor(cursor: Cursor | undefined): TransactionCursor {
  if (cursor === undefined || cursor === null) return { v: 1, id: 0, from: null, high: null };
  const c = cursor as Partial<Record<string, unknown>>;
  const ok =
    typeof cursor === 'object' &&
    !Array.isArray(cursor) &&
    c.v === 1 &&
    typeof c.id === 'number' &&
    [c.from, c.high].every((x) => x === null || iso(x));
  if (!ok) throw new ConnectorCursorInvalidError('request-tracker', 'transaction', JSON.stringify(cursor));
  return cursor as unknown as TransactionCursor;
}

/**
 * RT lists a ticket's custom fields and requestors in no fixed order; capture compares payloads of
 * one version, so they are put in id order (the same ticket read twice is then the same payload).
 */
function inStableOrder(ticket: Json): Json {
  const byId = (a: unknown, b: unknown) =>
    Number((a as { id?: unknown }).id) - Number((b as { id?: unknown }).id) ||
    String((a as { id?: unknown }).id).localeCompare(String((b as { id?: unknown }).id));
  return {
    ...ticket,
    ...(Array.isArray(ticket.CustomFields)
      ? { CustomFields: [...(ticket.CustomFields as unknown[])].sort(byId) }
      : {}),
    ...(Array.isArray(ticket.Requestor)
      ? { Requestor: [...(ticket.Requestor as unknown[])].sort(byId) }
      : {}),
  };
}

/** How long a read waits for RT to finish the second its newest tickets changed in, in ms. */
const OPEN_SECOND_WAIT_MS = 2_000;

function sleepFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

function sinceTicketCursor(since: string): TicketCursor {
  const from = new Date(Date.parse(since)).toISOString();
  return { v: 1, at: null, id: 0, from, high: null };
}

const later = (a: string | null, b: string | null) =>
  a === null ? b : b === null ? a : Date.parse(a) >= Date.parse(b) ? a : b;

/** TicketSQL string literal. */
function sql(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Requests per second and in flight when the configuration does not say. */
export const RT_RATE_DEFAULTS = { ratePerSecond: 8, maxInFlight: 2 } as const;

export class RequestTrackerConnector implements Connector<Json> {
  readonly http: HttpClient;
  private readonly queues: readonly string[];
  private readonly timeZone: string;
  private readonly customFields: readonly string[];
  private readonly overlapMs: number;
  private readonly pageSize: number;
  private readonly coalescer: TicketUpdateCoalescer<WriteOutcome>;

  constructor(
    readonly config: RtConfig,
    secrets: Readonly<Record<string, string>>,
    deps: ConnectorDeps,
  ) {
    const issues = schemaIssues(RtConfigSchema, config, ': ');
    if (typeof secrets.token !== 'string' || secrets.token.length === 0) issues.push('secret token: missing');
    try {
      assertTimeZone(config.timezone ?? 'UTC');
    } catch {
      issues.push(`/timezone: unknown time zone ${config.timezone}`);
    }
    if (issues.length > 0) throw new ConnectorConfigInvalidError('request-tracker', issues);
    this.queues = config.queues ?? ['General'];
    this.timeZone = config.timezone ?? 'UTC';
    this.customFields = config.customFields ?? ['ERP Order', 'ERP Customer'];
    this.overlapMs = config.overlapMs ?? 30_000;
    this.pageSize = config.pageSize ?? 50;
    this.http = new HttpClient({
      system: 'request-tracker',
      baseUrl: config.url,
      timeoutMs: config.timeoutMs ?? 30_000,
      headers: { authorization: `token ${secrets.token}` },
      rateBudget:
        deps.rateBudget ??
        new TokenBucketRateBudget({
          ratePerSecond: config.ratePerSecond ?? RT_RATE_DEFAULTS.ratePerSecond,
          maxInFlight: config.maxInFlight ?? RT_RATE_DEFAULTS.maxInFlight,
        }),
      logger: deps.logger,
      ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
    });
    this.coalescer = new TicketUpdateCoalescer((ticket, change) => this.sendUpdate(ticket, change));
  }

  /** PUTs sent for `case.update` commands (fewer than commands when coalesced). */
  get updateRequests(): number {
    return this.coalescer.sent;
  }

  describe(): ConnectorDescription {
    return DESCRIPTION;
  }

  private get<T>(path: string, query: HttpRequest['query'] = {}, extra: Partial<HttpRequest> = {}) {
    return this.http
      .request({ method: 'GET', path, query, operation: `GET ${path.replace(/\d+/g, ':id')}`, ...extra })
      .then((r) => r.json<T>());
  }

  private post<T>(path: string, body: unknown, extra: Partial<HttpRequest> = {}) {
    return this.http
      .request({
        method: 'POST',
        path,
        json: body,
        operation: `POST ${path.replace(/\d+/g, ':id')}`,
        ...extra,
      })
      .then((r) => r.json<T>());
  }

  private queueClause(): string {
    return `(${this.queues.map((q) => `Queue = ${sql(q)}`).join(' OR ')})`;
  }

  /** Tickets matching a TicketSQL query, with the fields capture needs (requestors with e-mail). */
  async searchTickets(
    query: string,
    extra: Record<string, string | number | readonly (string | number)[]> = {},
    signal?: AbortSignal,
    priority: Priority = 'low',
  ): Promise<Collection> {
    return (await this.searchTicketsAt(query, extra, signal, priority)).page;
  }

  /** `searchTickets`, with RT's clock when it answered (its `Date` header, whole seconds, in ms). */
  private async searchTicketsAt(
    query: string,
    extra: Record<string, string | number | readonly (string | number)[]>,
    signal: AbortSignal | undefined,
    priority: Priority,
  ): Promise<{ page: Collection; serverMs: number }> {
    const response = await this.http.request({
      method: 'GET',
      path: 'tickets',
      query: {
        query,
        fields: TICKET_FIELDS,
        'fields[Requestor]': 'EmailAddress,Name,RealName',
        'fields[Owner]': 'Name',
        'fields[Queue]': 'Name',
        ...extra,
      },
      operation: 'GET tickets',
      priority,
      ...(signal === undefined ? {} : { signal }),
    });
    const date = Date.parse(response.headers.date ?? '');
    return { page: response.json<Collection>(), serverMs: Number.isNaN(date) ? Date.now() : date };
  }

  async check(): Promise<CheckResult> {
    const items: CheckItem[] = [];
    const details: Record<string, JsonValue> = { timezone: this.timeZone };
    const fail = (name: string, error: unknown, hint: string): CheckResult => {
      const why = error instanceof Error ? error.message : String(error);
      items.push({ name, ok: false, message: `${why}. ${hint}` });
      return { ok: false, items, details };
    };
    try {
      const rt = await this.get<{ Version: string }>('rt', {}, { maxAttempts: 2 });
      details.version = rt.Version;
      items.push({
        name: 'reachable',
        ok: true,
        message: `Request Tracker ${rt.Version} answers at ${this.config.url}`,
      });
    } catch (error) {
      // /rt needs a valid credential too: tell an auth failure apart from an unreachable server.
      if (error instanceof ConnectorError && error.code === 'CONNECTOR_AUTH_FAILED') {
        items.push({ name: 'reachable', ok: true, message: `RT answers at ${this.config.url}` });
        return fail('token', 'RT refused the token', 'Check the token secret and that its user is enabled');
      }
      return fail(
        'reachable',
        error,
        `Check that RT runs and that url (${this.config.url}) is its REST 2.0 base`,
      );
    }
    items.push({ name: 'token', ok: true, message: 'the token is accepted' });
    try {
      for (const queue of this.queues) {
        const q = await this.get<{ TicketCustomFields?: { name: string }[] }>(
          `queue/${encodeURIComponent(queue)}`,
        );
        const applied = (q.TicketCustomFields ?? []).map((cf) => cf.name);
        const missing = this.customFields.filter((cf) => !applied.includes(cf));
        if (missing.length > 0) {
          // RT silently ignores unknown custom fields on update: a missing one would lose writes.
          return fail(
            'custom-fields',
            `queue ${queue} lacks custom fields ${missing.join(', ')}`,
            'Create them and apply them to the queue',
          );
        }
      }
      items.push({
        name: 'custom-fields',
        ok: true,
        message: `${this.customFields.join(', ')} applied to ${this.queues.join(', ')}`,
      });
    } catch (error) {
      return fail(
        'custom-fields',
        error,
        `Check the queues (${this.queues.join(', ')}) exist and the user can see them`,
      );
    }
    try {
      items.push(await this.checkTimeZone(details));
    } catch (error) {
      return fail('timezone', error, 'Could not verify the time zone');
    }
    return { ok: items.every((i) => i.ok), items, details };
  }

  /** Proves TicketSQL reads dates in the configured zone, using the most recently updated ticket. */
  private async checkTimeZone(details: Record<string, JsonValue>): Promise<CheckItem> {
    const latest = await this.get<Collection>('tickets', {
      query: 'id > 0',
      orderby: 'LastUpdated',
      order: 'DESC',
      per_page: 1,
      fields: 'LastUpdated',
    });
    const probe = latest.items[0];
    if (probe === undefined) {
      return {
        name: 'timezone',
        ok: true,
        message: `not verifiable yet (no ticket); assuming ${this.timeZone}`,
      };
    }
    const id = String(probe.id);
    const at = Date.parse(String(probe.LastUpdated));
    const matches = async (offsetMs: number | undefined, bound: number, op: '>' | '<') => {
      const wall =
        offsetMs === undefined
          ? wallClock(bound, this.timeZone)
          : new Date(bound + offsetMs).toISOString().slice(0, 19).replace('T', ' ');
      const r = await this.get<Collection>('tickets', {
        query: `id = ${id} AND LastUpdated ${op} ${sql(wall)}`,
        fields: 'id',
      });
      return r.items.length === 1;
    };
    const inWindow = (await matches(undefined, at - 1000, '>')) && (await matches(undefined, at + 1000, '<'));
    const expected = zoneOffsetMs(at, this.timeZone);
    if (inWindow) {
      details.timezoneOffsetMinutes = expected / 60_000;
      return {
        name: 'timezone',
        ok: true,
        message: `RT reads TicketSQL dates in ${this.timeZone} (verified on ticket ${id})`,
      };
    }
    // Find the offset RT uses: `LastUpdated > wall(at + x)` holds exactly while x < offset.
    let lo = -15 * 3_600_000;
    let hi = 15 * 3_600_000;
    while (hi - lo > 60_000) {
      const mid = Math.floor((lo + hi) / 2 / 1000) * 1000;
      if (await matches(mid, at - 1000, '>')) lo = mid;
      else hi = mid;
    }
    const actual = Math.round(hi / 900_000) * 15; // minutes, to the quarter hour zones use
    details.timezoneOffsetMinutes = actual;
    const fmt = (m: number) =>
      `UTC${m < 0 ? '-' : '+'}${String(Math.floor(Math.abs(m) / 60)).padStart(2, '0')}:${String(Math.abs(m) % 60).padStart(2, '0')}`;
    return {
      name: 'timezone',
      ok: false,
      message: `RT reads TicketSQL dates at ${fmt(actual)}, but timezone is ${this.timeZone} (${fmt(expected / 60_000)}): captures would miss or repeat changes. Set timezone to the integration user's time zone in RT`,
    };
  }

  streams(): Promise<readonly StreamDescription[]> {
    return Promise.resolve([
      {
        name: 'ticket',
        entity: 'case',
        key: 'id',
        cursorField: 'LastUpdated',
        overlapMs: this.overlapMs,
        description: 'Tickets of the configured queues, with requestors (e-mail), status and custom fields.',
      },
      {
        name: 'transaction',
        entity: 'caseMilestone',
        key: 'id',
        cursorField: 'Created',
        overlapMs: this.overlapMs,
        description:
          'Ticket transactions: creation, comments, correspondence and status changes, with their text.',
      },
    ]);
  }

  async read(request: ReadRequest): Promise<ReadResult<Json>> {
    if (request.stream === 'ticket') return this.readTickets(request);
    if (request.stream === 'transaction') return this.readTransactions(request);
    throw new ConnectorUnknownStreamError('request-tracker', request.stream);
  }

  private async readTickets(request: ReadRequest): Promise<ReadResult<Json>> {
    const cursor =
      request.cursor === undefined && request.since !== undefined
        ? sinceTicketCursor(request.since)
        : readTicketCursor(request.cursor);
    const priority = request.priority ?? 'low';
    const limit = Math.min(99, Math.max(1, request.limit ?? this.pageSize));
    const clauses = [this.queueClause()];
    if (cursor.from !== null)
      clauses.push(`LastUpdated >= ${sql(safeLowerBound(Date.parse(cursor.from), this.timeZone))}`);
    if (cursor.at !== null) {
      const at = sql(wallClock(Date.parse(cursor.at), this.timeZone));
      clauses.push(`(LastUpdated > ${at} OR (LastUpdated >= ${at} AND id > ${cursor.id}))`);
    }
    // RT stamps changes to the second: a ticket changed in a second that was not over when the search
    // ran may change again with the same LastUpdated, which capture could not tell from this version.
    // Such tickets are read again once that second is surely over (RT's clock, the answer's Date header,
    // less one second for the search itself): waiting once, else left for the next read.
    const search = () =>
      this.searchTicketsAt(
        clauses.join(' AND '),
        { orderby: ['LastUpdated', 'id'], order: ['ASC', 'ASC'], per_page: limit + 1, page: 1 },
        request.signal,
        priority,
      );
    const settledBefore = (serverMs: number) => Math.floor(serverMs / 1000) * 1000 - 1000;
    const openIn = (items: readonly Json[], serverMs: number) =>
      items.some((t) => Date.parse(String(t.LastUpdated)) >= settledBefore(serverMs));
    let { page, serverMs } = await search();
    if (openIn(page.items, serverMs)) {
      await sleepFor(OPEN_SECOND_WAIT_MS, request.signal);
      ({ page, serverMs } = await search());
    }
    const closedBefore = settledBefore(serverMs);
    const rows = [...page.items]
      .sort(
        (a, b) =>
          Date.parse(String(a.LastUpdated)) - Date.parse(String(b.LastUpdated)) ||
          Number(a.id) - Number(b.id),
      )
      .filter((t) => Date.parse(String(t.LastUpdated)) < closedBefore);
    const taken = rows.slice(0, limit);
    const hasMore = rows.length > limit;
    const last = taken.at(-1);
    const lastAt = last === undefined ? null : rtInstant(String(last.LastUpdated));
    const high = later(cursor.high, lastAt);
    const next: TicketCursor =
      hasMore && last !== undefined
        ? { v: 1, at: lastAt, id: Number(last.id), from: cursor.from, high }
        : {
            v: 1,
            at: null,
            id: 0,
            from: high === null ? null : new Date(Date.parse(high) - this.overlapMs).toISOString(),
            high,
          };
    return {
      records: taken.map((t) => ({
        stream: 'ticket',
        externalId: String(t.id),
        updatedAt: rtInstant(String(t.LastUpdated)),
        payload: inStableOrder(t),
      })),
      cursor: { ...next },
      hasMore,
    };
  }

  private async readTransactions(request: ReadRequest): Promise<ReadResult<Json>> {
    const cursor =
      request.cursor === undefined && request.since !== undefined
        ? { v: 1 as const, id: 0, from: new Date(Date.parse(request.since)).toISOString(), high: null }
        : readTransactionCursor(request.cursor);
    const limit = Math.min(99, Math.max(1, request.limit ?? this.pageSize));
    // JSON searches compare dates as stored (UTC), unlike TicketSQL.
    const search: Json[] = [
      { field: 'ObjectType', operator: '=', value: 'RT::Ticket' },
      { field: 'Type', operator: 'IN', value: MILESTONE_TYPES },
      { field: 'id', operator: '>', value: cursor.id },
    ];
    if (cursor.from !== null) {
      search.push({
        field: 'Created',
        operator: '>=',
        value: new Date(Date.parse(cursor.from)).toISOString().slice(0, 19).replace('T', ' '),
      });
    }
    const page = await this.post<Collection>('transactions', search, {
      query: {
        fields: 'Type,ObjectId,ObjectType,Created,Creator,Field,OldValue,NewValue,Data',
        'fields[Creator]': 'Name,EmailAddress',
        orderby: 'id',
        order: 'ASC',
        per_page: limit + 1,
        page: 1,
      },
      idempotent: true,
      priority: request.priority ?? 'low',
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const rows = [...page.items].sort((a, b) => Number(a.id) - Number(b.id));
    const taken = rows.slice(0, limit);
    await this.attachContent(taken);
    const hasMore = rows.length > limit;
    const last = taken.at(-1);
    const high = later(cursor.high, last === undefined ? null : rtInstant(String(last.Created)));
    const next: TransactionCursor =
      hasMore && last !== undefined
        ? { v: 1, id: Number(last.id), from: cursor.from, high }
        : {
            v: 1,
            id: 0,
            from: high === null ? null : new Date(Date.parse(high) - this.overlapMs).toISOString(),
            high,
          };
    return {
      records: taken.map((t) => ({
        stream: 'transaction',
        externalId: String(t.id),
        updatedAt: rtInstant(String(t.Created)),
        payload: t,
      })),
      cursor: { ...next },
      hasMore,
    };
  }

  /** Adds the text of comments and correspondence (their attachments), one request per page. */
  private async attachContent(transactions: Json[]): Promise<void> {
    const ids = transactions.filter((t) => t.Type !== 'Status').map((t) => Number(t.id));
    if (ids.length === 0) return;
    const attachments = await this.post<Collection>(
      'attachments',
      [
        { field: 'TransactionId', operator: 'IN', value: ids },
        { field: 'ContentType', operator: '=', value: 'text/plain' },
      ],
      {
        query: { fields: 'TransactionId,Subject,Content,ContentType', per_page: 100 },
        idempotent: true,
        priority: 'low',
      },
    );
    for (const t of transactions) {
      const mine = attachments.items.filter((a) => String(a.TransactionId) === String(t.id));
      t.Content = mine.map((a) => decodeContent(a.Content)).join('\n');
    }
  }

  async write(command: Command): Promise<WriteOutcome> {
    switch (command.type) {
      case RT_COMMANDS.comment:
        if (!Value.Check(CaseCommentArgs, command.args))
          throw this.badArgs(command.type, CaseCommentArgs, command.args);
        return this.outcome(() => this.comment(command.args as CaseComment, command));
      case RT_COMMANDS.create:
        if (!Value.Check(CaseCreateArgs, command.args))
          throw this.badArgs(command.type, CaseCreateArgs, command.args);
        return this.outcome(() => this.create(command.args as CaseCreate, command));
      case RT_COMMANDS.update: {
        if (!Value.Check(CaseUpdateArgs, command.args))
          throw this.badArgs(command.type, CaseUpdateArgs, command.args);
        const args = command.args;
        const unknown = Object.keys(args.customFields ?? {}).filter((n) => !this.customFields.includes(n));
        if (unknown.length > 0) {
          // RT would silently ignore them: refuse instead of reporting a write that did not happen.
          throw new ConnectorUnknownCommandError(
            'request-tracker',
            command.type,
            `unknown custom fields ${unknown.join(', ')}`,
          );
        }
        return this.outcome(() =>
          this.coalescer.update(String(args.ticket), {
            ...(args.status === undefined ? {} : { status: args.status }),
            ...(args.customFields === undefined ? {} : { customFields: args.customFields }),
          }),
        );
      }
      default:
        throw new ConnectorUnknownCommandError('request-tracker', command.type);
    }
  }

  async findEffect(command: Command): Promise<EffectLookup> {
    if (command.type === RT_COMMANDS.comment || command.type === RT_COMMANDS.create) {
      const found = await this.findMarker(
        command.idempotencyKey,
        command.type === RT_COMMANDS.create ? 'Create' : 'Comment',
      );
      if (!found) return { found: false };
      return {
        found: true,
        effect:
          command.type === RT_COMMANDS.create
            ? { externalId: found.ticket, stream: 'ticket', result: { transaction: found.transaction } }
            : { externalId: found.transaction, stream: 'transaction', result: { ticket: found.ticket } },
      };
    }
    if (command.type === RT_COMMANDS.update) {
      // A field update leaves no marker; it is naturally idempotent, so it is simply sent again.
      return { found: false };
    }
    throw new ConnectorUnknownCommandError('request-tracker', command.type);
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private badArgs(type: string, schema: TSchema, args: unknown): ConnectorUnknownCommandError {
    return new ConnectorUnknownCommandError(
      'request-tracker',
      type,
      `invalid args: ${schemaIssues(schema, args).join('; ')}`,
    );
  }

  private async outcome(run: () => Promise<WriteOutcome>): Promise<WriteOutcome> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ConnectorError && error.ambiguous) return { status: 'ambiguous', error };
      if (error instanceof CrossdockError) return { status: 'not-applied', error };
      throw error;
    }
  }

  /** Finds the transaction whose text carries the marker of `key` (attachments are searched by content). */
  private async findMarker(
    key: string,
    type: 'Create' | 'Comment',
  ): Promise<{ transaction: string; ticket: string } | undefined> {
    const marker = `[${effectMarker(key)}]`;
    const attachments = await this.post<Collection>(
      'attachments',
      [{ field: 'Content', operator: 'LIKE', value: marker }],
      { query: { fields: 'TransactionId,Content', per_page: 20 }, idempotent: true, priority: 'high' },
    );
    const ids = attachments.items
      .filter((a) => decodeContent(a.Content).includes(marker))
      .map((a) => Number(a.TransactionId));
    if (ids.length === 0) return undefined;
    const transactions = await this.post<Collection>(
      'transactions',
      [
        { field: 'id', operator: 'IN', value: ids },
        { field: 'Type', operator: '=', value: type },
      ],
      { query: { fields: 'ObjectId,Type', orderby: 'id', order: 'ASC' }, idempotent: true, priority: 'high' },
    );
    const first = transactions.items[0];
    return first === undefined
      ? undefined
      : { transaction: String(first.id), ticket: String(first.ObjectId) };
  }

  private withMarker(text: string, key: string): string {
    return `${text}\n\n[${effectMarker(key)}]`;
  }

  private async comment(args: CaseComment, command: Command): Promise<WriteOutcome> {
    await this.post(`ticket/${args.ticket}/comment`, {
      Content: this.withMarker(args.text, command.idempotencyKey),
      ContentType: 'text/plain',
      ...(args.subject === undefined ? {} : { Subject: args.subject }),
    });
    // RT answers ["Comments added"] without the transaction id: find it by its marker.
    const found = await this.findMarker(command.idempotencyKey, 'Comment');
    return {
      status: 'applied',
      effect: {
        externalId: found?.transaction ?? `ticket/${args.ticket}`,
        stream: 'transaction',
        result: { ticket: String(args.ticket) },
      },
      replayed: false,
    };
  }

  private async create(args: CaseCreate, command: Command): Promise<WriteOutcome> {
    const created = await this.post<{ id: string }>('ticket', {
      Queue: args.queue ?? this.queues[0],
      Subject: args.subject,
      Requestor: args.requestor,
      Content: this.withMarker(args.text, command.idempotencyKey),
      ContentType: 'text/plain',
      ...(args.customFields === undefined ? {} : { CustomFields: args.customFields }),
    });
    return {
      status: 'applied',
      effect: { externalId: String(created.id), stream: 'ticket' },
      replayed: false,
    };
  }

  private async sendUpdate(ticket: string, change: TicketChange): Promise<WriteOutcome> {
    const body: Json = {};
    if (change.status !== undefined) body.Status = change.status;
    if (change.customFields !== undefined) body.CustomFields = change.customFields;
    // PUT sets values: sending it twice has the effect of once, so it may be retried after a timeout.
    const response = await this.http.request({
      method: 'PUT',
      path: `ticket/${ticket}`,
      json: body,
      operation: 'PUT ticket/:id',
    });
    const messages = response.json<unknown>();
    // RT answers 200 even when it refused a value (e.g. an invalid status): read back and compare.
    const [current] = (await this.searchTickets(`id = ${ticket}`)).items;
    const cfs = new Map(
      ((current?.CustomFields ?? []) as { name: string; values: string[] }[]).map((cf) => [
        cf.name,
        cf.values,
      ]),
    );
    const wrong: string[] = [];
    if (change.status !== undefined && current?.Status !== change.status)
      wrong.push(`Status is ${String(current?.Status)}`);
    for (const [name, value] of Object.entries(change.customFields ?? {})) {
      if (!(cfs.get(name) ?? []).includes(value))
        wrong.push(`${name} is ${JSON.stringify(cfs.get(name) ?? [])}`);
    }
    if (wrong.length > 0) {
      throw new ConnectorSystemError({
        system: 'request-tracker',
        systemCode: 'UpdateRefused',
        detail: `${wrong.join('; ')} after update: ${JSON.stringify(messages)}`,
      });
    }
    return {
      status: 'applied',
      effect: {
        externalId: ticket,
        stream: 'ticket',
        result: { messages: Array.isArray(messages) ? (messages as JsonValue[]) : [] },
      },
      replayed: Array.isArray(messages) && messages.length === 0,
    };
  }
}

/** Attachment text as searches return it (plain text for text/plain parts). */
function decodeContent(content: unknown): string {
  return typeof content === 'string' ? content : '';
}

export const requestTrackerConnectorFactory: ConnectorFactory<RtConfig, Json> = {
  describe: () => DESCRIPTION,
  create: (config, secrets, deps) => new RequestTrackerConnector(config, secrets, deps),
};
