// The event log's HTTP surface: admin routes (tail, consumers, replay, dead letters, webhook
// endpoints) with scopes and tenant limits, the server-sent events stream over a real socket, and
// inbound webhooks acknowledged only after their commit.
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asCrossdockError, ForbiddenError, PROBLEM_CONTENT_TYPE, toProblem } from '../../src/errors/index.ts';
import {
  EventService,
  eventsAdminRoutes,
  eventStreamRoutes,
  inboundHookRoutes,
  type InboundHeaders,
} from '../../src/events/index.ts';
import { dialects, until, type Opened } from './support/harness.ts';

interface TestPrincipal {
  keyId: string;
  tenants: string[] | '*';
  scopes: string[];
}

/** Stands in for the app's auth hook and error handler: keys are "tenants|scope,scope". */
function authAndErrors(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if ((request.routeOptions.config as { public?: boolean }).public === true) return;
    const header = request.headers.authorization?.replace(/^Bearer /, '') ?? '';
    const [tenants = '', scopes = ''] = header.split('|');
    const principal: TestPrincipal = {
      keyId: `key-${tenants}`,
      tenants: tenants === '*' ? '*' : tenants.split(','),
      scopes: scopes.split(','),
    };
    (request as unknown as { principal: TestPrincipal }).principal = principal;
    const needed = (request.routeOptions.config as { scope?: string }).scope;
    if (needed && !principal.scopes.includes(needed)) throw new ForbiddenError(`needs ${needed}`);
  });
  app.setErrorHandler((error, request, reply) => {
    if ((error as { validation?: unknown }).validation) return reply.status(400).send(error);
    if ((error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(413).send();
    const problem = toProblem(asCrossdockError(error), request.url);
    return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
  });
}

const hookSecret = `whsec_${Buffer.from('a shared secret for tryton!!').toString('base64')}`;

describe.each(dialects)('events HTTP surface on $dialect', ({ open }) => {
  let opened: Opened;
  let events: EventService;
  let app: FastifyInstance;
  let base: string;
  const committed: { tenant: string; system: string; payload: unknown; headers: InboundHeaders }[] = [];
  let failCommit = false;

  beforeAll(async () => {
    opened = await open();
    events = new EventService({ store: opened.store, pollIntervalMs: 3_600_000 });
    await events.start();
    app = Fastify();
    authAndErrors(app);
    await app.register(eventsAdminRoutes, { admin: events.admin, webhooks: events.webhooks });
    await app.register(eventStreamRoutes, { log: events.log, heartbeatMs: 50 });
    await app.register(inboundHookRoutes, {
      bodyLimitBytes: 2048,
      systems: {
        tryton: {
          verify: { secret: hookSecret },
          tenant: 'acme',
          async commit(tenant, system, payload, headers) {
            // Commit = durable append of what the webhook reported, before the 2xx.
            if (failCommit) throw new Error('store unavailable');
            await events.log.append([
              { type: 'order:changed', tenantId: tenant, entity: { id: 'SO-1' }, data: { via: system } },
            ]);
            committed.push({ tenant, system, payload, headers });
          },
        },
        carrier: {
          verify: (r) => r.headers['x-carrier-token'] === 'let-me-in',
          tenant: (_r, payload) => (payload as { tenant: string }).tenant,
          async commit(tenant, system, payload, headers) {
            committed.push({ tenant, system, payload, headers });
          },
        },
      },
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app.close();
    await events.stop();
    await opened.cleanup();
  });

  it('tails events for the caller tenants only, and refuses without the scope', async () => {
    await events.log.append([
      { type: 'case:opened', tenantId: 'acme', entity: { id: 'k1' }, data: { n: 1 } },
      { type: 'case:opened', tenantId: 'globex', entity: { id: 'k2' }, data: { n: 2 } },
    ]);
    await events.log.publish();
    const tail = await app.inject({
      url: '/v1/admin/events/tail?after=0',
      headers: { authorization: 'Bearer acme|events:read' },
    });
    expect(tail.statusCode).toBe(200);
    const body = tail.json<{ events: { tenantid: string; type: string; subject: string }[]; next: number }>();
    expect(body.events.map((e) => [e.tenantid, e.type, e.subject])).toEqual([
      ['acme', 'dev.crossdock.case.opened', 'case/k1'],
    ]);
    const other = await app.inject({
      url: '/v1/admin/events/tail?tenant=globex',
      headers: { authorization: 'Bearer acme|events:read' },
    });
    expect(other.statusCode).toBe(403);
    expect(other.headers['content-type']).toContain(PROBLEM_CONTENT_TYPE);
    const noScope = await app.inject({
      url: '/v1/admin/events/tail',
      headers: { authorization: 'Bearer acme|runs:read' },
    });
    expect(noScope.statusCode).toBe(403);
  });

  it('lists consumers, replays one, and works a dead letter through redrive', async () => {
    let broken = true;
    const seen: string[] = [];
    await events.dispatcher.subscribe(
      'http-consumer',
      (e, ctx) => {
        if (e.tenantId !== 'initech') return;
        if (broken) throw new Error('downstream refused');
        seen.push(`${e.entity.id}:${ctx.generation}`);
      },
      { maxAttempts: 2, retry: { baseMs: 5, maxMs: 10 } },
    );
    await events.log.append([
      { type: 'invoice:disputed', tenantId: 'initech', entity: { id: 'inv-9' }, data: {} },
    ]);
    const admin = { authorization: 'Bearer *|events:read,events:write' };
    let dlqId = '';
    await until(async () => {
      const r = await app.inject({ url: '/v1/admin/events/dlq?consumer=http-consumer', headers: admin });
      const list = r.json<{ deadLetters: { id: string }[] }>().deadLetters;
      dlqId = list[0]?.id ?? '';
      return list.length === 1;
    });
    const shown = await app.inject({ url: `/v1/admin/events/dlq/${dlqId}`, headers: admin });
    expect(shown.json()).toMatchObject({
      status: 'open',
      attempts: 2,
      error: 'Error: downstream refused',
      event: { entity: { id: 'inv-9' } },
    });
    const hidden = await app.inject({
      url: `/v1/admin/events/dlq/${dlqId}`,
      headers: { authorization: 'Bearer acme|events:read' },
    });
    expect(hidden.statusCode).toBe(404);
    broken = false;
    const redrive = await app.inject({
      method: 'POST',
      url: `/v1/admin/events/dlq/${dlqId}/redrive`,
      headers: admin,
    });
    expect(redrive.json()).toMatchObject({ status: 'redriven', resolvedBy: 'key-*' });
    await until(() => seen.length === 1);

    const consumers = await app.inject({ url: '/v1/admin/events/consumers', headers: admin });
    expect(consumers.json<{ consumers: { name: string }[] }>().consumers.map((c) => c.name)).toContain(
      'http-consumer',
    );
    const scoped = await app.inject({
      method: 'POST',
      url: '/v1/admin/events/consumers/http-consumer/replay',
      headers: { authorization: 'Bearer initech|events:write' },
      payload: { fromPosition: 0 },
    });
    expect(scoped.statusCode).toBe(403);
    const replay = await app.inject({
      method: 'POST',
      url: '/v1/admin/events/consumers/http-consumer/replay',
      headers: admin,
      payload: { fromPosition: 0, types: ['invoice:disputed'] },
    });
    expect(replay.statusCode).toBe(202);
    await until(() => seen.length === 2);
    expect(seen).toEqual(['inv-9:0', 'inv-9:1']);
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/admin/events/consumers/http-consumer/replay',
      headers: admin,
      payload: { types: ['no:such-type'] },
    });
    expect(bad.statusCode).toBe(400);
  });

  it('creates, pauses and removes a webhook endpoint within the caller tenants', async () => {
    const key = { authorization: 'Bearer acme|events:read,events:write' };
    const created = await app.inject({
      method: 'POST',
      url: '/v1/admin/events/webhooks',
      headers: key,
      payload: { tenantId: 'acme', url: 'http://127.0.0.1:9/nowhere', types: ['order:changed'] },
    });
    expect(created.statusCode).toBe(201);
    const endpoint = created.json<{ id: string; secret: string; status: string }>();
    expect(endpoint.secret).toMatch(/^whsec_/);
    const foreign = await app.inject({
      method: 'POST',
      url: '/v1/admin/events/webhooks',
      headers: key,
      payload: { tenantId: 'globex', url: 'http://127.0.0.1:9/x' },
    });
    expect(foreign.statusCode).toBe(403);
    const paused = await app.inject({
      method: 'PATCH',
      url: `/v1/admin/events/webhooks/${endpoint.id}`,
      headers: key,
      payload: { status: 'paused' },
    });
    expect(paused.json()).toMatchObject({ status: 'paused' });
    const list = await app.inject({ url: '/v1/admin/events/webhooks', headers: key });
    expect(JSON.stringify(list.json())).not.toContain(endpoint.secret);
    const removed = await app.inject({
      method: 'DELETE',
      url: `/v1/admin/events/webhooks/${endpoint.id}`,
      headers: key,
    });
    expect(removed.statusCode).toBe(204);
    const gone = await app.inject({ url: `/v1/admin/events/webhooks/${endpoint.id}`, headers: key });
    expect(gone.statusCode).toBe(404);
  });

  it('streams committed events of the caller tenants as server-sent events, resuming by Last-Event-ID', async () => {
    const controller = new AbortController();
    const response = await request(`${base}/v1/events/stream`, {
      headers: { authorization: 'Bearer acme|events:read' },
      signal: controller.signal,
    });
    expect(response.headers['content-type']).toContain('text/event-stream');
    let text = '';
    const reading = (async () => {
      try {
        for await (const chunk of response.body) text += (chunk as Buffer).toString('utf8');
      } catch {
        // aborted by the test
      }
    })();
    await until(() => text.includes(': connected'));
    await events.log.append([
      { type: 'shipment:delivered', tenantId: 'globex', entity: { id: 's-x' }, data: {} },
      { type: 'shipment:delivered', tenantId: 'acme', entity: { id: 's-1' }, data: { ok: true } },
    ]);
    await until(() => text.includes('s-1'));
    await until(() => text.includes(': keep-alive'));
    controller.abort();
    await reading;
    const frames = text.split('\n\n').filter((f) => f.startsWith('id: '));
    expect(frames).toHaveLength(1);
    const [idLine, eventLine, dataLine] = frames[0]!.split('\n');
    expect(eventLine).toBe('event: shipment:delivered');
    expect(JSON.parse(dataLine!.slice('data: '.length))).toMatchObject({
      subject: 'shipment/s-1',
      tenantid: 'acme',
    });
    const position = Number(idLine!.slice('id: '.length));

    // Reconnecting with Last-Event-ID one before that event gets it again, and nothing of globex.
    const again = new AbortController();
    const resumed = await request(`${base}/v1/events/stream`, {
      headers: { authorization: 'Bearer acme|events:read', 'last-event-id': String(position - 1) },
      signal: again.signal,
    });
    let more = '';
    const readingMore = (async () => {
      try {
        for await (const chunk of resumed.body) more += (chunk as Buffer).toString('utf8');
      } catch {
        // aborted by the test
      }
    })();
    await until(() => more.includes('s-1'));
    again.abort();
    await readingMore;
    expect(more).not.toContain('s-x');
  });

  it('acknowledges a signed inbound webhook only after commit, and refuses bad signatures', async () => {
    const body = JSON.stringify({ model: 'sale.sale', id: 1 });
    const signer = new Webhook(hookSecret);
    const signed = (payload: string, id = 'msg-1') => {
      const now = new Date();
      return {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': signer.sign(id, now, payload),
      };
    };
    const ok = await app.inject({
      method: 'POST',
      url: '/hooks/tryton',
      headers: signed(body),
      payload: body,
    });
    expect(ok.statusCode).toBe(202);
    expect(committed.at(-1)).toMatchObject({
      tenant: 'acme',
      system: 'tryton',
      payload: { model: 'sale.sale', id: 1 },
    });
    await events.log.publish();
    expect(await events.log.read(0, 1000, { tenants: ['acme'], types: ['order:changed'] })).not.toHaveLength(
      0,
    );

    const before = committed.length;
    const tampered = await app.inject({
      method: 'POST',
      url: '/hooks/tryton',
      headers: signed(body),
      payload: body.replace('1', '2'),
    });
    expect(tampered.statusCode).toBe(401);
    expect(tampered.json()).toMatchObject({ code: 'INBOUND_HOOK_SIGNATURE_INVALID' });
    const unsigned = await app.inject({
      method: 'POST',
      url: '/hooks/tryton',
      headers: { 'content-type': 'application/json' },
      payload: body,
    });
    expect(unsigned.statusCode).toBe(401);
    expect(committed.length).toBe(before);

    failCommit = true;
    const notCommitted = await app.inject({
      method: 'POST',
      url: '/hooks/tryton',
      headers: signed(body, 'msg-2'),
      payload: body,
    });
    failCommit = false;
    expect(notCommitted.statusCode).toBe(503);
    expect(notCommitted.json()).toMatchObject({ code: 'INBOUND_HOOK_NOT_COMMITTED', retryable: true });
    expect(committed.length).toBe(before);

    const big = 'x'.repeat(4096);
    const tooBig = await app.inject({
      method: 'POST',
      url: '/hooks/tryton',
      headers: signed(big),
      payload: big,
    });
    expect(tooBig.statusCode).toBe(413);
    const unknown = await app.inject({
      method: 'POST',
      url: '/hooks/nosuch',
      headers: signed(body),
      payload: body,
    });
    expect(unknown.statusCode).toBe(404);

    const carrier = await app.inject({
      method: 'POST',
      url: '/hooks/carrier',
      headers: { 'content-type': 'application/json', 'x-carrier-token': 'let-me-in' },
      payload: JSON.stringify({ tenant: 'globex', tracking: 'Z1' }),
    });
    expect(carrier.statusCode).toBe(202);
    expect(committed.at(-1)).toMatchObject({ tenant: 'globex', system: 'carrier' });
    const wrongToken = await app.inject({
      method: 'POST',
      url: '/hooks/carrier',
      headers: { 'content-type': 'application/json', 'x-carrier-token': 'nope' },
      payload: '{}',
    });
    expect(wrongToken.statusCode).toBe(401);
  });
});
