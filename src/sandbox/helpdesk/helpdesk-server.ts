// The sandbox helpdesk over HTTP, in the style of a SaaS helpdesk's v2 REST API: numeric case ids,
// `Authorization: Bearer` keys, a per-key rate limit answered with 429 and `Retry-After`, search
// by custom field, text and updated-since, and no idempotency keys (an `Idempotency-Key` header is
// ignored, as real helpdesks do). Endpoints are documented in docs/sandbox.md.
import { Type, type Static } from '@sinclair/typebox';
import { SandboxClock } from '../clock.ts';
import type { FaultConfig } from '../faults.ts';
import { pageBody, parsePageQuery, type PagingQuerystring } from '../paging.ts';
import { SandboxHttpError, SandboxServer } from '../sandbox-server.ts';
import { WebhookDispatcher, type WebhookSubscriptionSpec } from '../webhook-dispatcher.ts';
import { DEFAULT_CUSTOM_FIELDS, HelpdeskState } from './helpdesk-state.ts';
import { CASE_PRIORITIES, CASE_STATUSES, type Case, type CustomFieldDefinition } from './helpdesk-types.ts';

export interface HelpdeskRateLimit {
  /** Sustained requests per second per API key (default 50). */
  readonly perSecond: number;
  /** Requests allowed in a burst above the sustained rate (default 100). */
  readonly burst: number;
}

export interface HelpdeskServerOptions {
  /** Key expected in `Authorization: Bearer <key>` (default `sandbox-helpdesk-key`). */
  readonly apiKey?: string;
  readonly faults?: FaultConfig;
  /** Seed of fault decisions (default 1). */
  readonly seed?: number;
  readonly clock?: SandboxClock;
  /** The helpdesk's own rate limit (default 50/s, burst 100); `false` turns it off. */
  readonly rateLimit?: HelpdeskRateLimit | false;
  /** Custom fields defined at start (default: erp_order, erp_order_status, ... see docs). */
  readonly customFields?: readonly CustomFieldDefinition[];
  readonly webhooks?: readonly WebhookSubscriptionSpec[];
  readonly webhookRetryDelaysMs?: readonly number[];
}

const FieldValue = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);
const NewCase = Type.Object({
  subject: Type.String({ minLength: 1 }),
  description: Type.String(),
  requester: Type.Object({ name: Type.String(), email: Type.String({ minLength: 3 }) }),
  priority: Type.Optional(Type.Union(CASE_PRIORITIES.map((p) => Type.Literal(p)))),
  tags: Type.Optional(Type.Array(Type.String())),
  custom_fields: Type.Optional(Type.Record(Type.String(), FieldValue)),
});
const CaseChange = Type.Object({
  subject: Type.Optional(Type.String({ minLength: 1 })),
  status: Type.Optional(Type.Union(CASE_STATUSES.map((s) => Type.Literal(s)))),
  priority: Type.Optional(Type.Union(CASE_PRIORITIES.map((p) => Type.Literal(p)))),
  tags: Type.Optional(Type.Array(Type.String())),
  assignee: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  custom_fields: Type.Optional(Type.Record(Type.String(), FieldValue)),
});
const NewComment = Type.Object({
  body: Type.String({ minLength: 1 }),
  public: Type.Optional(Type.Boolean()),
  author: Type.Optional(Type.String()),
});
const NewField = Type.Object({
  key: Type.String({ minLength: 1 }),
  type: Type.Union([
    Type.Literal('text'),
    Type.Literal('number'),
    Type.Literal('checkbox'),
    Type.Literal('dropdown'),
  ]),
  title: Type.String(),
  options: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
});
const Subscription = Type.Object({
  url: Type.String({ minLength: 1 }),
  secret: Type.Optional(Type.String({ pattern: '^whsec_' })),
  events: Type.Optional(Type.Array(Type.String())),
});

interface IdParams {
  id: string;
}

function caseId(raw: string): number {
  const id = Number(raw);
  if (!Number.isInteger(id)) throw new SandboxHttpError(404, 'NOT_FOUND', `case ${raw} not found`);
  return id;
}

/** Token bucket per API key; `take` answers how long to wait when empty. */
class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly limit: HelpdeskRateLimit) {}

  take(key: string): { ok: boolean; remaining: number; retryAfterSeconds: number } {
    const now = Date.now();
    const b = this.buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, remaining: Math.floor(b.tokens), retryAfterSeconds: 0 };
    }
    return {
      ok: false,
      remaining: 0,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / this.limit.perSecond)),
    };
  }
}

export class SandboxHelpdesk {
  readonly clock: SandboxClock;
  readonly state: HelpdeskState;
  readonly webhooks: WebhookDispatcher;
  readonly server: SandboxServer;
  readonly apiKey: string;

  constructor(options: HelpdeskServerOptions = {}) {
    this.apiKey = options.apiKey ?? 'sandbox-helpdesk-key';
    this.clock = options.clock ?? new SandboxClock();
    this.server = new SandboxServer({
      name: 'helpdesk',
      auth: { header: 'authorization', scheme: 'Bearer', apiKey: this.apiKey },
      clock: this.clock,
      ...(options.faults === undefined ? {} : { faults: options.faults }),
      seed: options.seed ?? 1,
      renderError: (status, code, message) => ({ errors: [{ status, code, title: message }] }),
      describe: () => ({
        cases: this.state.cases.size,
        comments: this.state.comments.size,
        audit: this.state.audit().length,
      }),
    });
    const dispatcher = new WebhookDispatcher({
      source: 'helpdesk',
      faults: this.server.faults,
      ...(options.webhookRetryDelaysMs === undefined ? {} : { retryDelaysMs: options.webhookRetryDelaysMs }),
    });
    this.webhooks = dispatcher;
    this.server.webhooks = dispatcher;
    this.state = new HelpdeskState(
      this.clock,
      (kind, record, change) => {
        if (kind === 'comment' && change !== 'created') return;
        this.webhooks.emit(`${kind}.${change}`, {
          object: kind,
          id: record.id,
          version: record.version,
          updated_at: record.updated_at,
          record,
        });
      },
      options.customFields ?? DEFAULT_CUSTOM_FIELDS,
    );
    for (const spec of options.webhooks ?? []) this.webhooks.subscribe(spec);
    if (options.rateLimit !== false)
      this.installRateLimit(options.rateLimit ?? { perSecond: 50, burst: 100 });
    this.routes();
  }

  get url(): string {
    return this.server.url;
  }

  get faults(): SandboxServer['faults'] {
    return this.server.faults;
  }

  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    return this.server.listen(port, host);
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  private installRateLimit(limit: HelpdeskRateLimit): void {
    const buckets = new TokenBuckets(limit);
    // Runs after the shell's auth hook, so only authenticated API calls count against a key.
    this.server.app.addHook('onRequest', async (request, reply) => {
      if (request.url.startsWith('/_sandbox/')) return;
      const verdict = buckets.take(String(request.headers.authorization));
      reply.header('ratelimit-limit', String(limit.burst));
      reply.header('ratelimit-remaining', String(verdict.remaining));
      if (!verdict.ok) {
        reply.header('retry-after', String(verdict.retryAfterSeconds));
        return reply.code(429).send({
          errors: [
            { status: 429, code: 'RATE_LIMITED', title: `rate limit of ${limit.perSecond}/s exceeded` },
          ],
        });
      }
    });
  }

  private routes(): void {
    const app = this.server.app;
    const state = this.state;

    app.get<{ Querystring: PagingQuerystring & Record<string, string | undefined> }>(
      '/api/v2/cases',
      (request) => {
        const query = request.query;
        const fieldFilters: [string, string][] = [];
        for (const [key, value] of Object.entries(query)) {
          const m = /^custom_fields\[([a-z0-9_]+)\]$/.exec(key);
          if (m !== null && value !== undefined) fieldFilters.push([m[1] as string, value]);
        }
        const status = query.status;
        const text = query.q;
        const filter = (c: Case) =>
          (status === undefined || c.status === status) &&
          (text === undefined || c.subject.includes(text) || c.description.includes(text)) &&
          fieldFilters.every(
            ([k, v]) => c.custom_fields[k] !== undefined && String(c.custom_fields[k]) === v,
          );
        return pageBody(state.cases.page(parsePageQuery(query, true), filter));
      },
    );
    app.get<{ Params: IdParams }>('/api/v2/cases/:id', (request) => state.getCase(caseId(request.params.id)));
    app.post<{ Body: Static<typeof NewCase> }>(
      '/api/v2/cases',
      { schema: { body: NewCase } },
      (request, reply) => {
        reply.code(201);
        return state.createCase(request.body);
      },
    );
    app.patch<{ Params: IdParams; Body: Static<typeof CaseChange> }>(
      '/api/v2/cases/:id',
      { schema: { body: CaseChange } },
      (request) => state.updateCase(caseId(request.params.id), request.body),
    );
    app.get<{ Params: IdParams }>('/api/v2/cases/:id/comments', (request) => ({
      data: state.commentsOf(caseId(request.params.id)),
    }));
    app.post<{ Params: IdParams; Body: Static<typeof NewComment> }>(
      '/api/v2/cases/:id/comments',
      { schema: { body: NewComment } },
      (request, reply) => {
        reply.code(201);
        return state.addComment(caseId(request.params.id), request.body);
      },
    );
    app.get<{ Querystring: { q?: string; case_id?: string } }>('/api/v2/search/comments', (request) => {
      const q = request.query.q;
      if (q === undefined || q === '') throw new SandboxHttpError(400, 'INVALID_PARAMETER', 'q is required');
      const data = state.searchComments(
        q,
        request.query.case_id === undefined ? undefined : caseId(request.query.case_id),
      );
      return { data, count: data.length };
    });
    app.get<{ Querystring: PagingQuerystring & { case_id?: string } }>('/api/v2/comments', (request) => {
      const id = request.query.case_id === undefined ? undefined : caseId(request.query.case_id);
      return pageBody(
        state.comments.page(
          parsePageQuery(request.query, true),
          id === undefined ? undefined : (c) => c.case_id === id,
        ),
      );
    });
    app.get('/api/v2/custom-fields', () => ({ data: state.customFields() }));
    app.post<{ Body: Static<typeof NewField> }>(
      '/api/v2/custom-fields',
      { schema: { body: NewField } },
      (request, reply) => {
        reply.code(201);
        return state.defineCustomField({ ...request.body, options: request.body.options ?? null });
      },
    );
    app.get('/api/v2/webhooks', () => ({ data: this.webhooks.subscriptions() }));
    app.post<{ Body: Static<typeof Subscription> }>(
      '/api/v2/webhooks',
      { schema: { body: Subscription } },
      (request, reply) => {
        reply.code(201);
        return this.webhooks.subscribe(request.body);
      },
    );
    app.get('/_sandbox/audit', () => ({ data: state.audit() }));
  }
}

/** Creates the sandbox helpdesk and starts it on `port` (0 picks a free port). */
export async function startHelpdesk(
  options: HelpdeskServerOptions & { port?: number } = {},
): Promise<SandboxHelpdesk> {
  const helpdesk = new SandboxHelpdesk(options);
  await helpdesk.listen(options.port ?? 0);
  return helpdesk;
}
