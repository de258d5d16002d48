// Outbound webhooks following Standard Webhooks: each endpoint is a consumer of the log (`webhook:<id>`)
// in `halt` failure mode, so it receives its events in log order; every request carries
// `webhook-id` (the event id, plus the replay generation for a replay so receivers do not drop it
// as a duplicate), `webhook-timestamp` and an HMAC-SHA256 `webhook-signature`; failures are retried
// with backoff and an endpoint that keeps failing is paused and reported until resumed.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { ulid } from 'ulid';
import type { Logger } from '../telemetry/index.ts';
import { silentLogger } from '../telemetry/index.ts';
import type { EventDispatcher, DeliveryContext } from './dispatcher.ts';
import { toCloudEvent, type LoggedEvent } from './envelope.ts';
import { EventInvalidError, WebhookDeliveryFailedError, WebhookEndpointNotFoundError } from './errors.ts';
import type { EventMetrics } from './event-metrics.ts';
import { isEventType } from './event-types.ts';
import type { EventsAdmin, TenantScope } from './events-admin.ts';
import type { EvWebhookEndpointsTable, EventsDb } from './tables.ts';

export interface WebhookEndpoint {
  readonly id: string;
  readonly tenantId: string;
  readonly url: string;
  /** Event types sent (empty: all). */
  readonly types: readonly string[];
  readonly description: string | null;
  /** `active`, or `paused` (after repeated failures or by an operator; see `pausedReason`). */
  readonly status: string;
  readonly pausedReason: string | null;
  /** Events not yet delivered. */
  readonly lag: number;
  readonly createdAt: string;
}

export interface CreateWebhookEndpoint {
  readonly tenantId: string;
  readonly url: string;
  /** `whsec_<base64>` (default: a new random 24-byte secret, returned once on creation). */
  readonly secret?: string;
  readonly types?: readonly string[];
  readonly description?: string;
}

export interface WebhookOptions {
  /** Request timeout, in ms (default 10000). */
  readonly timeoutMs?: number;
  /** Failures in a row after which an endpoint is paused (default 10). */
  readonly pauseAfterFailures?: number;
  /** First retry delay in ms (default 1000), doubling up to `retryMaxMs`. */
  readonly retryBaseMs?: number;
  /** Longest retry delay in ms (default 300000). */
  readonly retryMaxMs?: number;
  /** How often endpoints are re-read from the store (changes made by other processes), in ms (default 30000). */
  readonly refreshMs?: number;
}

const consumerName = (id: string) => `webhook:${id}`;

function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EventInvalidError(`url ${url} is not a URL`, 'url');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new EventInvalidError('url must be http or https', 'url');
  }
}

function checkTypes(types: readonly string[] | undefined): void {
  for (const t of types ?? [])
    if (!isEventType(t)) throw new EventInvalidError(`unknown event type ${t}`, 'types');
}

export class WebhookService {
  readonly #dispatcher: EventDispatcher;
  readonly #admin: EventsAdmin;
  readonly #logger: Logger;
  readonly #metrics: EventMetrics | undefined;
  readonly #options: Required<WebhookOptions>;
  readonly #running = new Map<string, string>();
  #refresh: NodeJS.Timeout | undefined;

  constructor(deps: {
    dispatcher: EventDispatcher;
    admin: EventsAdmin;
    logger?: Logger;
    metrics?: EventMetrics;
    options?: WebhookOptions;
  }) {
    this.#dispatcher = deps.dispatcher;
    this.#admin = deps.admin;
    this.#logger = deps.logger ?? silentLogger();
    this.#metrics = deps.metrics;
    this.#options = {
      timeoutMs: 10_000,
      pauseAfterFailures: 10,
      retryBaseMs: 1000,
      retryMaxMs: 300_000,
      refreshMs: 30_000,
      ...deps.options,
    };
  }

  #db() {
    return this.#dispatcher.store.db<EventsDb>();
  }

  /** Starts delivering to every endpoint, and keeps the set in step with the store. */
  async start(): Promise<void> {
    await this.sync();
    this.#refresh = setInterval(() => {
      this.sync().catch((error: unknown) =>
        this.#logger.warn({ err: error }, 'webhook endpoint refresh failed'),
      );
    }, this.#options.refreshMs);
    this.#refresh.unref();
  }

  async stop(): Promise<void> {
    if (this.#refresh !== undefined) clearInterval(this.#refresh);
    this.#refresh = undefined;
    for (const id of [...this.#running.keys()]) {
      this.#running.delete(id);
      await this.#dispatcher.unsubscribe(consumerName(id));
    }
  }

  /** Subscribes new or changed endpoints and drops removed ones. */
  async sync(): Promise<void> {
    const rows = await this.#db().selectFrom('ev_webhook_endpoints').selectAll().execute();
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.id);
      const version = `${row.url}|${row.types ?? ''}|${String(row.updated_at)}`;
      if (this.#running.get(row.id) === version) continue;
      this.#running.set(row.id, version);
      await this.#subscribe(row);
    }
    for (const id of [...this.#running.keys()]) {
      if (seen.has(id)) continue;
      this.#running.delete(id);
      await this.#dispatcher.unsubscribe(consumerName(id));
    }
  }

  async #subscribe(row: EvWebhookEndpointsTable): Promise<void> {
    const types = row.types === null ? [] : (JSON.parse(row.types) as string[]);
    const hook = new Webhook(row.secret);
    await this.#dispatcher.subscribe(
      consumerName(row.id),
      (event, ctx) => this.#send(row, hook, event, ctx),
      {
        kind: 'webhook',
        start: 'latest',
        failureMode: 'halt',
        pauseAfterFailures: this.#options.pauseAfterFailures,
        retry: { baseMs: this.#options.retryBaseMs, maxMs: this.#options.retryMaxMs },
        filter: (e) => e.tenantId === row.tenant_id && (types.length === 0 || types.includes(e.type)),
      },
    );
  }

  async #send(
    row: EvWebhookEndpointsTable,
    hook: Webhook,
    event: LoggedEvent,
    ctx: DeliveryContext,
  ): Promise<void> {
    const body = JSON.stringify(toCloudEvent(event));
    const msgId = ctx.generation === 0 ? event.id : `${event.id}.${ctx.generation}`;
    const now = new Date();
    const headers = {
      'content-type': 'application/cloudevents+json; charset=utf-8',
      'webhook-id': msgId,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': hook.sign(msgId, now, body),
      'user-agent': 'crossdock-webhooks/1',
    };
    let status: number;
    try {
      const response = await request(row.url, {
        method: 'POST',
        headers,
        body,
        headersTimeout: this.#options.timeoutMs,
        bodyTimeout: this.#options.timeoutMs,
      });
      status = response.statusCode;
      await response.body.dump();
    } catch (error) {
      this.#metrics?.webhookFailures.inc({ endpoint: row.id });
      throw new WebhookDeliveryFailedError(row.id, error instanceof Error ? error.message : String(error));
    }
    if (status < 200 || status >= 300) {
      this.#metrics?.webhookFailures.inc({ endpoint: row.id });
      throw new WebhookDeliveryFailedError(row.id, `answered HTTP ${status}`, status);
    }
  }

  async list(scope: TenantScope): Promise<WebhookEndpoint[]> {
    let q = this.#db().selectFrom('ev_webhook_endpoints').selectAll().orderBy('created_at').orderBy('id');
    if (scope !== '*') {
      if (scope.length === 0) return [];
      q = q.where('tenant_id', 'in', scope);
    }
    const rows = await q.execute();
    const consumers = new Map((await this.#admin.consumers()).map((c) => [c.name, c]));
    return rows.map((r) => {
      const c = consumers.get(consumerName(r.id));
      return {
        id: r.id,
        tenantId: r.tenant_id,
        url: r.url,
        types: r.types === null ? [] : (JSON.parse(r.types) as string[]),
        description: r.description,
        status: c?.status ?? r.status,
        pausedReason: c?.pausedReason ?? null,
        lag: c?.lag ?? 0,
        createdAt: new Date(Number(r.created_at)).toISOString(),
      };
    });
  }

  async get(id: string, scope: TenantScope): Promise<WebhookEndpoint> {
    const found = (await this.list(scope)).find((e) => e.id === id);
    if (found === undefined) throw new WebhookEndpointNotFoundError(id);
    return found;
  }

  /** Creates an endpoint; the answer carries the signing secret (shown only here). */
  async create(input: CreateWebhookEndpoint): Promise<WebhookEndpoint & { readonly secret: string }> {
    checkUrl(input.url);
    checkTypes(input.types);
    const secret = input.secret ?? newSecret();
    // Validates the secret's form now rather than at the first delivery.
    try {
      new Webhook(secret);
    } catch {
      throw new EventInvalidError('secret must be whsec_ followed by base64', 'secret');
    }
    const id = ulid();
    const now = Date.now();
    await this.#db()
      .insertInto('ev_webhook_endpoints')
      .values({
        id,
        tenant_id: input.tenantId,
        url: input.url,
        secret,
        types: input.types === undefined || input.types.length === 0 ? null : JSON.stringify(input.types),
        description: input.description ?? null,
        status: 'active',
        paused_reason: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await this.sync();
    return { ...(await this.get(id, [input.tenantId])), secret };
  }

  async update(
    id: string,
    scope: TenantScope,
    patch: { url?: string; types?: readonly string[]; description?: string; status?: 'active' | 'paused' },
  ): Promise<WebhookEndpoint> {
    await this.get(id, scope);
    if (patch.url !== undefined) checkUrl(patch.url);
    checkTypes(patch.types);
    await this.#db()
      .updateTable('ev_webhook_endpoints')
      .set({
        ...(patch.url === undefined ? {} : { url: patch.url }),
        ...(patch.types === undefined
          ? {}
          : { types: patch.types.length === 0 ? null : JSON.stringify(patch.types) }),
        ...(patch.description === undefined ? {} : { description: patch.description }),
        updated_at: Date.now(),
      })
      .where('id', '=', id)
      .execute();
    await this.sync();
    if (patch.status === 'paused') await this.#admin.pause(consumerName(id));
    if (patch.status === 'active') await this.#admin.resume(consumerName(id));
    return this.get(id, scope);
  }

  async remove(id: string, scope: TenantScope): Promise<void> {
    await this.get(id, scope);
    await this.#db().deleteFrom('ev_webhook_endpoints').where('id', '=', id).execute();
    await this.sync();
    await this.#admin.remove(consumerName(id)).catch(() => undefined);
  }
}
