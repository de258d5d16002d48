// The HTTP service. `buildApp(deps)` returns a Fastify instance without listening, so tests use
// `app.inject()`. It owns what every route shares: auth and scopes, correlation ids, problem+json
// errors, request metrics, the public health/readiness/metrics/OpenAPI endpoints. Parts add their
// routes as plugins chosen by the composition root.
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyRequest,
} from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Histogram } from 'prom-client';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { CrossdockConfig, Scope } from '../config/index.ts';
import {
  CrossdockError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeDef,
  PROBLEM_CONTENT_TYPE,
  ServiceUnavailableError,
  UnauthenticatedError,
  ValidationFailedError,
  asCrossdockError,
  toProblem,
} from '../errors/index.ts';
import type { Logger, MetricsRegistry } from '../telemetry/index.ts';
import { hasScope, presentedKey, type ApiKeyAuthenticator, type Principal } from './auth.ts';
import { correlationIdFrom } from './correlation.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; set by the auth hook on every non-public route. */
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Scope the route requires (`admin` satisfies every scope). Routes without one require `admin`. */
    scope?: Scope;
    /** Public routes skip API-key auth (health, readiness, metrics, OpenAPI, signed inbound hooks). */
    public?: boolean;
  }
}

export interface ReadinessCheck {
  /** Dependency name shown in `/ready`, e.g. `store`. */
  readonly name: string;
  /** Resolves when the dependency is reachable; rejects with the reason otherwise. */
  check(): Promise<void>;
}

export interface RoutePlugin {
  // The options type differs per plugin; the composition root pairs each plugin with its options.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly plugin: FastifyPluginAsync<any>;
  readonly options?: object;
}

export interface AppDeps {
  readonly config: CrossdockConfig;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  readonly authenticator: ApiKeyAuthenticator;
  /** Checked by `GET /ready`, each with a time limit. */
  readonly readiness?: readonly ReadinessCheck[];
  /** Route plugins of the parts, registered after the shared hooks. */
  readonly plugins?: readonly RoutePlugin[];
  /** Version reported by `/health` and OpenAPI. */
  readonly version: string;
  /** True once shutdown has begun; `/ready` then answers 503. */
  readonly isShuttingDown?: () => boolean;
}

/** How long one readiness check may take, in ms. */
const READINESS_TIMEOUT_MS = 2_000;

function sameSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

function withTimeout(promise: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function fromFastifyError(error: FastifyError): CrossdockError | undefined {
  if (error.validation) {
    const errors = error.validation.map((v) => ({
      pointer: `${error.validationContext ? `/${error.validationContext}` : ''}${v.instancePath}`,
      message: v.message ?? 'invalid',
    }));
    return new ValidationFailedError(error.message, errors);
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new CrossdockError(PayloadTooLargeDef, 'request body is larger than server.bodyLimitBytes');
  }
  if (
    error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ||
    error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
    error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
    (error.statusCode === 400 && error instanceof SyntaxError)
  ) {
    return new ValidationFailedError(error.message, [{ pointer: '/body', message: error.message }]);
  }
  return undefined;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, logger, metrics, authenticator } = deps;
  const app = Fastify({
    loggerInstance: logger,
    // One log line per request is written by the onResponse hook below, with the correlation id.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'correlationId' }),
    genReqId: (req) => correlationIdFrom(req.headers),
    bodyLimit: config.server.bodyLimitBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
  });

  const duration = new Histogram({
    name: 'crossdock_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [metrics],
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Crossdock API',
        version: deps.version,
        description:
          'Governed API of Crossdock. Authenticate with `Authorization: Bearer <api key>`. Errors are RFC 9457 problem+json.',
      },
      components: {
        securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: false } });

  app.addHook('onRoute', (route) => {
    // The swagger UI's own routes are public documentation.
    if (route.url.startsWith('/docs')) route.config = { ...(route.config ?? {}), public: true };
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-correlation-id', request.id);
    const routeConfig = request.routeOptions.config;
    if (routeConfig.public === true) return;
    if (request.routeOptions.url === undefined) return; // unknown route: the not-found handler answers
    const key = presentedKey(request.headers);
    if (key === undefined)
      throw new UnauthenticatedError('missing API key: send Authorization: Bearer <key>');
    const principal = authenticator.authenticate(key);
    if (principal === undefined) throw new UnauthenticatedError('unknown API key');
    const scope = routeConfig.scope ?? 'admin';
    if (!hasScope(principal, scope)) {
      throw new ForbiddenError(`this route requires scope ${scope}`, { scope, keyId: principal.keyId });
    }
    request.principal = principal;
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    duration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    const line = {
      method: request.method,
      url: request.url.split('?')[0],
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      keyId: request.principal?.keyId,
    };
    if (request.routeOptions.config.public === true && reply.statusCode < 400)
      request.log.debug(line, 'request');
    else request.log.info(line, 'request');
  });

  app.setErrorHandler(async (error: FastifyError, request: FastifyRequest, reply) => {
    const known = fromFastifyError(error) ?? asCrossdockError(error);
    if (known.status >= 500) request.log.error({ err: error }, 'request failed');
    if (known.retryAfterMs !== undefined) {
      void reply.header('retry-after', String(Math.ceil(known.retryAfterMs / 1000)));
    }
    return reply
      .code(known.status)
      .type(PROBLEM_CONTENT_TYPE)
      .send(toProblem(known, request.url.split('?')[0], request.id));
  });

  app.setNotFoundHandler(async (request, reply) => {
    const error = new NotFoundError(`route ${request.method} ${request.url.split('?')[0]}`);
    return reply
      .code(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send(toProblem(error, request.url, request.id));
  });

  app.get('/health', { config: { public: true }, schema: { hide: true } }, async () => ({
    status: 'ok',
    version: deps.version,
  }));

  app.get('/ready', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => {
    if (deps.isShuttingDown?.() === true) {
      throw new ServiceUnavailableError('shutting down', { retryAfterMs: 5_000 });
    }
    const checks = await Promise.all(
      (deps.readiness ?? []).map(async (c) => {
        try {
          await withTimeout(c.check(), READINESS_TIMEOUT_MS, c.name);
          return { name: c.name, ok: true as const };
        } catch (error) {
          return { name: c.name, ok: false as const, reason: (error as Error).message };
        }
      }),
    );
    const ready = checks.every((c) => c.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });

  app.get('/metrics', { config: { public: true }, schema: { hide: true } }, async (request, reply) => {
    const token = config.metrics.token;
    if (token !== undefined) {
      const presented = presentedKey(request.headers);
      if (presented === undefined || !sameSecret(presented, token)) {
        throw new UnauthenticatedError('metrics require Authorization: Bearer <metrics.token>');
      }
    }
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/v1/whoami',
    {
      config: { scope: 'entities:read' },
      schema: {
        summary: 'The caller as Crossdock sees it: key id, tenants and scopes',
        tags: ['meta'],
        response: {
          200: {
            type: 'object',
            properties: {
              keyId: { type: 'string' },
              tenants: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
              scopes: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
    async (request) => request.principal,
  );

  for (const { plugin, options } of deps.plugins ?? []) await app.register(plugin, options ?? {});
  // Fastify types the instance by its logger; callers only need the base logger interface.
  return app as unknown as FastifyInstance;
}
