// The one HTTP client every connector talks through (undici). Per request: the store guard (no network
// call inside a store transaction), a slot from the target system's rate budget, the circuit breaker,
// a timeout, a W3C `traceparent`, then the answer mapped to a typed error. Failures that can succeed
// later are retried with exponential backoff and full jitter, honouring `Retry-After`; a write is
// retried only when it certainly was not applied (a timed-out write is AMBIGUOUS and goes back to the
// caller, who checks the effect before sending it again).
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { assertNotInTransaction } from '../../store/index.ts';
import type { Logger } from '../../telemetry/index.ts';
import {
  ConnectorAuthFailedError,
  ConnectorCircuitOpenError,
  ConnectorError,
  ConnectorRequestRejectedError,
  ConnectorTimeoutError,
  ConnectorUnavailableError,
  DELIVERY,
} from '../errors.ts';
import {
  CircuitRejection,
  createCircuitBreaker,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
} from './circuit-breaker.ts';
import { abortReason, TokenBucketRateBudget, type Priority, type RateBudget } from './rate-budget.ts';
import {
  childTraceContext,
  currentTraceContext,
  formatTraceparent,
  newTraceContext,
} from './trace-context.ts';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface RetryOptions {
  /** Attempts in all, the first included (default 4; 1 disables retries). */
  readonly maxAttempts?: number;
  /** Backoff cap before the first retry, in ms (default 200); doubles each retry, full jitter. */
  readonly baseDelayMs?: number;
  /** Largest backoff between two attempts, in ms (default 10000). */
  readonly maxDelayMs?: number;
  /** Longest `Retry-After` waited in process, in ms (default 30000). A longer one ends the request
   * with the error's `retryAfterMs` set, so the engine schedules the retry durably instead. */
  readonly maxRetryAfterMs?: number;
}

export interface HttpClientOptions {
  /** Target system name, used in errors, logs and metric labels, e.g. `tryton`. */
  readonly system: string;
  /** Base URL, e.g. `http://127.0.0.1:8000/tryton/`; request paths are resolved against it. */
  readonly baseUrl: string;
  /** Time for one attempt (connect, send, full answer), in ms (default 10000). */
  readonly timeoutMs?: number;
  /** Headers sent with every request (e.g. `Authorization`); never logged. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly retry?: RetryOptions;
  /** The target system's budget (default: a `TokenBucketRateBudget` with its defaults, 10/s, 4 in flight). */
  readonly rateBudget?: RateBudget;
  /** Circuit breaker settings, or `false` for none (default: `CircuitBreakerOptions` defaults). */
  readonly circuit?: Omit<CircuitBreakerOptions, 'isFailure' | 'onStateChange'> | false;
  /** Largest answer body read, in bytes (default 33554432 = 32 MiB); larger answers fail. */
  readonly maxResponseBytes?: number;
  readonly logger?: Logger;
  /** Registry for `crossdock_connector_http_*` metrics (none when absent). */
  readonly metrics?: Registry;
  /** Called before each attempt; throws to refuse (default: the store's `assertNotInTransaction`). */
  readonly guard?: (what: string) => void;
  /** undici dispatcher (default: a keep-alive Agent owned and closed by this client). */
  readonly dispatcher?: Dispatcher;
  /** Waits between attempts (default: a timer honouring the request's signal); tests record delays. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1) (default `Math.random`). */
  readonly random?: () => number;
}

export interface HttpRequest {
  readonly method: HttpMethod;
  /** Path relative to `baseUrl` (a leading `/` is relative to the base path too). */
  readonly path: string;
  /** Query parameters; `undefined` values are left out, arrays repeat the parameter. */
  readonly query?: Readonly<
    Record<string, string | number | boolean | readonly (string | number)[] | undefined>
  >;
  readonly headers?: Readonly<Record<string, string>>;
  /** Body sent as JSON (sets `Content-Type: application/json`). */
  readonly json?: unknown;
  /** Raw body, when not JSON. */
  readonly body?: string | Buffer;
  /** Sent as the `Idempotency-Key` header, for systems that deduplicate by it; such a request is
   * then safe to send again after a timeout, so it is treated as idempotent. */
  readonly idempotencyKey?: string;
  /** Whether sending it twice is harmless (default: true for GET, HEAD, PUT, DELETE, and for any
   * request with an `idempotencyKey`). Only
   * idempotent requests are retried after a timeout, a reset connection or a 500/502/504. */
  readonly idempotent?: boolean;
  /** Overrides the client's `timeoutMs` for this request. */
  readonly timeoutMs?: number;
  /** Overrides the client's retry attempts for this request (1 = no retry). */
  readonly maxAttempts?: number;
  /** Rate budget priority (default `normal`). */
  readonly priority?: Priority;
  readonly signal?: AbortSignal;
  /** Statuses besides 2xx returned to the caller instead of thrown, e.g. `[404]`. */
  readonly accept?: readonly number[];
  /** Name in errors and logs (default `METHOD path`); give one when the path holds ids or secrets. */
  readonly operation?: string;
}

export interface HttpResponse {
  readonly status: number;
  /** Header names lower-cased; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Attempts made, 1 when the first one answered. */
  readonly attempts: number;
  text(): string;
  /** Parses the body as JSON; throws a SyntaxError when it is not. */
  json<T = unknown>(): T;
}

const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Parses `Retry-After` (delay in seconds, or an HTTP date) into ms from `now`; undefined if invalid. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function errorCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

interface Metrics {
  readonly requests: Counter<'system' | 'method' | 'outcome'>;
  readonly duration: Histogram<'system' | 'method'>;
  readonly retries: Counter<'system' | 'reason'>;
  readonly circuit: Gauge<'system'>;
}

function metricsOn(registry: Registry): Metrics {
  // Several clients (one per system) share a registry: register each metric once.
  const get = <M>(name: string, make: () => M): M =>
    (registry.getSingleMetric(name) as M | undefined) ?? make();
  return {
    requests: get(
      'crossdock_connector_http_requests_total',
      () =>
        new Counter({
          name: 'crossdock_connector_http_requests_total',
          help: 'HTTP attempts to connected systems, by outcome (status code or error code)',
          labelNames: ['system', 'method', 'outcome'] as const,
          registers: [registry],
        }),
    ),
    duration: get(
      'crossdock_connector_http_request_duration_seconds',
      () =>
        new Histogram({
          name: 'crossdock_connector_http_request_duration_seconds',
          help: 'Duration of one HTTP attempt to a connected system, rate-budget wait excluded',
          labelNames: ['system', 'method'] as const,
          buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers: [registry],
        }),
    ),
    retries: get(
      'crossdock_connector_http_retries_total',
      () =>
        new Counter({
          name: 'crossdock_connector_http_retries_total',
          help: 'Retries of HTTP requests to connected systems, by error code',
          labelNames: ['system', 'reason'] as const,
          registers: [registry],
        }),
    ),
    circuit: get(
      'crossdock_connector_circuit_state',
      () =>
        new Gauge({
          name: 'crossdock_connector_circuit_state',
          help: 'Circuit breaker state per system: 0 closed, 1 half-open, 2 open',
          labelNames: ['system'] as const,
          registers: [registry],
        }),
    ),
  };
}

const CIRCUIT_GAUGE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

export class HttpClient {
  readonly system: string;
  readonly baseUrl: URL;
  readonly rateBudget: RateBudget;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly maxResponseBytes: number;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly breaker: CircuitBreaker | undefined;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly guard: (what: string) => void;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly logger: Logger | undefined;
  private readonly metrics: Metrics | undefined;

  constructor(options: HttpClientOptions) {
    this.system = options.system;
    this.baseUrl = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxAttempts = Math.max(1, options.retry?.maxAttempts ?? 4);
    this.baseDelayMs = options.retry?.baseDelayMs ?? 200;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 10_000;
    this.maxRetryAfterMs = options.retry?.maxRetryAfterMs ?? 30_000;
    this.maxResponseBytes = options.maxResponseBytes ?? 32 * 1024 * 1024;
    this.headers = options.headers ?? {};
    this.rateBudget = options.rateBudget ?? new TokenBucketRateBudget();
    this.guard = options.guard ?? assertNotInTransaction;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.logger = options.logger;
    this.metrics = options.metrics ? metricsOn(options.metrics) : undefined;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher =
      options.dispatcher ?? new Agent({ keepAliveTimeout: 4_000, keepAliveMaxTimeout: 60_000 });
    this.metrics?.circuit.set({ system: this.system }, 0);
    this.breaker =
      options.circuit === false
        ? undefined
        : createCircuitBreaker({
            ...options.circuit,
            // Only the system's own failures count: a rejected request (4xx) or a refused login says
            // nothing about the system's health, and 429 is handled by the rate budget.
            isFailure: (error) =>
              (error instanceof ConnectorTimeoutError || error instanceof ConnectorUnavailableError) &&
              (error as ConnectorError & { context: { httpStatus?: number } }).context.httpStatus !== 429,
            onStateChange: (state) => {
              this.metrics?.circuit.set({ system: this.system }, CIRCUIT_GAUGE[state]);
              this.logger?.warn({ system: this.system, circuit: state }, 'circuit breaker state changed');
            },
          });
  }

  /** Current circuit state (`closed` when the breaker is disabled). */
  get circuitState(): CircuitState {
    return this.breaker?.state ?? 'closed';
  }

  /** The URL a request path resolves to (without query). */
  url(path: string): URL {
    return new URL(path.replace(/^\/+/, ''), this.baseUrl);
  }

  /**
   * Sends a request, retrying what can be retried. Resolves with 2xx (or an `accept`ed status);
   * otherwise rejects with a `ConnectorError` (`ConnectorTimeoutError`, `ConnectorUnavailableError`,
   * `ConnectorRequestRejectedError`, `ConnectorAuthFailedError`, `ConnectorCircuitOpenError`), or
   * with the abort reason when `request.signal` aborts.
   */
  async request(request: HttpRequest): Promise<HttpResponse> {
    const idempotent =
      request.idempotent ??
      (request.idempotencyKey !== undefined || (request.method !== 'POST' && request.method !== 'PATCH'));
    const maxAttempts = Math.max(1, request.maxAttempts ?? this.maxAttempts);
    const operation = request.operation ?? `${request.method} ${this.url(request.path).pathname}`;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(request, operation, attempt);
      } catch (error) {
        if (!(error instanceof ConnectorError)) throw error; // aborted by the caller, or a guard refusal
        const retryAfterMs = error.retryAfterMs;
        const canRetry =
          error.retryable &&
          !(error instanceof ConnectorCircuitOpenError) &&
          attempt < maxAttempts &&
          (idempotent || !error.ambiguous) &&
          (retryAfterMs === undefined || retryAfterMs <= this.maxRetryAfterMs);
        if (!canRetry) throw error;
        const backoff = this.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        const delay = Math.round(
          retryAfterMs === undefined ? backoff : retryAfterMs + this.random() * this.baseDelayMs,
        );
        this.metrics?.retries.inc({ system: this.system, reason: error.code });
        this.logger?.debug(
          { system: this.system, operation, attempt, delayMs: delay, code: error.code },
          'retrying request',
        );
        await this.sleep(delay, request.signal);
      }
    }
  }

  private async attempt(request: HttpRequest, operation: string, attempt: number): Promise<HttpResponse> {
    this.guard(`HTTP ${request.method} ${this.system} ${operation}`);
    const release = await this.rateBudget.acquire(request.priority ?? 'normal', request.signal);
    try {
      if (this.breaker === undefined) return await this.exchange(request, operation, attempt);
      return await this.breaker.run(() => this.exchange(request, operation, attempt));
    } catch (error) {
      if (error instanceof CircuitRejection) {
        throw new ConnectorCircuitOpenError(
          { system: this.system, operation },
          { retryAfterMs: error.retryAfterMs },
        );
      }
      throw error;
    } finally {
      release();
    }
  }

  private async exchange(request: HttpRequest, operation: string, attempt: number): Promise<HttpResponse> {
    const url = this.url(request.path);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (Array.isArray(value))
        for (const v of value as (string | number)[]) url.searchParams.append(key, String(v));
      else if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const trace = childTraceContext(currentTraceContext() ?? newTraceContext());
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...this.headers,
      ...request.headers,
      traceparent: formatTraceparent(trace),
    };
    if (trace.traceState !== undefined) headers.tracestate = trace.traceState;
    if (request.idempotencyKey !== undefined) headers['idempotency-key'] = request.idempotencyKey;
    let body: string | Buffer | undefined = request.body;
    if (request.json !== undefined) {
      body = JSON.stringify(request.json);
      headers['content-type'] ??= 'application/json';
    }
    const timeoutMs = request.timeoutMs ?? this.timeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onCallerAbort = () => controller.abort();
    request.signal?.addEventListener('abort', onCallerAbort, { once: true });
    const started = performance.now();
    const context = { system: this.system, operation };
    let outcome = 'error';
    try {
      let status: number;
      let responseHeaders: Record<string, string>;
      let buffer: Buffer;
      try {
        const response = await undiciRequest(url, {
          method: request.method,
          headers,
          body,
          signal: controller.signal,
          dispatcher: this.dispatcher,
        });
        status = response.statusCode;
        responseHeaders = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) responseHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        buffer = await this.readBody(response.body, controller, operation);
      } catch (error) {
        if (request.signal?.aborted) throw abortReason(request.signal);
        if (timedOut) {
          outcome = 'timeout';
          throw new ConnectorTimeoutError({ ...context, timeoutMs }, { cause: error });
        }
        if (error instanceof ConnectorError) throw error;
        const code = errorCode(error) ?? 'UNKNOWN';
        outcome = code;
        const delivery = NOT_SENT_CODES.has(code) ? DELIVERY.notSent : DELIVERY.unknown;
        throw new ConnectorUnavailableError({ ...context, reason: `connection failed (${code})` }, delivery, {
          cause: error,
        });
      }
      outcome = String(status);
      if ((status >= 200 && status < 300) || request.accept?.includes(status)) {
        return {
          status,
          headers: responseHeaders,
          body: buffer,
          attempts: attempt,
          text: () => buffer.toString('utf8'),
          json: <T>() => JSON.parse(buffer.toString('utf8')) as T,
        };
      }
      throw this.statusError(status, responseHeaders, buffer, context);
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onCallerAbort);
      this.metrics?.requests.inc({ system: this.system, method: request.method, outcome });
      this.metrics?.duration.observe(
        { system: this.system, method: request.method },
        (performance.now() - started) / 1000,
      );
    }
  }

  private async readBody(
    body: AsyncIterable<Buffer>,
    controller: AbortController,
    operation: string,
  ): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += chunk.length;
      if (size > this.maxResponseBytes) {
        controller.abort();
        throw new ConnectorUnavailableError(
          { system: this.system, operation, reason: `answer larger than ${this.maxResponseBytes} bytes` },
          DELIVERY.answered,
        );
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  private statusError(
    status: number,
    headers: Readonly<Record<string, string>>,
    body: Buffer,
    context: { system: string; operation: string },
  ): ConnectorError {
    const detail = body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 300);
    if (status === 401 || status === 403) {
      return new ConnectorAuthFailedError({
        ...context,
        httpStatus: status,
        detail: detail || `HTTP ${status}`,
      });
    }
    if (status === 429 || status === 503 || status === 408) {
      // The system refused the request without acting on it: safe to send again, after its delay.
      const retryAfterMs = parseRetryAfter(headers['retry-after']);
      if (status !== 408) {
        const pause = retryAfterMs ?? this.baseDelayMs * (1 + this.random());
        this.rateBudget.backOff(Math.min(pause, this.maxRetryAfterMs));
      }
      return new ConnectorUnavailableError(
        { ...context, httpStatus: status, reason: `HTTP ${status}` },
        DELIVERY.answered,
        retryAfterMs === undefined ? {} : { retryAfterMs },
      );
    }
    if (status >= 500) {
      // 500/502/504 may come after the system acted (or from a proxy that lost the answer).
      return new ConnectorUnavailableError(
        { ...context, httpStatus: status, reason: `HTTP ${status} ${detail}`.trim() },
        DELIVERY.unknown,
      );
    }
    return new ConnectorRequestRejectedError({
      ...context,
      httpStatus: status,
      detail: detail || `HTTP ${status}`,
    });
  }

  /** Stops the breaker's timers and closes connections this client opened. */
  async close(): Promise<void> {
    this.breaker?.close();
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}
