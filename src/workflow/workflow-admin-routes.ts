// Admin HTTP routes over runs (`/v1/admin/runs...`): list/search and show need `runs:read`; retry,
// resume and cancel need `runs:write`. The app's auth hook enforces the scopes and sets
// `request.principal`; errors are CrossdockErrors, rendered as problem+json by the app.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { ValidationFailedError } from '../errors/index.ts';
import { RUN_STATUSES } from './workflow-journal.ts';
import type { RunListQuery, RunsAdmin, TenantScope } from './workflow-admin-service.ts';

export interface WorkflowAdminRoutesOptions {
  readonly admin: RunsAdmin;
  /**
   * Tenants the request may see (default: `request.principal.tenants` as set by the app's auth hook,
   * and no tenant at all when there is no principal).
   */
  readonly tenantScope?: (request: FastifyRequest) => TenantScope;
}

function principalScope(request: FastifyRequest): TenantScope {
  // The principal is declared by the app's auth hook, which this part does not import.
  const principal = (request as FastifyRequest & { principal?: { tenants?: TenantScope } }).principal;
  return principal?.tenants ?? [];
}

const RunIdParams = Type.Object({ runId: Type.String({ minLength: 1, maxLength: 200 }) });
type RunIdParams = Static<typeof RunIdParams>;

const ListQuery = Type.Object({
  status: Type.Optional(Type.Union(RUN_STATUSES.map((s) => Type.Literal(s)))),
  workflow: Type.Optional(Type.String({ minLength: 1 })),
  tenant: Type.Optional(Type.String({ minLength: 1 })),
  key: Type.Optional(Type.String({ pattern: '^[^=]+=.*$', description: 'business key as name=value' })),
  from: Type.Optional(Type.String({ format: 'date-time' })),
  to: Type.Optional(Type.String({ format: 'date-time' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  cursor: Type.Optional(Type.String()),
});
type ListQuery = Static<typeof ListQuery>;

const ResumeBody = Type.Object({
  stepInput: Type.Unknown({ description: 'the edited input of the failed step' }),
});
type ResumeBody = Static<typeof ResumeBody>;

function toInstant(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new ValidationFailedError(`${field} is not a date-time`, [
      { pointer: `/${field}`, message: 'expected an RFC 3339 date-time' },
    ]);
  }
  return ms;
}

export function parseListQuery(q: ListQuery): RunListQuery {
  let businessKey: RunListQuery['businessKey'];
  if (q.key !== undefined) {
    const at = q.key.indexOf('=');
    businessKey = { name: q.key.slice(0, at), value: q.key.slice(at + 1) };
  }
  return {
    status: q.status,
    workflowName: q.workflow,
    tenantId: q.tenant,
    businessKey,
    createdFrom: toInstant(q.from, 'from'),
    createdTo: toInstant(q.to, 'to'),
    limit: q.limit,
    cursor: q.cursor,
  };
}

export const workflowAdminRoutes: FastifyPluginAsync<WorkflowAdminRoutesOptions> = async (app, options) => {
  const { admin } = options;
  const scopeOf = options.tenantScope ?? principalScope;

  app.get<{ Querystring: ListQuery }>(
    '/v1/admin/runs',
    { schema: { querystring: ListQuery, tags: ['runs'] }, config: { scope: 'runs:read' } },
    async (request) => admin.list(parseListQuery(request.query), scopeOf(request)),
  );
  app.get<{ Params: RunIdParams }>(
    '/v1/admin/runs/:runId',
    { schema: { params: RunIdParams, tags: ['runs'] }, config: { scope: 'runs:read' } },
    async (request) => admin.show(request.params.runId, scopeOf(request)),
  );
  app.post<{ Params: RunIdParams }>(
    '/v1/admin/runs/:runId/retry',
    { schema: { params: RunIdParams, tags: ['runs'] }, config: { scope: 'runs:write' } },
    async (request) => admin.retry(request.params.runId, scopeOf(request)),
  );
  app.post<{ Params: RunIdParams; Body: ResumeBody }>(
    '/v1/admin/runs/:runId/resume',
    { schema: { params: RunIdParams, body: ResumeBody, tags: ['runs'] }, config: { scope: 'runs:write' } },
    async (request) => admin.resume(request.params.runId, request.body.stepInput, scopeOf(request)),
  );
  app.post<{ Params: RunIdParams }>(
    '/v1/admin/runs/:runId/cancel',
    { schema: { params: RunIdParams, tags: ['runs'] }, config: { scope: 'runs:write' } },
    async (request) => admin.cancel(request.params.runId, scopeOf(request)),
  );
};
