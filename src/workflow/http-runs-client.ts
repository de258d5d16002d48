// RunsAdmin over the admin HTTP API, for the CLI when a server is running. Problem+json answers come
// back as the CrossdockError of their code, so the CLI reports them the same as in-process failures.
import { request } from 'undici';
import { CrossdockError, errorDefinition, InternalErrorDef } from '../errors/index.ts';
import type { RunDetail, RunListQuery, RunPage, RunsAdmin, RunSummary } from './workflow-admin-service.ts';

export interface HttpRunsClientOptions {
  /** Base URL of the Crossdock API, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string;
  /** API key sent as `Authorization: Bearer` (needs `runs:read`, and `runs:write` for actions). */
  readonly apiKey?: string;
  /** Per-request time limit, in ms (default 10000). */
  readonly timeoutMs?: number;
}

export class HttpRunsClient implements RunsAdmin {
  readonly #options: HttpRunsClientOptions;

  constructor(options: HttpRunsClientOptions) {
    this.#options = options;
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#options.apiKey) headers.authorization = `Bearer ${this.#options.apiKey}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const timeout = this.#options.timeoutMs ?? 10_000;
    const response = await request(new URL(path, this.#options.baseUrl), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    const text = await response.body.text();
    const parsed = text.length > 0 ? (JSON.parse(text) as unknown) : undefined;
    if (response.statusCode >= 400) {
      const problem = (parsed ?? {}) as { code?: string; detail?: string; [k: string]: unknown };
      const definition = (problem.code && errorDefinition(problem.code)) || {
        ...InternalErrorDef,
        status: response.statusCode,
      };
      const context: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(problem)) {
        if (!['type', 'title', 'status', 'detail', 'code', 'retryable', 'instance'].includes(k))
          context[k] = v;
      }
      throw new CrossdockError(definition, problem.detail ?? `HTTP ${response.statusCode}`, context);
    }
    return parsed as T;
  }

  list(query: RunListQuery): Promise<RunPage> {
    const params = new URLSearchParams();
    if (query.status) params.set('status', query.status);
    if (query.workflowName) params.set('workflow', query.workflowName);
    if (query.tenantId) params.set('tenant', query.tenantId);
    if (query.businessKey) params.set('key', `${query.businessKey.name}=${query.businessKey.value}`);
    if (query.createdFrom !== undefined) params.set('from', new Date(query.createdFrom).toISOString());
    if (query.createdTo !== undefined) params.set('to', new Date(query.createdTo).toISOString());
    if (query.limit !== undefined) params.set('limit', String(query.limit));
    if (query.cursor) params.set('cursor', query.cursor);
    const qs = params.toString();
    return this.#call('GET', `/v1/admin/runs${qs ? `?${qs}` : ''}`);
  }

  show(runId: string): Promise<RunDetail> {
    return this.#call('GET', `/v1/admin/runs/${encodeURIComponent(runId)}`);
  }

  retry(runId: string): Promise<RunSummary> {
    return this.#call('POST', `/v1/admin/runs/${encodeURIComponent(runId)}/retry`);
  }

  resume(runId: string, stepInput: unknown): Promise<RunSummary> {
    return this.#call('POST', `/v1/admin/runs/${encodeURIComponent(runId)}/resume`, { stepInput });
  }

  cancel(runId: string): Promise<RunSummary> {
    return this.#call('POST', `/v1/admin/runs/${encodeURIComponent(runId)}/cancel`);
  }
}
