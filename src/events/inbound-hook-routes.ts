// Inbound webhooks from systems (ERP, helpdesk, carrier, storefront) at `POST /hooks/{system}`,
// outside `/v1` and without an API key: each request is verified by its signature instead (Standard
// Webhooks secret, or a verifier function per system), and acknowledged with 2xx only after the
// system's `commit` callback resolves, i.e. after the record is durably committed. A sender whose
// request was not committed gets 503 and retries; nothing accepted is lost.
import type { FastifyPluginAsync } from 'fastify';
import { Webhook } from 'standardwebhooks';
import {
  InboundHookNotCommittedError,
  InboundHookSignatureInvalidError,
  InboundHookUnknownSystemError,
} from './errors.ts';

export type InboundHeaders = Readonly<Record<string, string>>;

export interface InboundHookRequest {
  readonly system: string;
  /** The body exactly as received (signatures are computed over these bytes). */
  readonly rawBody: Buffer;
  readonly headers: InboundHeaders;
}

export interface InboundHookSystem {
  /**
   * How requests are verified: a Standard Webhooks secret (`whsec_...`; `webhook-id`,
   * `webhook-timestamp` and `webhook-signature` headers, 5-minute tolerance), or a function that
   * returns false (or throws) for a request that must be refused.
   */
  readonly verify:
    { readonly secret: string } | ((request: InboundHookRequest) => boolean | Promise<boolean>);
  /** Tenant the system's webhooks belong to, fixed or taken from the request. */
  readonly tenant: string | ((request: InboundHookRequest, payload: unknown) => string);
  /**
   * Records the webhook durably (e.g. a capture row in the same transaction as its events); the
   * request is acknowledged only once the promise resolves. Must be idempotent: senders retry.
   */
  commit(tenant: string, system: string, payload: unknown, headers: InboundHeaders): Promise<void>;
}

export interface InboundHookRoutesOptions {
  /** Systems allowed to send webhooks, by the `{system}` path segment. */
  readonly systems: Readonly<Record<string, InboundHookSystem>>;
  /** Largest body accepted, in bytes (default 1048576); larger ones get 413. */
  readonly bodyLimitBytes?: number;
}

function flatHeaders(raw: Record<string, string | string[] | undefined>): InboundHeaders {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

export const inboundHookRoutes: FastifyPluginAsync<InboundHookRoutesOptions> = async (app, options) => {
  const bodyLimit = options.bodyLimitBytes ?? 1_048_576;
  const verifiers = new Map<string, (r: InboundHookRequest) => Promise<boolean>>();
  for (const [name, system] of Object.entries(options.systems)) {
    const verify = system.verify;
    if (typeof verify === 'function') verifiers.set(name, async (r) => verify(r));
    else {
      const hook = new Webhook(verify.secret);
      verifiers.set(name, async (r) => {
        hook.verify(r.rawBody.toString('utf8'), r.headers);
        return true;
      });
    }
  }

  // Signatures cover the exact bytes, so this plugin's routes take every body raw (encapsulated:
  // the rest of the app keeps its JSON parser).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

  app.post<{ Params: { system: string } }>(
    '/hooks/:system',
    {
      bodyLimit,
      config: { public: true },
      schema: {
        tags: ['hooks'],
        summary: 'Receive a signed webhook from a connected system; 2xx only once it is committed',
        params: { type: 'object', properties: { system: { type: 'string' } }, required: ['system'] },
      },
    },
    async (request, reply) => {
      const systemName = request.params.system;
      const system = options.systems[systemName];
      const verify = verifiers.get(systemName);
      if (system === undefined || verify === undefined) throw new InboundHookUnknownSystemError(systemName);
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const headers = flatHeaders(request.headers);
      const hookRequest: InboundHookRequest = { system: systemName, rawBody, headers };
      let ok: boolean;
      try {
        ok = await verify(hookRequest);
      } catch (error) {
        throw new InboundHookSignatureInvalidError(
          systemName,
          error instanceof Error ? error.message : 'rejected',
        );
      }
      if (!ok) throw new InboundHookSignatureInvalidError(systemName, 'signature does not match');

      const text = rawBody.toString('utf8');
      let payload: unknown = text;
      if ((headers['content-type'] ?? '').includes('json')) {
        try {
          payload = JSON.parse(text) as unknown;
        } catch {
          payload = text;
        }
      }
      const tenant = typeof system.tenant === 'string' ? system.tenant : system.tenant(hookRequest, payload);
      try {
        await system.commit(tenant, systemName, payload, headers);
      } catch (error) {
        request.log.error({ err: error, system: systemName }, 'inbound webhook not committed');
        throw new InboundHookNotCommittedError(systemName, error);
      }
      return reply.code(202).send({ received: true });
    },
  );
};
