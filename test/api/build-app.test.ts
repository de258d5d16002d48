import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiKeyAuthenticator, buildApp, type ReadinessCheck } from '../../src/api/index.ts';
import { loadConfig, type CrossdockConfig } from '../../src/config/index.ts';
import { createLogger, createMetricsRegistry } from '../../src/telemetry/index.ts';

const ADMIN = 'admin-key-0123456789abcdefghij';
const READER = 'reader-key-0123456789abcdefghij';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function make(
  options: { config?: Partial<CrossdockConfig>; readiness?: ReadinessCheck[]; lines?: string[] } = {},
) {
  const base = loadConfig({ env: {} }).config;
  const config = { ...base, ...options.config };
  const lines = options.lines ?? [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  app = await buildApp({
    config,
    logger: createLogger({ level: 'info', destination: { write: (l: string) => destination.write(l) } }),
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    authenticator: new ApiKeyAuthenticator([
      { id: 'ops', key: ADMIN, scopes: ['admin'], tenants: '*' },
      { id: 'desk', key: READER, scopes: ['runs:read'], tenants: ['acme'] },
    ]),
    readiness: options.readiness ?? [],
    version: '9.9.9',
    plugins: [
      {
        plugin: async (instance) => {
          instance.post(
            '/v1/echo',
            {
              config: { scope: 'runs:write' },
              schema: {
                body: {
                  type: 'object',
                  required: ['n'],
                  properties: { n: { type: 'integer' } },
                  additionalProperties: false,
                },
              },
            },
            async (request) => request.body,
          );
        },
      },
    ],
  });
  return app;
}

describe('public endpoints', () => {
  it('answers /health without auth', async () => {
    const res = await (await make()).inject('/health');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', version: '9.9.9' });
  });

  it('answers /ready 200 when every check passes and 503 with the reason when one fails', async () => {
    const ok = await (await make({ readiness: [{ name: 'store', check: async () => {} }] })).inject('/ready');
    expect(ok.statusCode).toBe(200);
    await app?.close();
    const bad = await (
      await make({
        readiness: [
          { name: 'store', check: async () => {} },
          {
            name: 'nats',
            check: async () => {
              throw new Error('connection refused 127.0.0.1:4222');
            },
          },
        ],
      })
    ).inject('/ready');
    expect(bad.statusCode).toBe(503);
    expect(bad.json()).toEqual({
      status: 'not ready',
      checks: [
        { name: 'store', ok: true },
        { name: 'nats', ok: false, reason: 'connection refused 127.0.0.1:4222' },
      ],
    });
  });

  it('serves Prometheus text on /metrics, including request durations', async () => {
    const a = await make();
    await a.inject('/health');
    const res = await a.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('# TYPE crossdock_http_request_duration_seconds histogram');
    expect(res.body).toMatch(
      /crossdock_http_request_duration_seconds_count\{method="GET",route="\/health",status="200"\} 1/,
    );
  });

  it('puts /metrics behind a token when configured', async () => {
    const token = 'metrics-token-0123456789';
    const a = await make({ config: { metrics: { token } } });
    expect((await a.inject('/metrics')).statusCode).toBe(401);
    expect(
      (await a.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } })).statusCode,
    ).toBe(200);
  });

  it('publishes the OpenAPI document', async () => {
    const res = await (await make()).inject('/openapi.json');
    expect(res.statusCode).toBe(200);
    expect(res.json().openapi).toBe('3.1.0');
    expect(Object.keys(res.json().paths)).toContain('/v1/whoami');
  });
});

describe('auth and errors', () => {
  it('requires an API key everywhere else, answering problem+json', async () => {
    const res = await (await make()).inject('/v1/whoami');
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({
      status: 401,
      code: 'UNAUTHENTICATED',
      retryable: false,
      instance: '/v1/whoami',
    });
  });

  it('rejects an unknown key and accepts Bearer or X-API-Key', async () => {
    const a = await make();
    expect(
      (await a.inject({ url: '/v1/whoami', headers: { authorization: 'Bearer nope' } })).statusCode,
    ).toBe(401);
    const bearer = await a.inject({ url: '/v1/whoami', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(bearer.json()).toEqual({ keyId: 'ops', tenants: '*', scopes: ['admin'] });
    const header = await a.inject({ url: '/v1/whoami', headers: { 'x-api-key': ADMIN } });
    expect(header.statusCode).toBe(200);
  });

  it('answers 403 when the key lacks the route scope', async () => {
    const res = await (
      await make()
    ).inject({
      method: 'POST',
      url: '/v1/echo',
      headers: { authorization: `Bearer ${READER}` },
      payload: { n: 1 },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'FORBIDDEN', scope: 'runs:write' });
  });

  it('answers a schema violation with VALIDATION_FAILED naming the field', async () => {
    const res = await (
      await make()
    ).inject({
      method: 'POST',
      url: '/v1/echo',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: { n: 'x' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_FAILED');
    expect(res.json().errors).toEqual([{ pointer: '/body/n', message: 'must be integer' }]);
  });

  it('answers malformed JSON and oversized bodies with problem+json', async () => {
    const a = await make({
      config: { server: { ...loadConfig({ env: {} }).config.server, bodyLimitBytes: 1024 } },
    });
    const bad = await a.inject({
      method: 'POST',
      url: '/v1/echo',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      payload: '{"n":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('VALIDATION_FAILED');
    const big = await a.inject({
      method: 'POST',
      url: '/v1/echo',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ n: 1, pad: 'x'.repeat(4096) }),
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers unknown routes with a NOT_FOUND problem', async () => {
    const res = await (await make()).inject('/v1/nothing-here');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });
});

describe('correlation ids', () => {
  it('takes x-correlation-id, echoes it and logs it', async () => {
    const lines: string[] = [];
    const res = await (
      await make({ lines })
    ).inject({ url: '/health', headers: { 'x-correlation-id': 'case-4711' } });
    expect(res.headers['x-correlation-id']).toBe('case-4711');
    await (
      await make({ lines })
    ).inject({
      url: '/v1/whoami',
      headers: { 'x-correlation-id': 'case-4712', authorization: `Bearer ${ADMIN}` },
    });
    const logged = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.correlationId === 'case-4712');
    expect(logged).toMatchObject({ msg: 'request', status: 200, keyId: 'ops', url: '/v1/whoami' });
  });

  it('takes the trace id of a traceparent when no correlation id is sent', async () => {
    const res = await (
      await make()
    ).inject({
      url: '/health',
      headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    });
    expect(res.headers['x-correlation-id']).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('makes one up otherwise, and never echoes unsafe input', async () => {
    const res = await (
      await make()
    ).inject({ url: '/health', headers: { 'x-correlation-id': 'bad id\twith tabs' } });
    expect(res.headers['x-correlation-id']).toMatch(/^[0-9a-f]{32}$/);
  });
});
