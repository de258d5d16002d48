// Server-sent events for user interfaces: `GET /v1/events/stream` streams the log's events for the
// caller's tenants as they commit (`id:` is the position, so a reconnecting browser resumes with
// `Last-Event-ID`). It reads the log directly, woken by commit notifications; it is not a consumer
// and keeps no state in the store.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { toCloudEvent } from './envelope.ts';
import type { EventLog } from './event-log.ts';
import { EVENT_TYPE_NAMES } from './event-types.ts';
import type { TenantScope } from './events-admin.ts';

export interface EventStreamRoutesOptions {
  readonly log: EventLog;
  /** Interval of `: keep-alive` comments, in ms (default 15000), so proxies keep the stream open. */
  readonly heartbeatMs?: number;
  /** Events read per step (default 200). */
  readonly batchSize?: number;
}

const StreamQuery = Type.Object({
  after: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: 'start after this position (default: the current head, i.e. new events only)',
    }),
  ),
  type: Type.Optional(Type.Array(Type.Union(EVENT_TYPE_NAMES.map((t) => Type.Literal(t))))),
});
type StreamQuery = Static<typeof StreamQuery>;

function tenantsOf(request: FastifyRequest): TenantScope {
  // Declared by the app's auth hook (src/api), which this part does not import.
  return (request as FastifyRequest & { principal?: { tenants?: TenantScope } }).principal?.tenants ?? [];
}

export const eventStreamRoutes: FastifyPluginAsync<EventStreamRoutesOptions> = async (app, options) => {
  const { log } = options;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const batchSize = options.batchSize ?? 200;

  app.get<{ Querystring: StreamQuery }>(
    '/v1/events/stream',
    {
      config: { scope: 'events:read' },
      schema: {
        tags: ['events'],
        summary: 'Server-sent events stream of business events for your tenants',
        querystring: StreamQuery,
      },
    },
    async (request, reply) => {
      const scope = tenantsOf(request);
      const lastEventId = request.headers['last-event-id'];
      const resumeAt =
        typeof lastEventId === 'string' && /^\d+$/.test(lastEventId) ? Number(lastEventId) : undefined;
      let position = resumeAt ?? request.query.after ?? (await log.head());
      const filter = {
        ...(scope === '*' ? {} : { tenants: scope }),
        ...(request.query.type === undefined ? {} : { types: request.query.type }),
      };

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': connected\n\n');

      let closed = false;
      let wake: (() => void) | undefined;
      const signal = () => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      const unsubscribe = log.onAppended(signal);
      const heartbeat = setInterval(() => {
        if (!closed) res.write(': keep-alive\n\n');
      }, heartbeatMs);
      heartbeat.unref();
      request.raw.on('close', () => {
        closed = true;
        signal();
      });

      try {
        while (!closed) {
          // Registered before reading, so a commit during the read is not missed.
          const woken = new Promise<void>((resolve) => {
            wake = resolve;
          });
          await log.publish();
          const events = await log.read(position, batchSize, filter);
          for (const event of events) {
            const ok = res.write(
              `id: ${event.position}\nevent: ${event.type}\ndata: ${JSON.stringify(toCloudEvent(event))}\n\n`,
            );
            position = event.position;
            if (!ok && !closed) await new Promise<void>((resolve) => res.once('drain', resolve));
          }
          // A full batch means more is waiting: read again at once; otherwise sleep until a commit.
          if (events.length < batchSize) await woken;
        }
      } catch (error) {
        request.log.warn({ err: error }, 'event stream ended by an error');
      } finally {
        unsubscribe();
        clearInterval(heartbeat);
        res.end();
      }
    },
  );
};
