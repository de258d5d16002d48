// The HTTP shell every sandbox system runs in: Fastify on loopback, an API-key check in the
// system's own header, the fault injector in front of every API route, and the admin routes
// under `/_sandbox/` (faults, clock, webhook deliveries) that tests and the demo use to steer it.
// A system registers its own routes; this file knows nothing of orders or cases.
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { SandboxClock } from './clock.ts';
import { SandboxFaultsInvalidError } from './errors.ts';
import { FaultInjector, type FaultConfig } from './faults.ts';
import type { WebhookDispatcher } from './webhook-dispatcher.ts';

export interface SandboxAuth {
  /** Header carrying the key, lower case (e.g. `x-api-key`, `authorization`). */
  readonly header: string;
  /** Scheme before the key in that header (e.g. `Bearer`); unset means the bare key. */
  readonly scheme?: string;
  readonly apiKey: string;
}

/** Renders an error in the system's own response format. */
export type ErrorRenderer = (status: number, code: string, message: string) => unknown;

export interface SandboxServerOptions {
  /** System name for logs and admin output (`erp`, `helpdesk`, ...). */
  readonly name: string;
  readonly auth: SandboxAuth;
  readonly clock: SandboxClock;
  readonly faults?: FaultConfig;
  /** Seed of the fault injector's random decisions (default 1). */
  readonly seed?: number;
  readonly renderError: ErrorRenderer;
  /** Extra admin state for `GET /_sandbox/state`. */
  readonly describe?: () => unknown;
}

/**
 * An answer a simulated system gives in its own API (404 unknown order, 409 wrong state, ...).
 * It stays inside the sandbox: the error handler renders it in the system's format, so it is not a
 * CrossdockError and has no code in the registry.
 */
export class SandboxHttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SandboxHttpError';
  }
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class SandboxServer {
  readonly app: FastifyInstance;
  readonly faults: FaultInjector;
  /** The system's outbound webhooks, once it has created them on this server's fault injector. */
  webhooks: WebhookDispatcher | undefined;
  private port = 0;
  private host = '127.0.0.1';
  private listening = false;
  private stopping = false;
  private readonly pendingDelays = new Set<AbortController>();
  private outageTransition: Promise<void> = Promise.resolve();

  constructor(private readonly options: SandboxServerOptions) {
    this.faults = new FaultInjector(options.faults ?? {}, options.seed ?? 1);
    this.app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 5 * 1024 * 1024 });
    this.installHooks();
    this.installAdminRoutes();
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Starts listening on `port` (0 picks a free one); resolves with the base URL. */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await this.app.listen({ port, host });
    const address = this.app.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : port;
    this.host = host;
    this.listening = true;
    this.faults.onOutage(({ down }) => {
      // A failed reopen (port taken meanwhile) must not become an unhandled rejection; the next
      // transition or stop() tries to listen again.
      this.outageTransition = this.outageTransition.then(() => this.setRefusing(down)).catch(() => undefined);
    });
    return this.url;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.faults.dispose();
    this.webhooks?.stop();
    for (const controller of this.pendingDelays) controller.abort();
    await this.outageTransition;
    if (!this.listening) {
      // The listener was closed by a `refuse` outage; reopen it so Fastify can close cleanly.
      await new Promise<void>((resolve) => this.app.server.listen(this.port, this.host, () => resolve()));
    }
    await this.app.close();
  }

  /** Waits `ms`, or less if the server stops meanwhile. */
  async pause(ms: number): Promise<void> {
    if (ms <= 0) return;
    const controller = new AbortController();
    this.pendingDelays.add(controller);
    try {
      await sleep(ms, undefined, { signal: controller.signal });
    } catch {
      // Aborted by stop(): the caller carries on and answers at once.
    } finally {
      this.pendingDelays.delete(controller);
    }
  }

  private async setRefusing(down: boolean): Promise<void> {
    if (this.stopping) return;
    const server = this.app.server;
    if (down && this.listening) {
      this.listening = false;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    } else if (!down && !this.listening) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.port, this.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.listening = true;
    }
  }

  private authorised(request: FastifyRequest): boolean {
    const { header, scheme, apiKey } = this.options.auth;
    const value = request.headers[header];
    if (typeof value !== 'string') return false;
    return scheme === undefined ? value === apiKey : value === `${scheme} ${apiKey}`;
  }

  private fail(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
    return reply.code(status).send(this.options.renderError(status, code, message));
  }

  private installHooks(): void {
    this.app.addHook('onRequest', async (request, reply) => {
      const admin = request.url.startsWith('/_sandbox/');
      if (!admin) {
        const verdict = this.faults.onRequest(request.method);
        if (verdict.kind === 'reset') {
          reply.hijack();
          request.raw.socket.destroy();
          return;
        }
        if (verdict.kind === 'outage') {
          if (verdict.mode === 'reset') {
            reply.hijack();
            request.raw.socket.destroy();
            return;
          }
          reply.header('retry-after', String(verdict.retryAfterSeconds));
          return this.fail(reply, 503, 'SERVICE_UNAVAILABLE', `${this.options.name} is down for maintenance`);
        }
        await this.pause(verdict.delayMs);
        if (verdict.kind === 'rate-limited') {
          reply.header('retry-after', String(verdict.retryAfterSeconds));
          return this.fail(reply, 429, 'RATE_LIMITED', 'too many requests');
        }
        if (verdict.kind === 'error') {
          return this.fail(reply, verdict.status, 'INTERNAL_ERROR', 'internal server error (injected)');
        }
      }
      if (!this.authorised(request)) {
        return this.fail(reply, 401, 'UNAUTHORIZED', `missing or invalid ${this.options.auth.header}`);
      }
    });

    // "Applied but timed out": the handler has committed the write; the client never hears so.
    this.app.addHook('onSend', async (request, reply, payload) => {
      if (
        !WRITE_METHODS.has(request.method) ||
        request.url.startsWith('/_sandbox/') ||
        reply.statusCode >= 400
      ) {
        return payload;
      }
      const fault = this.faults.onWriteCommitted();
      if (fault === undefined) return payload;
      if (fault.mode === 'delay') {
        await this.pause(fault.delayMs);
        return payload;
      }
      request.raw.socket.destroy();
      return payload;
    });

    this.app.setErrorHandler(
      (error: { statusCode?: number; code?: string; message: string }, _request, reply) => {
        if (error instanceof SandboxFaultsInvalidError)
          return this.fail(reply, 400, 'INVALID_FAULTS', error.message);
        const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
        const code = error.code ?? 'ERROR';
        return this.fail(reply, status, code, error.message);
      },
    );
  }

  private installAdminRoutes(): void {
    const app = this.app;
    app.get('/_sandbox/faults', () => this.faults.describe());
    app.put<{ Body: FaultConfig & { seed?: number } }>('/_sandbox/faults', (request) => {
      const { seed, ...config } = request.body ?? {};
      this.faults.set(config, seed);
      return this.faults.describe();
    });
    app.patch<{ Body: FaultConfig }>('/_sandbox/faults', (request) => {
      this.faults.patch(request.body ?? {});
      return this.faults.describe();
    });
    app.delete('/_sandbox/faults', () => {
      this.faults.clear();
      return this.faults.describe();
    });
    app.get('/_sandbox/clock', () => this.options.clock.describe());
    app.put<{ Body: { frozenAt?: string | null; advanceMs?: number } }>('/_sandbox/clock', (request) => {
      const body = request.body ?? {};
      if (body.frozenAt !== undefined) {
        this.options.clock.freeze(body.frozenAt === null ? undefined : Date.parse(body.frozenAt));
      }
      if (body.advanceMs !== undefined) this.options.clock.advance(body.advanceMs);
      return this.options.clock.describe();
    });
    app.get('/_sandbox/webhooks/deliveries', () => this.webhooks?.deliveries() ?? []);
    app.get('/_sandbox/state', () => this.options.describe?.() ?? {});
    app.get('/_sandbox/health', () => ({ ok: true, system: this.options.name }));
  }
}
