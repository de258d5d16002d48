// What the `crossdock events` commands need, with two implementations: over the admin HTTP API when
// a server runs (`HttpEventsClient`), or directly on a store (`localEventsApi`). Problem+json answers
// come back as the CrossdockError of their code, so the CLI reports both the same way.
import { request } from 'undici';
import { CrossdockError, errorDefinition, InternalErrorDef } from '../errors/index.ts';
import { toCloudEvent, type CloudEvent } from './envelope.ts';
import type { ConsumerInfo, DeadLetter, EventsAdmin, ReplayRequest, ReplayStarted } from './events-admin.ts';

export interface TailQuery {
  readonly after: number;
  readonly limit: number;
  readonly types?: readonly string[];
  readonly tenant?: string;
}

export interface EventsAdminApi {
  tail(query: TailQuery): Promise<{ events: CloudEvent[]; next: number }>;
  consumers(): Promise<ConsumerInfo[]>;
  replay(consumer: string, request: ReplayRequest): Promise<ReplayStarted>;
  resume(consumer: string): Promise<void>;
  dlqList(filter: { consumer?: string; status?: string; limit?: number }): Promise<DeadLetter[]>;
  dlqShow(id: string): Promise<DeadLetter>;
  dlqRedrive(id: string): Promise<DeadLetter>;
  dlqSkip(id: string): Promise<DeadLetter>;
}

/** The API on a local EventsAdmin (no server running): acts for all tenants, as `actor`. */
export function localEventsApi(admin: EventsAdmin, actor = 'cli'): EventsAdminApi {
  return {
    async tail(q) {
      await admin.log.publish();
      const events = await admin.tail(q.after, q.limit, q.tenant === undefined ? '*' : [q.tenant], {
        ...(q.types === undefined || q.types.length === 0 ? {} : { types: q.types }),
      });
      return { events: events.map(toCloudEvent), next: events.at(-1)?.position ?? q.after };
    },
    consumers: () => admin.consumers(),
    replay: (consumer, r) => admin.replay(consumer, r),
    resume: (consumer) => admin.resume(consumer),
    dlqList: (filter) => admin.deadLetters('*', filter),
    dlqShow: (id) => admin.deadLetter(id, '*'),
    dlqRedrive: (id) => admin.redrive(id, '*', actor),
    dlqSkip: (id) => admin.skip(id, '*', actor),
  };
}

export interface HttpEventsClientOptions {
  /** Base URL of the Crossdock API, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string;
  /** API key sent as `Authorization: Bearer` (needs `events:read`, and `events:write` for actions). */
  readonly apiKey?: string;
  /** Per-request time limit, in ms (default 10000). */
  readonly timeoutMs?: number;
}

export class HttpEventsClient implements EventsAdminApi {
  readonly #options: HttpEventsClientOptions;

  constructor(options: HttpEventsClientOptions) {
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
      const definition = (problem.code !== undefined ? errorDefinition(problem.code) : undefined) ?? {
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

  tail(q: TailQuery): Promise<{ events: CloudEvent[]; next: number }> {
    const params = new URLSearchParams({ after: String(q.after), limit: String(q.limit) });
    for (const t of q.types ?? []) params.append('type', t);
    if (q.tenant !== undefined) params.set('tenant', q.tenant);
    return this.#call('GET', `/v1/admin/events/tail?${params.toString()}`);
  }

  async consumers(): Promise<ConsumerInfo[]> {
    return (await this.#call<{ consumers: ConsumerInfo[] }>('GET', '/v1/admin/events/consumers')).consumers;
  }

  replay(consumer: string, r: ReplayRequest): Promise<ReplayStarted> {
    return this.#call('POST', `/v1/admin/events/consumers/${encodeURIComponent(consumer)}/replay`, r);
  }

  async resume(consumer: string): Promise<void> {
    await this.#call('POST', `/v1/admin/events/consumers/${encodeURIComponent(consumer)}/resume`);
  }

  async dlqList(filter: { consumer?: string; status?: string; limit?: number }): Promise<DeadLetter[]> {
    const params = new URLSearchParams();
    if (filter.consumer !== undefined) params.set('consumer', filter.consumer);
    if (filter.status !== undefined) params.set('status', filter.status);
    if (filter.limit !== undefined) params.set('limit', String(filter.limit));
    const qs = params.toString();
    return (
      await this.#call<{ deadLetters: DeadLetter[] }>('GET', `/v1/admin/events/dlq${qs ? `?${qs}` : ''}`)
    ).deadLetters;
  }

  dlqShow(id: string): Promise<DeadLetter> {
    return this.#call('GET', `/v1/admin/events/dlq/${encodeURIComponent(id)}`);
  }

  dlqRedrive(id: string): Promise<DeadLetter> {
    return this.#call('POST', `/v1/admin/events/dlq/${encodeURIComponent(id)}/redrive`);
  }

  dlqSkip(id: string): Promise<DeadLetter> {
    return this.#call('POST', `/v1/admin/events/dlq/${encodeURIComponent(id)}/skip`);
  }
}
