// `crossdock events ...` through a real admin HTTP API (server running) and on a local store: the
// same commands, the same answers, errors reported by code.
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asCrossdockError, PROBLEM_CONTENT_TYPE, toProblem } from '../../src/errors/index.ts';
import {
  EventService,
  eventsAdminRoutes,
  HttpEventsClient,
  localEventsApi,
  registerEventsCommands,
  type EventsAdminApi,
} from '../../src/events/index.ts';
import { dialects, until, type Opened } from './support/harness.ts';

const sqlite = dialects.find((d) => d.dialect === 'sqlite')!;

describe('crossdock events commands', () => {
  let opened: Opened;
  let events: EventService;
  let app: FastifyInstance;
  let http: HttpEventsClient;
  let broken = true;

  beforeAll(async () => {
    opened = await sqlite.open();
    events = new EventService({ store: opened.store, pollIntervalMs: 3_600_000 });
    await events.start();
    app = Fastify();
    app.addHook('onRequest', async (request) => {
      (request as unknown as { principal: object }).principal = {
        keyId: 'ops-key',
        tenants: '*',
        scopes: ['admin'],
      };
    });
    app.setErrorHandler((error, request, reply) => {
      const problem = toProblem(asCrossdockError(error), request.url);
      return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
    });
    await app.register(eventsAdminRoutes, { admin: events.admin });
    await app.listen({ port: 0, host: '127.0.0.1' });
    http = new HttpEventsClient({
      baseUrl: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    });
    await events.dispatcher.subscribe(
      'cli-consumer',
      (e) => {
        if (broken && e.entity.id === 'SO-7') throw new Error('credit service said no');
      },
      { maxAttempts: 2, retry: { baseMs: 5, maxMs: 5 } },
    );
    await events.log.append([
      { type: 'order:credit-held', tenantId: 'acme', entity: { id: 'SO-7' }, data: { reason: 'limit' } },
      { type: 'order:changed', tenantId: 'acme', entity: { id: 'SO-8' }, data: {} },
    ]);
    await until(async () => (await events.admin.deadLetters('*')).length === 1);
  });
  afterAll(async () => {
    await app.close();
    await events.stop();
    await opened.cleanup();
  });

  async function run(api: EventsAdminApi, ...args: string[]): Promise<string> {
    let text = '';
    const program = new Command().exitOverride();
    registerEventsCommands(program, { withApi: (fn) => fn(api), write: (t) => (text += t) });
    await program.parseAsync(['node', 'crossdock', ...args]);
    return text;
  }

  it('tails, lists and shows dead letters the same over HTTP and locally', async () => {
    const viaHttp = await run(http, 'events', 'tail', '--type', 'order:credit-held');
    const local = await run(localEventsApi(events.admin), 'events', 'tail', '--type', 'order:credit-held');
    expect(viaHttp).toBe(local);
    expect(viaHttp).toContain('dev.crossdock.order.credit-held  order/SO-7#1');
    expect(viaHttp).not.toContain('SO-8');

    const list = await run(http, 'events', 'dlq', 'list');
    expect(list).toContain('cli-consumer');
    expect(list).toContain('credit service said no');
    const id = list.split('\n')[1]!.split(/\s+/)[0]!;
    const shown = await run(http, 'events', 'dlq', 'show', id);
    expect(shown).toContain('error after 2 attempts: Error: credit service said no');
    expect(shown).toContain('"reason":"limit"');
    const consumers = await run(http, 'events', 'consumers');
    expect(consumers).toMatch(/cli-consumer\s+handler\s+active/);
  });

  it('redrives over HTTP and reports an unknown dead letter by its code', async () => {
    const [dl] = await events.admin.deadLetters('*');
    broken = false;
    expect(await run(http, 'events', 'dlq', 'redrive', dl!.id)).toContain('redriven');
    await until(
      async () => (await events.admin.consumers()).find((c) => c.name === 'cli-consumer')!.parked === 0,
    );
    await expect(run(http, 'events', 'dlq', 'skip', 'no-such-id')).rejects.toMatchObject({
      code: 'DEAD_LETTER_NOT_FOUND',
    });
    await expect(run(http, 'events', 'dlq', 'skip', dl!.id)).rejects.toMatchObject({
      code: 'DEAD_LETTER_RESOLVED',
    });
  });

  it('starts a replay of one consumer and refuses an ambiguous one', async () => {
    const out = await run(
      localEventsApi(events.admin),
      'events',
      'replay',
      'cli-consumer',
      '--from-position',
      '0',
    );
    expect(out).toMatch(/^replay 1 of cli-consumer: positions 1\.\.\d+ are re-delivered/);
    await expect(
      run(
        http,
        'events',
        'replay',
        'cli-consumer',
        '--from-position',
        '0',
        '--from-time',
        '2026-01-01T00:00:00Z',
      ),
    ).rejects.toThrow(/exactly one/);
  });
});
