// Admin HTTP routes of the event log under `/v1/admin/events`: tail, consumers (replay, pause,
// resume), dead letters (list, show, redrive, skip) and outbound webhook endpoints. Reads need
// `events:read`, actions `events:write`. The app's auth hook enforces scopes and sets
// `request.principal`; answers are limited to the principal's tenants, and actions on a consumer
// (which spans tenants) need a principal for all tenants.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { ForbiddenError } from '../errors/index.ts';
import { toCloudEvent } from './envelope.ts';
import { EVENT_TYPE_NAMES } from './event-types.ts';
import type { EventsAdmin, TenantScope } from './events-admin.ts';
import type { WebhookService } from './webhooks.ts';

export interface EventsAdminRoutesOptions {
  readonly admin: EventsAdmin;
  /** Outbound webhook endpoints (routes omitted when absent). */
  readonly webhooks?: WebhookService;
}

interface RequestPrincipal {
  readonly keyId?: string;
  readonly tenants?: TenantScope;
}

function principalOf(request: FastifyRequest): RequestPrincipal {
  // Declared by the app's auth hook (src/api), which this part does not import.
  return (request as FastifyRequest & { principal?: RequestPrincipal }).principal ?? {};
}

function scopeOf(request: FastifyRequest): TenantScope {
  return principalOf(request).tenants ?? [];
}

function actor(request: FastifyRequest): string {
  return principalOf(request).keyId ?? 'unknown';
}

function requireAllTenants(request: FastifyRequest, what: string): void {
  if (scopeOf(request) !== '*')
    throw new ForbiddenError(`${what} spans all tenants and needs a key for tenants '*'`);
}

function requireTenant(request: FastifyRequest, tenant: string): void {
  const scope = scopeOf(request);
  if (scope !== '*' && !scope.includes(tenant)) {
    throw new ForbiddenError(`this key may not act for tenant ${tenant}`, { tenant });
  }
}

const EventTypeName = Type.Union(EVENT_TYPE_NAMES.map((t) => Type.Literal(t)));

const TailQuery = Type.Object({
  after: Type.Optional(
    Type.Integer({ minimum: 0, description: 'return events after this position (default 0)' }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  type: Type.Optional(Type.Array(EventTypeName)),
  tenant: Type.Optional(Type.String({ minLength: 1 })),
  entityKind: Type.Optional(Type.String({ minLength: 1 })),
  entityId: Type.Optional(Type.String({ minLength: 1 })),
});
type TailQuery = Static<typeof TailQuery>;

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) });
type NameParams = Static<typeof NameParams>;
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
type IdParams = Static<typeof IdParams>;

const ReplayBody = Type.Object(
  {
    fromPosition: Type.Optional(Type.Integer({ minimum: 0 })),
    fromTime: Type.Optional(Type.String({ format: 'date-time' })),
    types: Type.Optional(Type.Array(EventTypeName)),
    entity: Type.Optional(
      Type.Object({
        kind: Type.String({ minLength: 1 }),
        id: Type.String({ minLength: 1 }),
        tenantId: Type.Optional(Type.String({ minLength: 1 })),
      }),
    ),
  },
  { additionalProperties: false },
);
type ReplayBody = Static<typeof ReplayBody>;

const DlqQuery = Type.Object({
  consumer: Type.Optional(Type.String({ minLength: 1 })),
  status: Type.Optional(
    Type.Union([Type.Literal('open'), Type.Literal('redriven'), Type.Literal('skipped')]),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
type DlqQuery = Static<typeof DlqQuery>;

const CreateWebhookBody = Type.Object(
  {
    tenantId: Type.String({ minLength: 1 }),
    url: Type.String({ minLength: 1, maxLength: 2000 }),
    secret: Type.Optional(Type.String({ pattern: '^whsec_' })),
    types: Type.Optional(Type.Array(EventTypeName)),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
type CreateWebhookBody = Static<typeof CreateWebhookBody>;

const PatchWebhookBody = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
    types: Type.Optional(Type.Array(EventTypeName)),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('paused')])),
  },
  { additionalProperties: false },
);
type PatchWebhookBody = Static<typeof PatchWebhookBody>;

export const eventsAdminRoutes: FastifyPluginAsync<EventsAdminRoutesOptions> = async (app, options) => {
  const { admin, webhooks } = options;
  const read = { scope: 'events:read' as const };
  const write = { scope: 'events:write' as const };
  const tags = ['events'];

  app.get<{ Querystring: TailQuery }>(
    '/v1/admin/events/tail',
    {
      config: read,
      schema: { tags, summary: 'Events after a position, oldest first', querystring: TailQuery },
    },
    async (request) => {
      const q = request.query;
      const scope = scopeOf(request);
      if (q.tenant !== undefined) requireTenant(request, q.tenant);
      const events = await admin.tail(
        q.after ?? 0,
        q.limit ?? 100,
        q.tenant === undefined ? scope : [q.tenant],
        {
          ...(q.type === undefined ? {} : { types: q.type }),
          ...(q.entityKind !== undefined && q.entityId !== undefined
            ? { entity: { kind: q.entityKind, id: q.entityId } }
            : {}),
        },
      );
      const last = events.at(-1)?.position ?? q.after ?? 0;
      return { events: events.map(toCloudEvent), next: last };
    },
  );

  app.get(
    '/v1/admin/events/consumers',
    { config: read, schema: { tags, summary: 'Consumers with position, lag, held events and dead letters' } },
    async () => ({ consumers: await admin.consumers() }),
  );

  app.post<{ Params: NameParams; Body: ReplayBody }>(
    '/v1/admin/events/consumers/:name/replay',
    {
      config: write,
      schema: { tags, summary: 'Re-deliver events to one consumer', params: NameParams, body: ReplayBody },
    },
    async (request, reply) => {
      requireAllTenants(request, 'a replay');
      const started = await admin.replay(request.params.name, request.body);
      return reply.code(202).send(started);
    },
  );

  app.post<{ Params: NameParams }>(
    '/v1/admin/events/consumers/:name/pause',
    { config: write, schema: { tags, summary: 'Pause a consumer', params: NameParams } },
    async (request) => {
      requireAllTenants(request, 'pausing a consumer');
      await admin.pause(request.params.name, `paused by ${actor(request)}`);
      return { consumer: request.params.name, status: 'paused' };
    },
  );

  app.post<{ Params: NameParams }>(
    '/v1/admin/events/consumers/:name/resume',
    { config: write, schema: { tags, summary: 'Resume a paused consumer', params: NameParams } },
    async (request) => {
      requireAllTenants(request, 'resuming a consumer');
      await admin.resume(request.params.name);
      return { consumer: request.params.name, status: 'active' };
    },
  );

  app.get<{ Querystring: DlqQuery }>(
    '/v1/admin/events/dlq',
    { config: read, schema: { tags, summary: 'Dead letters', querystring: DlqQuery } },
    async (request) => ({ deadLetters: await admin.deadLetters(scopeOf(request), request.query) }),
  );

  app.get<{ Params: IdParams }>(
    '/v1/admin/events/dlq/:id',
    {
      config: read,
      schema: { tags, summary: 'One dead letter with its event and attempt history', params: IdParams },
    },
    async (request) => admin.deadLetter(request.params.id, scopeOf(request)),
  );

  app.post<{ Params: IdParams }>(
    '/v1/admin/events/dlq/:id/redrive',
    { config: write, schema: { tags, summary: 'Deliver a dead-lettered event again', params: IdParams } },
    async (request) => admin.redrive(request.params.id, scopeOf(request), actor(request)),
  );

  app.post<{ Params: IdParams }>(
    '/v1/admin/events/dlq/:id/skip',
    {
      config: write,
      schema: {
        tags,
        summary: "Give up on a dead-lettered event and release its entity's later events",
        params: IdParams,
      },
    },
    async (request) => admin.skip(request.params.id, scopeOf(request), actor(request)),
  );

  if (webhooks === undefined) return;

  app.get(
    '/v1/admin/events/webhooks',
    { config: read, schema: { tags, summary: 'Outbound webhook endpoints' } },
    async (request) => ({ endpoints: await webhooks.list(scopeOf(request)) }),
  );

  app.post<{ Body: CreateWebhookBody }>(
    '/v1/admin/events/webhooks',
    {
      config: write,
      schema: {
        tags,
        summary: 'Create an endpoint; the answer holds its signing secret',
        body: CreateWebhookBody,
      },
    },
    async (request, reply) => {
      requireTenant(request, request.body.tenantId);
      return reply.code(201).send(await webhooks.create(request.body));
    },
  );

  app.get<{ Params: IdParams }>(
    '/v1/admin/events/webhooks/:id',
    { config: read, schema: { tags, summary: 'One endpoint', params: IdParams } },
    async (request) => webhooks.get(request.params.id, scopeOf(request)),
  );

  app.patch<{ Params: IdParams; Body: PatchWebhookBody }>(
    '/v1/admin/events/webhooks/:id',
    {
      config: write,
      schema: {
        tags,
        summary: 'Change, pause or resume an endpoint',
        params: IdParams,
        body: PatchWebhookBody,
      },
    },
    async (request) => webhooks.update(request.params.id, scopeOf(request), request.body),
  );

  app.delete<{ Params: IdParams }>(
    '/v1/admin/events/webhooks/:id',
    { config: write, schema: { tags, summary: 'Remove an endpoint', params: IdParams } },
    async (request, reply) => {
      await webhooks.remove(request.params.id, scopeOf(request));
      return reply.code(204).send();
    },
  );
};
