// Connector for the sandbox helpdesk (src/sandbox/helpdesk): captures cases and comments by polling
// their "changed since" lists or from Standard Webhooks, and writes comments, new cases and case
// field updates. The helpdesk has no idempotency keys, like real ones: comments and cases carry a
// marker (`[crossdock:<key>]`) that `findEffect` searches for before anything is sent again; field
// updates set values, so repeating one is harmless.
import { Type, type Static } from '@sinclair/typebox';
import {
  effectMarker,
  type CheckItem,
  type CheckResult,
  type Command,
  type Connector,
  type ConnectorDeps,
  type ConnectorDescription,
  type ConnectorFactory,
  type EffectLookup,
  type ReadRequest,
  type ReadResult,
  type StreamDescription,
  type WebhookHandler,
  type WriteOutcome,
} from '../connector.ts';
import {
  ConnectorConfigInvalidError,
  ConnectorError,
  ConnectorUnknownCommandError,
  assertCommandArgs,
  schemaIssues,
} from '../errors.ts';
import { CrossdockError } from '../../errors/index.ts';
import { HttpClient, TokenBucketRateBudget } from '../http/index.ts';
import { readUpdatedSincePage, sandboxWebhookHandler, updatedSinceStreams } from '../sandbox-erp/index.ts';

const SYSTEM = 'sandbox-helpdesk';

export const SandboxHelpdeskConfigSchema = Type.Object(
  {
    url: Type.String({ description: 'Base URL of the sandbox helpdesk, e.g. `http://127.0.0.1:7402`.' }),
    pageSize: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, description: 'Records per read (default 100).' }),
    ),
    overlapMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          'How far before the newest seen timestamp a caught-up read restarts, in ms (default 2000; the helpdesk stamps to the second).',
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Per-request timeout in ms (default 10000).' }),
    ),
    ratePerSecond: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description: 'Requests per second (default 20, under the helpdesk limit of 50).',
      }),
    ),
    maxInFlight: Type.Optional(Type.Integer({ minimum: 1, description: 'Concurrent requests (default 4).' })),
  },
  { additionalProperties: false },
);
export type SandboxHelpdeskConfig = Static<typeof SandboxHelpdeskConfigSchema>;

const FieldValues = Type.Record(
  Type.String(),
  Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]),
);

export const CaseCommentArgs = Type.Object(
  {
    case_id: Type.Integer({ minimum: 1 }),
    body: Type.String({ minLength: 1 }),
    public: Type.Optional(
      Type.Boolean({ description: 'Visible to the requester (default false: internal note).' }),
    ),
  },
  { additionalProperties: false },
);
export type CaseComment = Static<typeof CaseCommentArgs>;

export const CaseCreateArgs = Type.Object(
  {
    subject: Type.String({ minLength: 1 }),
    description: Type.String(),
    requester: Type.Object({ name: Type.String(), email: Type.String({ minLength: 3 }) }),
    priority: Type.Optional(
      Type.Union([Type.Literal('low'), Type.Literal('normal'), Type.Literal('high'), Type.Literal('urgent')]),
    ),
    tags: Type.Optional(Type.Array(Type.String())),
    custom_fields: Type.Optional(FieldValues),
  },
  { additionalProperties: false },
);
export type CaseCreate = Static<typeof CaseCreateArgs>;

export const CaseUpdateArgs = Type.Object(
  {
    case_id: Type.Integer({ minimum: 1 }),
    status: Type.Optional(
      Type.Union(['new', 'open', 'pending', 'on_hold', 'solved', 'closed'].map((s) => Type.Literal(s))),
    ),
    priority: Type.Optional(
      Type.Union([Type.Literal('low'), Type.Literal('normal'), Type.Literal('high'), Type.Literal('urgent')]),
    ),
    custom_fields: Type.Optional(FieldValues),
  },
  { additionalProperties: false },
);
export type CaseUpdate = Static<typeof CaseUpdateArgs>;

export const SANDBOX_HELPDESK_COMMANDS = {
  caseComment: 'case.comment',
  caseCreate: 'case.create',
  caseUpdate: 'case.update',
} as const;

const DESCRIPTION: ConnectorDescription = {
  system: SYSTEM,
  kind: 'helpdesk',
  displayName: 'Sandbox helpdesk (REST v2, Bearer key)',
  configSchema: SandboxHelpdeskConfigSchema,
  secrets: [
    { name: 'apiKey', description: 'The key sent as `Authorization: Bearer <key>`.' },
    {
      name: 'webhookSecret',
      description: 'whsec_ secret of the webhook subscription (needed to accept webhooks).',
      required: false,
    },
  ],
  commands: [
    {
      type: SANDBOX_HELPDESK_COMMANDS.caseComment,
      description:
        'Adds a comment (internal unless `public`) to a case; the body ends with the marker `[crossdock:<key>]`.',
      argsSchema: CaseCommentArgs,
      idempotency: 'marker',
    },
    {
      type: SANDBOX_HELPDESK_COMMANDS.caseCreate,
      description: 'Opens a case; the description ends with the marker `[crossdock:<key>]`.',
      argsSchema: CaseCreateArgs,
      idempotency: 'marker',
    },
    {
      type: SANDBOX_HELPDESK_COMMANDS.caseUpdate,
      description:
        'Sets status, priority and custom fields of a case (e.g. erp_order_status); `null` clears a field. Setting values twice is the same as once.',
      argsSchema: CaseUpdateArgs,
      idempotency: 'natural',
    },
  ],
  webhooks: true,
};

type HelpdeskRecord = Record<string, unknown> & { id: number; updated_at: string };
interface CaseRow extends HelpdeskRecord {
  status: string;
  priority: string;
  description: string;
  custom_fields: Record<string, string | number | boolean>;
}
interface CommentRow extends HelpdeskRecord {
  case_id: number;
  body: string;
}

const STREAMS = [
  { name: 'case', entity: 'case', path: '/api/v2/cases', object: 'case' },
  { name: 'comment', entity: 'case_comment', path: '/api/v2/comments', object: 'comment' },
] as const;

const markerOf = (key: string) => `[${effectMarker(key)}]`;

/** Requests per second and in flight when the configuration does not say. */
export const SANDBOX_HELPDESK_RATE_DEFAULTS = { ratePerSecond: 20, maxInFlight: 4 } as const;

export class SandboxHelpdeskConnector implements Connector<HelpdeskRecord> {
  readonly webhooks: WebhookHandler<HelpdeskRecord>;
  private readonly http: HttpClient;
  private readonly pageSize: number;
  private readonly overlapMs: number;

  constructor(
    readonly config: SandboxHelpdeskConfig,
    secrets: Readonly<Record<string, string>>,
    deps: ConnectorDeps,
  ) {
    const issues = schemaIssues(SandboxHelpdeskConfigSchema, config, ': ');
    if (typeof secrets.apiKey !== 'string' || secrets.apiKey === '') issues.push('secret apiKey: missing');
    if (issues.length > 0) throw new ConnectorConfigInvalidError(SYSTEM, issues);
    this.pageSize = config.pageSize ?? 100;
    this.overlapMs = config.overlapMs ?? 2000;
    this.http = new HttpClient({
      system: SYSTEM,
      baseUrl: config.url,
      timeoutMs: config.timeoutMs ?? 10_000,
      headers: { authorization: `Bearer ${secrets.apiKey ?? ''}` },
      rateBudget:
        deps.rateBudget ??
        new TokenBucketRateBudget({
          ratePerSecond: config.ratePerSecond ?? SANDBOX_HELPDESK_RATE_DEFAULTS.ratePerSecond,
          maxInFlight: config.maxInFlight ?? SANDBOX_HELPDESK_RATE_DEFAULTS.maxInFlight,
        }),
      logger: deps.logger,
      ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
    });
    this.webhooks = sandboxWebhookHandler<HelpdeskRecord>(
      SYSTEM,
      secrets.webhookSecret,
      (object) => STREAMS.find((s) => s.object === object)?.name,
    );
  }

  describe(): ConnectorDescription {
    return DESCRIPTION;
  }

  async check(options: { readonly signal?: AbortSignal } = {}): Promise<CheckResult> {
    const items: CheckItem[] = [];
    try {
      const fields = await this.http.request({
        method: 'GET',
        path: '/api/v2/custom-fields',
        maxAttempts: 1,
        accept: [401],
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      items.push({ name: 'reachable', ok: true, message: `the helpdesk answers at ${this.config.url}` });
      if (fields.status === 401) {
        items.push({
          name: 'api-key',
          ok: false,
          message: 'the helpdesk refused the API key: check the apiKey secret',
        });
        return { ok: false, items, details: {} };
      }
      items.push({ name: 'api-key', ok: true, message: 'the API key is accepted' });
      const defined = fields.json<{ data: { key: string }[] }>().data.map((f) => f.key);
      const needed = ['erp_order', 'erp_order_status'];
      const missing = needed.filter((k) => !defined.includes(k));
      items.push(
        missing.length === 0
          ? { name: 'custom-fields', ok: true, message: `defined: ${needed.join(', ')}` }
          : {
              name: 'custom-fields',
              ok: false,
              message: `define the custom fields ${missing.join(', ')} in the helpdesk`,
            },
      );
      return { ok: missing.length === 0, items, details: { customFields: defined } };
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      items.push({
        name: 'reachable',
        ok: false,
        message: `${why}. Check that the helpdesk runs at ${this.config.url}`,
      });
      return { ok: false, items, details: {} };
    }
  }

  streams(): Promise<readonly StreamDescription[]> {
    return Promise.resolve(updatedSinceStreams(STREAMS, this.overlapMs));
  }

  read(request: ReadRequest): Promise<ReadResult<HelpdeskRecord>> {
    return readUpdatedSincePage<HelpdeskRecord>(this.http, SYSTEM, STREAMS, request, {
      pageSize: this.pageSize,
      overlapMs: this.overlapMs,
    });
  }

  async write(command: Command): Promise<WriteOutcome> {
    const check = (schema: typeof CaseCommentArgs | typeof CaseCreateArgs | typeof CaseUpdateArgs) =>
      assertCommandArgs(SYSTEM, command.type, schema, command.args);
    switch (command.type) {
      case SANDBOX_HELPDESK_COMMANDS.caseComment:
        check(CaseCommentArgs);
        return this.outcome(() => this.addComment(command.args as CaseComment, command));
      case SANDBOX_HELPDESK_COMMANDS.caseCreate:
        check(CaseCreateArgs);
        return this.outcome(() => this.createCase(command.args as CaseCreate, command));
      case SANDBOX_HELPDESK_COMMANDS.caseUpdate:
        check(CaseUpdateArgs);
        return this.outcome(() => this.updateCase(command.args as CaseUpdate, command));
      default:
        throw new ConnectorUnknownCommandError(SYSTEM, command.type);
    }
  }

  async findEffect(command: Command): Promise<EffectLookup> {
    if (command.type === SANDBOX_HELPDESK_COMMANDS.caseComment) {
      const found = await this.findComment(
        (command.args as Partial<CaseComment>).case_id,
        command.idempotencyKey,
        command.signal,
      );
      return found === undefined ? { found: false } : { found: true, effect: commentEffect(found) };
    }
    if (command.type === SANDBOX_HELPDESK_COMMANDS.caseCreate) {
      const found = await this.findCase(command.idempotencyKey, command.signal);
      return found === undefined ? { found: false } : { found: true, effect: caseEffect(found) };
    }
    if (command.type === SANDBOX_HELPDESK_COMMANDS.caseUpdate) {
      // A field update has no marker; it happened if the case now holds the values.
      const args = command.args as CaseUpdate;
      const current = await this.getCase(args.case_id, command.signal);
      return current !== undefined && holds(current, args)
        ? { found: true, effect: caseEffect(current) }
        : { found: false };
    }
    throw new ConnectorUnknownCommandError(SYSTEM, command.type);
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  /** Runs a command body and classifies its failure: ambiguous only when the effect is unknown. */
  private async outcome(run: () => Promise<WriteOutcome>): Promise<WriteOutcome> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof ConnectorError && error.ambiguous) return { status: 'ambiguous', error };
      if (error instanceof CrossdockError) return { status: 'not-applied', error };
      throw error;
    }
  }

  private async findComment(
    caseId: number | undefined,
    key: string,
    signal?: AbortSignal,
  ): Promise<CommentRow | undefined> {
    const marker = markerOf(key);
    const response = await this.http.request({
      method: 'GET',
      path: '/api/v2/search/comments',
      query: { q: marker, case_id: caseId },
      operation: 'GET /api/v2/search/comments',
      ...(signal === undefined ? {} : { signal }),
    });
    return response.json<{ data: CommentRow[] }>().data.find((c) => c.body.endsWith(marker));
  }

  private async findCase(key: string, signal?: AbortSignal): Promise<CaseRow | undefined> {
    const marker = markerOf(key);
    const response = await this.http.request({
      method: 'GET',
      path: '/api/v2/cases',
      query: { q: marker },
      operation: 'GET /api/v2/cases?q',
      ...(signal === undefined ? {} : { signal }),
    });
    return response.json<{ data: CaseRow[] }>().data.find((c) => c.description.endsWith(marker));
  }

  private async getCase(id: number, signal?: AbortSignal): Promise<CaseRow | undefined> {
    const response = await this.http.request({
      method: 'GET',
      path: `/api/v2/cases/${id}`,
      accept: [404],
      operation: 'GET /api/v2/cases/:id',
      ...(signal === undefined ? {} : { signal }),
    });
    return response.status === 404 ? undefined : response.json<CaseRow>();
  }

  private async addComment(args: CaseComment, command: Command): Promise<WriteOutcome> {
    // No idempotency keys here: look for the marker first, so a repeat never posts twice.
    const existing = await this.findComment(args.case_id, command.idempotencyKey, command.signal);
    if (existing !== undefined) return { status: 'applied', effect: commentEffect(existing), replayed: true };
    const response = await this.http.request({
      method: 'POST',
      path: `/api/v2/cases/${args.case_id}/comments`,
      json: {
        body: `${args.body}\n\n${markerOf(command.idempotencyKey)}`,
        public: args.public ?? false,
        author: 'crossdock',
      },
      operation: 'POST /api/v2/cases/:id/comments',
      ...(command.signal === undefined ? {} : { signal: command.signal }),
    });
    return { status: 'applied', effect: commentEffect(response.json<CommentRow>()), replayed: false };
  }

  private async createCase(args: CaseCreate, command: Command): Promise<WriteOutcome> {
    const existing = await this.findCase(command.idempotencyKey, command.signal);
    if (existing !== undefined) return { status: 'applied', effect: caseEffect(existing), replayed: true };
    const response = await this.http.request({
      method: 'POST',
      path: '/api/v2/cases',
      json: { ...args, description: `${args.description}\n\n${markerOf(command.idempotencyKey)}` },
      operation: 'POST /api/v2/cases',
      ...(command.signal === undefined ? {} : { signal: command.signal }),
    });
    return { status: 'applied', effect: caseEffect(response.json<CaseRow>()), replayed: false };
  }

  private async updateCase(args: CaseUpdate, command: Command): Promise<WriteOutcome> {
    const current = await this.getCase(args.case_id, command.signal);
    if (current !== undefined && holds(current, args)) {
      return { status: 'applied', effect: caseEffect(current), replayed: true };
    }
    const { case_id: id, ...change } = args;
    const response = await this.http.request({
      method: 'PATCH',
      path: `/api/v2/cases/${id}`,
      json: change,
      // Setting the same values again changes nothing, so a lost answer may be resent.
      idempotent: true,
      operation: 'PATCH /api/v2/cases/:id',
      ...(command.signal === undefined ? {} : { signal: command.signal }),
    });
    return { status: 'applied', effect: caseEffect(response.json<CaseRow>()), replayed: false };
  }
}

/** Whether the case already has every value the update sets. */
function holds(current: CaseRow, args: CaseUpdate): boolean {
  if (args.status !== undefined && current.status !== args.status) return false;
  if (args.priority !== undefined && current.priority !== args.priority) return false;
  for (const [key, value] of Object.entries(args.custom_fields ?? {})) {
    if ((current.custom_fields[key] ?? null) !== value) return false;
  }
  return true;
}

function commentEffect(row: CommentRow) {
  return { externalId: String(row.id), stream: 'comment', result: { case_id: row.case_id } };
}

function caseEffect(row: CaseRow) {
  return {
    externalId: String(row.id),
    stream: 'case',
    result: { status: row.status, version: row.version as number },
  };
}

export const sandboxHelpdeskConnectorFactory: ConnectorFactory<SandboxHelpdeskConfig, HelpdeskRecord> = {
  describe: () => DESCRIPTION,
  create: (config, secrets, deps) => new SandboxHelpdeskConnector(config, secrets, deps),
};
