// The Tryton 6.0 connector: capture of sales, sale lines, customer shipments, invoices, parties and
// complaints by polling `write_date`, and commands (create and approve a complaint, add a note to a
// sale) made safe to retry by a marker written into the record. It stores nothing: the engine keeps
// the cursors and the effect ledger.
//
// Polling. `write_date` is null until a record's first write and holds its transaction's START time,
// so a long transaction can commit rows older than what we already read. Each stream is therefore
// read in passes: a pass pages forward by (timestamp, id), where timestamp = write_date ?? create_date,
// and the next pass starts `overlapMs` before the newest timestamp seen. Records in that window come
// again; the engine drops them by (id, updatedAt). One page is two queries (written and never-written
// records, each in key order), merged, so paging never skips or loops.
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
  type SourceRecord,
  type StreamDescription,
  type WriteOutcome,
} from '../connector.ts';
import {
  ConnectorConfigInvalidError,
  ConnectorCursorInvalidError,
  ConnectorError,
  ConnectorUnknownCommandError,
  ConnectorUnknownStreamError,
  schemaIssues,
} from '../errors.ts';
import { CrossdockError } from '../../errors/index.ts';
import { HttpClient, TokenBucketRateBudget } from '../http/index.ts';
import { datetime, shiftInstant } from './tryton-codec.ts';
import { TrytonRpc, TrytonUserError } from './tryton-rpc.ts';
import { TRYTON_STREAMS, streamSpec, type TrytonStreamSpec } from './tryton-streams.ts';

export const TrytonConfigSchema = Type.Object(
  {
    url: Type.String({
      description:
        'JSON-RPC URL of the database, e.g. `http://127.0.0.1:8000/tryton/` (the path is the database name).',
    }),
    user: Type.String({ description: 'Integration user (a dedicated user, not admin, in production).' }),
    language: Type.Optional(Type.String({ description: 'Login language (default `en`).' })),
    overlapMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'How far before the newest seen timestamp each poll pass starts, in ms (default 120000). Must exceed the longest Tryton transaction.',
      }),
    ),
    pageSize: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, description: 'Records per read (default 100).' }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Per-request timeout in ms (default 15000).' }),
    ),
    ratePerSecond: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Requests per second (default 20).' }),
    ),
    maxInFlight: Type.Optional(Type.Integer({ minimum: 1, description: 'Concurrent requests (default 4).' })),
  },
  { additionalProperties: false },
);
export type TrytonConfig = Static<typeof TrytonConfigSchema>;

export const ComplaintCreateArgs = Type.Object(
  {
    customer: Type.Integer({ minimum: 1, description: 'party.party id of the customer.' }),
    origin: Type.Object({
      model: Type.Union([
        Type.Literal('sale.sale'),
        Type.Literal('sale.line'),
        Type.Literal('account.invoice'),
      ]),
      id: Type.Integer({ minimum: 1 }),
    }),
    action: Type.Union([Type.Literal('sale_return'), Type.Literal('credit_note')]),
    description: Type.Optional(Type.String()),
    reference: Type.Optional(
      Type.String({ description: 'Caller reference (e.g. the case number); the marker is appended.' }),
    ),
    approve: Type.Optional(
      Type.Boolean({ description: 'Wait and approve at once, which runs the action (default true).' }),
    ),
  },
  { additionalProperties: false },
);
export type ComplaintCreate = Static<typeof ComplaintCreateArgs>;

export const SaleNoteArgs = Type.Object(
  { sale: Type.Integer({ minimum: 1 }), text: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);
export type SaleNote = Static<typeof SaleNoteArgs>;

export const TRYTON_COMMANDS = {
  complaintCreate: 'complaint.create',
  saleNoteAdd: 'sale.note.add',
} as const;

const DESCRIPTION: ConnectorDescription = {
  system: 'tryton',
  kind: 'erp',
  displayName: 'Tryton 6.0 (JSON-RPC)',
  configSchema: TrytonConfigSchema,
  secrets: [{ name: 'password', description: "The integration user's password (used to open a session)." }],
  commands: [
    {
      type: TRYTON_COMMANDS.complaintCreate,
      description:
        'Creates a complaint (sale.complaint) on a sale, sale line or invoice with a `sale_return` or `credit_note` action, then waits and approves it, which makes Tryton create the return sale or credit note. The complaint `reference` carries the marker.',
      argsSchema: ComplaintCreateArgs,
      idempotency: 'marker',
    },
    {
      type: TRYTON_COMMANDS.saleNoteAdd,
      description: 'Adds a note (ir.note) to a sale; the note ends with the marker.',
      argsSchema: SaleNoteArgs,
      idempotency: 'marker',
    },
  ],
  webhooks: false,
};

/** A position in a stream: the last (timestamp, id) returned, and the newest timestamp seen. */
interface TrytonCursor {
  readonly v: 1;
  /** Decoded `write_date ?? create_date` of the position (microseconds), or null for the beginning. */
  readonly ts: string | null;
  readonly id: number;
  /** Newest timestamp seen in the stream so far. */
  readonly high: string | null;
}

const STAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

function readCursor(stream: string, cursor: Cursor | undefined): TrytonCursor {
  if (cursor === undefined || cursor === null) return { v: 1, ts: null, id: 0, high: null };
  const c = cursor as Partial<Record<string, unknown>>;
  const stamp = (v: unknown) => v === null || (typeof v === 'string' && STAMP.test(v));
  if (typeof cursor !== 'object' || Array.isArray(cursor) || c.v !== 1 || !stamp(c.ts) || !stamp(c.high)) {
    throw new ConnectorCursorInvalidError('tryton', stream, JSON.stringify(cursor));
  }
  if (typeof c.id !== 'number' || !Number.isInteger(c.id))
    throw new ConnectorCursorInvalidError('tryton', stream, 'id');
  return { v: 1, ts: c.ts as string | null, id: c.id, high: c.high as string | null };
}

/** A cursor positioned just before `since` (records stamped at `since` itself are read). */
function sinceCursor(since: string): TrytonCursor {
  const ms = Date.parse(since) - 1;
  const ts = `${new Date(ms).toISOString().slice(0, 23)}999Z`;
  return { v: 1, ts, id: Number.MAX_SAFE_INTEGER, high: ts };
}

type Row = Record<string, unknown> & { id: number; create_date: string; write_date: string | null };

const stampOf = (row: Row): string => row.write_date ?? row.create_date;
const byKey = (a: Row, b: Row) => stampOf(a).localeCompare(stampOf(b)) || a.id - b.id;
const maxStamp = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a > b ? a : b);

/** Escapes LIKE wildcards so a marker is searched literally (Tryton's like escapes with `\`). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Requests per second and in flight when the configuration does not say. */
export const TRYTON_RATE_DEFAULTS = { ratePerSecond: 20, maxInFlight: 4 } as const;

export class TrytonConnector implements Connector<Record<string, unknown>> {
  readonly rpc: TrytonRpc;
  private readonly http: HttpClient;
  private readonly overlapMs: number;
  private readonly pageSize: number;
  private readonly complaintTypes = new Map<string, number>();

  constructor(
    readonly config: TrytonConfig,
    secrets: Readonly<Record<string, string>>,
    deps: ConnectorDeps,
  ) {
    const issues = schemaIssues(TrytonConfigSchema, config, ': ');
    if (typeof secrets.password !== 'string') issues.push('secret password: missing');
    if (issues.length > 0) throw new ConnectorConfigInvalidError('tryton', issues);
    this.overlapMs = config.overlapMs ?? 120_000;
    this.pageSize = config.pageSize ?? 100;
    this.http = new HttpClient({
      system: 'tryton',
      baseUrl: config.url,
      timeoutMs: config.timeoutMs ?? 15_000,
      rateBudget:
        deps.rateBudget ??
        new TokenBucketRateBudget({
          ratePerSecond: config.ratePerSecond ?? TRYTON_RATE_DEFAULTS.ratePerSecond,
          maxInFlight: config.maxInFlight ?? TRYTON_RATE_DEFAULTS.maxInFlight,
        }),
      logger: deps.logger,
      ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
    });
    this.rpc = new TrytonRpc({
      http: this.http,
      user: config.user,
      password: secrets.password ?? '',
      ...(config.language === undefined ? {} : { language: config.language }),
    });
  }

  describe(): ConnectorDescription {
    return DESCRIPTION;
  }

  async check(): Promise<CheckResult> {
    const items: CheckItem[] = [];
    const details: Record<string, JsonValue> = {};
    const fail = (name: string, error: unknown, hint: string): CheckResult => {
      const why = error instanceof Error ? error.message : String(error);
      items.push({ name, ok: false, message: `${why}. ${hint}` });
      return { ok: false, items, details };
    };
    try {
      details.version = await this.rpc.serverVersion();
      items.push({
        name: 'reachable',
        ok: true,
        message: `Tryton ${details.version} answers at ${this.config.url}`,
      });
    } catch (error) {
      return fail(
        'reachable',
        error,
        `Check that Tryton runs and that url (${this.config.url}) names its database`,
      );
    }
    try {
      details.userId = await this.rpc.userId();
      items.push({ name: 'login', ok: true, message: `logged in as ${this.config.user}` });
    } catch (error) {
      return fail('login', error, `Check the user (${this.config.user}) and the password secret`);
    }
    try {
      const context = await this.rpc.context();
      if (typeof context.company !== 'number') {
        return fail('company', 'the user has no current company', 'Set a company on the integration user');
      }
      details.company = context.company;
      items.push({ name: 'company', ok: true, message: `company ${context.company}` });
      const needed = ['sale', 'sale_complaint', 'stock', 'account_invoice'];
      const modules = await this.rpc.model<{ name: string }[]>(
        'ir.module',
        'search_read',
        [
          [
            ['name', 'in', needed],
            ['state', '=', 'activated'],
          ],
          0,
          null,
          null,
          ['name'],
        ],
        { idempotent: true },
      );
      const missing = needed.filter((n) => !modules.some((m) => m.name === n));
      if (missing.length > 0)
        return fail('modules', `modules not activated: ${missing.join(', ')}`, 'Activate them');
      items.push({ name: 'modules', ok: true, message: `activated: ${needed.join(', ')}` });
    } catch (error) {
      return fail(
        'rights',
        error,
        'Give the integration user read access to sales, stock, invoices and complaints',
      );
    }
    return { ok: true, items, details };
  }

  streams(): Promise<readonly StreamDescription[]> {
    return Promise.resolve(
      TRYTON_STREAMS.map((s) => ({
        name: s.name,
        entity: s.entity,
        key: 'id',
        cursorField: 'write_date',
        overlapMs: this.overlapMs,
        description: s.description,
      })),
    );
  }

  async read(request: ReadRequest): Promise<ReadResult<Record<string, unknown>>> {
    const spec = streamSpec(request.stream);
    if (!spec) throw new ConnectorUnknownStreamError('tryton', request.stream);
    const cursor =
      request.cursor === undefined && request.since !== undefined
        ? sinceCursor(request.since)
        : readCursor(request.stream, request.cursor);
    const limit = Math.max(1, request.limit ?? this.pageSize);
    const fields = [...new Set(['id', 'create_date', 'write_date', ...spec.fields])];
    const options = {
      idempotent: true,
      priority: request.priority ?? 'low',
      ...(request.signal ? { signal: request.signal } : {}),
    };
    const at = cursor.ts === null ? null : datetime(cursor.ts);
    const after = (field: string) =>
      at === null
        ? []
        : [
            [
              'OR',
              [[field, '>', at]],
              [
                [field, '=', at],
                ['id', '>', cursor.id],
              ],
            ],
          ];
    const [written, unwritten] = await Promise.all([
      this.rpc.model<Row[]>(
        spec.name,
        'search_read',
        [
          [...spec.domain, ['write_date', '!=', null], ...after('write_date')],
          0,
          limit + 1,
          [
            ['write_date', 'ASC'],
            ['id', 'ASC'],
          ],
          fields,
        ],
        options,
      ),
      this.rpc.model<Row[]>(
        spec.name,
        'search_read',
        [
          [...spec.domain, ['write_date', '=', null], ...after('create_date')],
          0,
          limit + 1,
          [
            ['create_date', 'ASC'],
            ['id', 'ASC'],
          ],
          fields,
        ],
        options,
      ),
    ]);
    const merged = [...written, ...unwritten].sort(byKey);
    const page = merged.slice(0, limit);
    if (spec.name === 'sale.complaint') await this.addComplaintActions(page, options);
    const hasMore = merged.length > limit;
    const last = page.at(-1);
    const high = maxStamp(cursor.high, last === undefined ? null : stampOf(last));
    const next: TrytonCursor =
      hasMore && last !== undefined
        ? { v: 1, ts: stampOf(last), id: last.id, high }
        : // Caught up: the next pass starts an overlap before the newest timestamp seen.
          { v: 1, ts: high === null ? null : shiftInstant(high, -this.overlapMs), id: 0, high };
    return {
      records: page.map((row) => toRecord(spec, row)),
      cursor: { ...next },
      hasMore,
    };
  }

  private async addComplaintActions(rows: Row[], options: { idempotent: boolean }): Promise<void> {
    const ids = rows.flatMap((r) => (Array.isArray(r.actions) ? (r.actions as number[]) : []));
    if (ids.length === 0) return;
    const actions = await this.rpc.model<
      { id: number; complaint: number; action: string; result: string | null }[]
    >('sale.complaint.action', 'read', [ids, ['complaint', 'action', 'result']], options);
    for (const row of rows) {
      row.actions_detail = actions
        .filter((a) => a.complaint === row.id)
        .map((a) => ({ id: a.id, action: a.action, result: a.result }));
    }
  }

  async write(command: Command): Promise<WriteOutcome> {
    const type = command.type;
    if (type === TRYTON_COMMANDS.complaintCreate) {
      if (!Value.Check(ComplaintCreateArgs, command.args))
        throw this.badArgs(type, ComplaintCreateArgs, command.args);
      return this.outcome(() => this.createComplaint(command.args as ComplaintCreate, command));
    }
    if (type === TRYTON_COMMANDS.saleNoteAdd) {
      if (!Value.Check(SaleNoteArgs, command.args)) throw this.badArgs(type, SaleNoteArgs, command.args);
      return this.outcome(() => this.addSaleNote(command.args as SaleNote, command));
    }
    throw new ConnectorUnknownCommandError('tryton', type);
  }

  async findEffect(command: Command): Promise<EffectLookup> {
    if (command.type === TRYTON_COMMANDS.complaintCreate) {
      const found = await this.findComplaint(command.idempotencyKey);
      const approve = (command.args as Partial<ComplaintCreate>).approve ?? true;
      // Found means the whole effect happened: a complaint still in draft is resumed by write().
      if (!found || (approve && !['approved', 'done'].includes(found.state))) return { found: false };
      return { found: true, effect: complaintEffect(found) };
    }
    if (command.type === TRYTON_COMMANDS.saleNoteAdd) {
      const note = await this.findNote((command.args as Partial<SaleNote>).sale, command.idempotencyKey);
      return note
        ? { found: true, effect: { externalId: String(note.id), result: { resource: note.resource } } }
        : { found: false };
    }
    throw new ConnectorUnknownCommandError('tryton', command.type);
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private badArgs(type: string, schema: TSchema, args: unknown): ConnectorUnknownCommandError {
    return new ConnectorUnknownCommandError(
      'tryton',
      type,
      `invalid args: ${schemaIssues(schema, args).join('; ')}`,
    );
  }

  /** Runs a command body and classifies its failure: ambiguous only when the effect is unknown. */
  private async outcome(
    run: () => Promise<{ effect: WriteOutcome & { status: 'applied' } }>,
  ): Promise<WriteOutcome> {
    try {
      return (await run()).effect;
    } catch (error) {
      if (error instanceof ConnectorError && error.ambiguous) return { status: 'ambiguous', error };
      if (error instanceof CrossdockError) return { status: 'not-applied', error };
      throw error;
    }
  }

  private async exists(model: string, id: number): Promise<boolean> {
    // SQLite Tryton does not enforce foreign keys: a dangling id is accepted and breaks reads later.
    const ids = await this.rpc.model<number[]>(model, 'search', [[['id', '=', id]], 0, 1, null], {
      idempotent: true,
    });
    return ids.length === 1;
  }

  private async complaintType(originModel: string): Promise<number> {
    const cached = this.complaintTypes.get(originModel);
    if (cached !== undefined) return cached;
    const ids = await this.rpc.model<number[]>(
      'sale.complaint.type',
      'search',
      [[['origin.model', '=', originModel]], 0, 1, [['id', 'ASC']]],
      { idempotent: true },
    );
    if (ids[0] === undefined) {
      throw new TrytonUserError(
        'MissingConfiguration',
        `no complaint type has origin ${originModel}`,
        'Create one in Tryton (Sales > Configuration > Complaint Types)',
      );
    }
    this.complaintTypes.set(originModel, ids[0]);
    return ids[0];
  }

  private async findComplaint(key: string): Promise<ComplaintRow | undefined> {
    const marker = `[${effectMarker(key)}]`;
    const rows = await this.rpc.model<ComplaintRow[]>(
      'sale.complaint',
      'search_read',
      [
        [['reference', 'like', `%${likeLiteral(marker)}`]],
        0,
        10,
        [['id', 'ASC']],
        ['number', 'state', 'reference', 'actions'],
      ],
      { idempotent: true },
    );
    const row = rows.find((r) => typeof r.reference === 'string' && r.reference.endsWith(marker));
    if (!row) return undefined;
    if (row.actions.length > 0) {
      row.actions_detail = await this.rpc.model<{ action: string; result: string | null }[]>(
        'sale.complaint.action',
        'read',
        [row.actions, ['action', 'result']],
        { idempotent: true },
      );
    }
    return row;
  }

  private async createComplaint(args: ComplaintCreate, command: Command) {
    let existing = await this.findComplaint(command.idempotencyKey);
    const approve = args.approve ?? true;
    const wasComplete = existing !== undefined && (!approve || ['approved', 'done'].includes(existing.state));
    if (existing === undefined) {
      if (!(await this.exists('party.party', args.customer))) {
        throw new TrytonUserError('MissingRecord', `party ${args.customer} does not exist`, '');
      }
      if (!(await this.exists(args.origin.model, args.origin.id))) {
        throw new TrytonUserError(
          'MissingRecord',
          `${args.origin.model} ${args.origin.id} does not exist`,
          '',
        );
      }
      const type = await this.complaintType(args.origin.model);
      const context = await this.rpc.context();
      const marker = `[${effectMarker(command.idempotencyKey)}]`;
      await this.rpc.model<number[]>('sale.complaint', 'create', [
        [
          {
            customer: args.customer,
            company: context.company,
            type,
            origin: `${args.origin.model},${args.origin.id}`,
            reference: args.reference ? `${args.reference} ${marker}` : marker,
            description: args.description ?? '',
            actions: [['create', [{ action: args.action }]]],
          },
        ],
      ]);
      existing = await this.findComplaint(command.idempotencyKey);
      if (!existing) throw new TrytonUserError('Lost', 'created complaint not found by its marker', '');
    }
    if (approve && existing.state === 'draft') {
      await this.rpc.model('sale.complaint', 'wait', [[existing.id]]);
      existing.state = 'waiting';
    }
    if (approve && existing.state === 'waiting') {
      await this.rpc.model('sale.complaint', 'approve', [[existing.id]]);
      existing = (await this.findComplaint(command.idempotencyKey)) ?? existing;
    }
    return {
      effect: { status: 'applied' as const, effect: complaintEffect(existing), replayed: wasComplete },
    };
  }

  private async findNote(sale: number | undefined, key: string): Promise<NoteRow | undefined> {
    const marker = `[${effectMarker(key)}]`;
    const domain: unknown[] = [['message', 'like', `%${likeLiteral(marker)}`]];
    if (sale !== undefined) domain.push(['resource', '=', `sale.sale,${sale}`]);
    const rows = await this.rpc.model<NoteRow[]>(
      'ir.note',
      'search_read',
      [domain, 0, 10, [['id', 'ASC']], ['message', 'resource']],
      { idempotent: true },
    );
    return rows.find((r) => typeof r.message === 'string' && r.message.endsWith(marker));
  }

  private async addSaleNote(args: SaleNote, command: Command) {
    const existing = await this.findNote(args.sale, command.idempotencyKey);
    if (existing) {
      return { effect: { status: 'applied' as const, effect: noteEffect(existing), replayed: true } };
    }
    if (!(await this.exists('sale.sale', args.sale))) {
      throw new TrytonUserError('MissingRecord', `sale ${args.sale} does not exist`, '');
    }
    const marker = `[${effectMarker(command.idempotencyKey)}]`;
    const [id] = await this.rpc.model<number[]>('ir.note', 'create', [
      [{ resource: `sale.sale,${args.sale}`, message: `${args.text}\n\n${marker}` }],
    ]);
    return {
      effect: {
        status: 'applied' as const,
        effect: noteEffect({ id: id!, resource: `sale.sale,${args.sale}`, message: '' }),
        replayed: false,
      },
    };
  }
}

interface ComplaintRow {
  id: number;
  number: string | null;
  state: string;
  reference: string | null;
  actions: number[];
  actions_detail?: { action: string; result: string | null }[];
}

interface NoteRow {
  id: number;
  resource: string;
  message: string;
}

function complaintEffect(row: ComplaintRow) {
  return {
    externalId: String(row.id),
    stream: 'sale.complaint',
    result: {
      number: row.number,
      state: row.state,
      actions: (row.actions_detail ?? []).map((a) => ({ action: a.action, result: a.result })),
    },
  };
}

function noteEffect(row: NoteRow) {
  return { externalId: String(row.id), result: { resource: row.resource } };
}

function toRecord(spec: TrytonStreamSpec, row: Row): SourceRecord<Record<string, unknown>> {
  const stamp = stampOf(row);
  // Tryton joins `origins` from a Python set: their order changes between server processes, and the
  // same version read twice must be the same payload. Sorted, the first named is stable too.
  const payload =
    typeof row.origins === 'string' ? { ...row, origins: row.origins.split(', ').sort().join(', ') } : row;
  return { stream: spec.name, externalId: String(row.id), updatedAt: stamp, payload };
}

export const trytonConnectorFactory: ConnectorFactory<TrytonConfig, Record<string, unknown>> = {
  describe: () => DESCRIPTION,
  create: (config, secrets, deps) => new TrytonConnector(config, secrets, deps),
};
