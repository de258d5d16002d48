import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import {
  ConnectorAuthFailedError,
  ConnectorCircuitOpenError,
  ConnectorRequestRejectedError,
  ConnectorTimeoutError,
  ConnectorUnavailableError,
  DELIVERY,
} from '../../src/connectors/errors.ts';
import {
  HttpClient,
  TokenBucketRateBudget,
  parseRetryAfter,
  parseTraceparent,
  withTraceContext,
  newTraceContext,
  type HttpClientOptions,
  type RateBudget,
} from '../../src/connectors/http/index.ts';
import { json, startLoopbackServer, type LoopbackServer } from './support/loopback-server.ts';

let server: LoopbackServer;
let clients: HttpClient[] = [];
let delays: number[] = [];

beforeEach(async () => {
  server = await startLoopbackServer();
  delays = [];
});
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await server.close();
});

/** A budget that never waits, so back-offs asked by the server do not slow the tests down. */
function openBudget(): RateBudget {
  return { acquire: () => Promise.resolve(() => {}), backOff: () => {} };
}

function client(options: Partial<HttpClientOptions> = {}): HttpClient {
  const c = new HttpClient({
    system: 'testsys',
    baseUrl: server.url,
    timeoutMs: 2_000,
    guard: () => {},
    // Record the delays the client asks for instead of waiting them: no timing in unit tests.
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
    ...options,
  });
  clients.push(c);
  return c;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('HttpClient', () => {
  it('sends JSON with the configured headers and returns the answer', async () => {
    server.handle((req, res) => json(res, 201, { got: JSON.parse(req.body) as unknown, path: req.url }));
    const response = await client({ headers: { authorization: 'token abc' } }).request({
      method: 'POST',
      path: 'ticket',
      query: { a: 1, b: undefined },
      json: { Subject: 'x' },
    });
    expect(response.status).toBe(201);
    expect(response.json()).toEqual({ got: { Subject: 'x' }, path: '/api/ticket?a=1' });
    expect(server.received[0]!.headers.authorization).toBe('token abc');
    expect(server.received[0]!.headers['content-type']).toBe('application/json');
    expect(response.attempts).toBe(1);
  });

  it('retries a 503 after the Retry-After seconds and tells the rate budget to back off', async () => {
    const backOffs: number[] = [];
    const inner = new TokenBucketRateBudget();
    const budget: RateBudget = {
      acquire: (p, s) => inner.acquire(p, s),
      backOff: (ms) => {
        backOffs.push(ms);
      },
    };
    server.handle((_req, res, i) =>
      i === 0 ? json(res, 503, {}, { 'retry-after': '2' }) : json(res, 200, { ok: 1 }),
    );
    const response = await client({ rateBudget: budget }).request({ method: 'POST', path: 'x' });
    expect(response.attempts).toBe(2);
    expect(backOffs).toEqual([2000]);
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(2000);
    expect(delays[0]).toBeLessThan(2000 + 200);
  });

  it('honours Retry-After given as an HTTP date on 429', async () => {
    const at = new Date(Date.now() + 5_000).toUTCString();
    server.handle((_req, res, i) =>
      i === 0 ? json(res, 429, {}, { 'retry-after': at }) : json(res, 200, {}),
    );
    await client({ rateBudget: openBudget() }).request({ method: 'GET', path: 'x' });
    expect(delays).toHaveLength(1);
    // HTTP dates have 1 s resolution: the delay is within a second below five.
    expect(delays[0]).toBeGreaterThan(3_000);
    expect(delays[0]).toBeLessThanOrEqual(5_200);
  });

  it('hands a Retry-After longer than maxRetryAfterMs back to the caller instead of waiting', async () => {
    server.handle((_req, res) => json(res, 503, {}, { 'retry-after': '120' }));
    const error = await failure(client().request({ method: 'GET', path: 'x' }));
    expect(error).toBeInstanceOf(ConnectorUnavailableError);
    expect((error as ConnectorUnavailableError).retryAfterMs).toBe(120_000);
    expect((error as ConnectorUnavailableError).ambiguous).toBe(false);
    expect(server.received).toHaveLength(1);
  });

  it('does not retry a 4xx and reports it as rejected with the body as detail', async () => {
    server.handle((_req, res) => json(res, 422, { message: 'Subject required' }));
    const error = await failure(client().request({ method: 'GET', path: 'x' }));
    expect(error).toBeInstanceOf(ConnectorRequestRejectedError);
    expect((error as ConnectorRequestRejectedError).retryable).toBe(false);
    expect((error as ConnectorRequestRejectedError).message).toContain('Subject required');
    expect(server.received).toHaveLength(1);
  });

  it('returns an accepted non-2xx status instead of throwing', async () => {
    server.handle((_req, res) => json(res, 404, { message: 'no ticket' }));
    const response = await client().request({ method: 'GET', path: 'ticket/9', accept: [404] });
    expect(response.status).toBe(404);
  });

  it('reports 401 as an authentication failure, not retried', async () => {
    server.handle((_req, res) => json(res, 401, {}));
    const error = await failure(client().request({ method: 'GET', path: 'x' }));
    expect(error).toBeInstanceOf(ConnectorAuthFailedError);
    expect(server.received).toHaveLength(1);
  });

  it('retries a 500 on an idempotent request with growing backoff, and gives up after maxAttempts', async () => {
    server.handle((_req, res) => json(res, 500, {}));
    const error = await failure(
      client({ retry: { maxAttempts: 4, baseDelayMs: 100 } }).request({ method: 'GET', path: 'x' }),
    );
    expect(error).toBeInstanceOf(ConnectorUnavailableError);
    expect(server.received).toHaveLength(4);
    // full jitter with random() = 0.5: half of 100, 200, 400
    expect(delays).toEqual([50, 100, 200]);
  });

  it('does not retry a 500 on a write: the effect is unknown', async () => {
    server.handle((_req, res) => json(res, 500, {}));
    const error = await failure(client().request({ method: 'POST', path: 'x' }));
    expect(error).toBeInstanceOf(ConnectorUnavailableError);
    expect((error as ConnectorUnavailableError).ambiguous).toBe(true);
    expect(server.received).toHaveLength(1);
  });

  it('reports a timed-out write as ambiguous and does not send it again', async () => {
    server.handle(() => {
      /* never answers */
    });
    const error = await failure(client({ timeoutMs: 100 }).request({ method: 'POST', path: 'x', json: {} }));
    expect(error).toBeInstanceOf(ConnectorTimeoutError);
    expect((error as ConnectorTimeoutError).ambiguous).toBe(true);
    expect((error as ConnectorTimeoutError).delivery).toBe(DELIVERY.unknown);
    expect(server.received).toHaveLength(1);
  });

  it('sends the Idempotency-Key header and retries such a write after a timeout', async () => {
    server.handle((_req, res, i) => {
      if (i >= 1) json(res, 201, { id: 'x' });
    });
    const response = await client({ timeoutMs: 100 }).request({
      method: 'POST',
      path: 'x',
      json: {},
      idempotencyKey: 'k-1',
    });
    expect(response.attempts).toBe(2);
    expect(server.received.map((r) => r.headers['idempotency-key'])).toEqual(['k-1', 'k-1']);
  });

  it('retries a timed-out read', async () => {
    server.handle((_req, res, i) => {
      if (i >= 2) json(res, 200, { ok: true });
    });
    const response = await client({ timeoutMs: 100 }).request({ method: 'GET', path: 'x' });
    expect(response.attempts).toBe(3);
    expect(server.received).toHaveLength(3);
  });

  it('retries a refused connection even for a write: nothing was sent', async () => {
    const url = server.url;
    await server.close();
    server = await startLoopbackServer(); // a live one for afterEach; the client targets the closed port
    const error = await failure(
      client({ baseUrl: url, retry: { maxAttempts: 3 } }).request({ method: 'POST', path: 'x' }),
    );
    expect(error).toBeInstanceOf(ConnectorUnavailableError);
    expect((error as ConnectorUnavailableError).delivery).toBe(DELIVERY.notSent);
    expect((error as ConnectorUnavailableError).retryable).toBe(true);
    expect(delays).toHaveLength(2);
  });

  it('opens the circuit after repeated failures, fails fast, and closes after a successful trial', async () => {
    let healthy = false;
    server.handle((_req, res) => (healthy ? json(res, 200, {}) : json(res, 502, {})));
    const c = client({
      retry: { maxAttempts: 1 },
      circuit: { volumeThreshold: 3, errorThresholdPercentage: 50, resetMs: 150 },
    });
    for (let i = 0; i < 3; i++) await failure(c.request({ method: 'GET', path: 'x' }));
    expect(c.circuitState).toBe('open');
    const rejected = await failure(c.request({ method: 'GET', path: 'x' }));
    expect(rejected).toBeInstanceOf(ConnectorCircuitOpenError);
    expect((rejected as ConnectorCircuitOpenError).retryAfterMs).toBeGreaterThan(0);
    expect((rejected as ConnectorCircuitOpenError).ambiguous).toBe(false);
    expect(server.received).toHaveLength(3);
    healthy = true;
    await new Promise((r) => setTimeout(r, 200));
    await c.request({ method: 'GET', path: 'x' });
    expect(c.circuitState).toBe('closed');
  });

  it('does not count rejected requests (4xx) against the circuit', async () => {
    server.handle((_req, res) => json(res, 404, {}));
    const c = client({ circuit: { volumeThreshold: 2, resetMs: 10_000 } });
    for (let i = 0; i < 5; i++) await failure(c.request({ method: 'GET', path: 'x' }));
    expect(c.circuitState).toBe('closed');
    expect(server.received).toHaveLength(5);
  });

  it('propagates the current trace as a child span, or starts a new trace', async () => {
    const c = client();
    const parent = newTraceContext();
    await withTraceContext(parent, () => c.request({ method: 'GET', path: 'x' }));
    await c.request({ method: 'GET', path: 'y' });
    await c.request({ method: 'GET', path: 'z' });
    const [inTrace, fresh1, fresh2] = server.received.map((r) =>
      parseTraceparent(r.headers.traceparent as string),
    );
    expect(inTrace!.traceId).toBe(parent.traceId);
    expect(inTrace!.spanId).not.toBe(parent.spanId);
    expect(fresh1).toBeDefined();
    expect(fresh1!.traceId).not.toBe(parent.traceId);
    expect(fresh1!.traceId).not.toBe(fresh2!.traceId);
  });

  it('keeps requests in flight within the rate budget', async () => {
    server.handle((_req, res) => {
      setTimeout(() => json(res, 200, {}), 30);
    });
    const c = client({ rateBudget: new TokenBucketRateBudget({ ratePerSecond: 1000, maxInFlight: 2 }) });
    await Promise.all(Array.from({ length: 8 }, () => c.request({ method: 'GET', path: 'x' })));
    expect(server.received).toHaveLength(8);
    expect(server.concurrency.max).toBe(2);
  });

  it('refuses to send when the guard refuses (no network call inside a store transaction)', async () => {
    const c = client({
      guard: (what) => {
        throw new Error(`refused ${what}`);
      },
    });
    await expect(c.request({ method: 'GET', path: 'x' })).rejects.toThrow(/refused HTTP GET testsys/);
    expect(server.received).toHaveLength(0);
  });

  it('uses the store guard by default', async () => {
    const { openStore } = await import('../../src/store/index.ts');
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-'));
    const store = await openStore({ dialect: 'sqlite', sqlite: { path: path.join(dir, 'db.sqlite') } });
    const c = new HttpClient({ system: 'testsys', baseUrl: server.url });
    clients.push(c);
    try {
      const error = await failure(store.transaction(() => c.request({ method: 'GET', path: 'x' })));
      expect((error as { code?: string }).code).toBe('STORE_IO_IN_TRANSACTION');
      expect(server.received).toHaveLength(0);
      await c.request({ method: 'GET', path: 'x' });
      expect(server.received).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('rejects with the caller abort reason, not a connector error', async () => {
    server.handle(() => {});
    const controller = new AbortController();
    const pending = client().request({ method: 'GET', path: 'x', signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutting down')), 20);
    await expect(pending).rejects.toThrow('shutting down');
  });

  it('fails an answer larger than maxResponseBytes', async () => {
    server.handle((_req, res) => {
      res.writeHead(200).end('x'.repeat(5000));
    });
    const error = await failure(
      client({ maxResponseBytes: 1000, retry: { maxAttempts: 1 } }).request({ method: 'GET', path: 'x' }),
    );
    expect(error).toBeInstanceOf(ConnectorUnavailableError);
  });

  it('counts attempts by outcome on the given registry, shared by several clients', async () => {
    const registry = new Registry();
    server.handle((_req, res, i) => json(res, i === 0 ? 503 : 200, {}));
    await client({ metrics: registry, rateBudget: openBudget() }).request({ method: 'GET', path: 'x' });
    client({ metrics: registry, system: 'other' }); // registering twice must not throw
    const text = await registry.metrics();
    expect(text).toContain(
      'crossdock_connector_http_requests_total{system="testsys",method="GET",outcome="503"} 1',
    );
    expect(text).toContain(
      'crossdock_connector_http_requests_total{system="testsys",method="GET",outcome="200"} 1',
    );
    expect(text).toContain(
      'crossdock_connector_http_retries_total{system="testsys",reason="CONNECTOR_UNAVAILABLE"} 1',
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and ignores garbage', () => {
    const now = Date.parse('Fri, 27 Nov 2026 16:00:00 GMT');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 16:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 15:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
