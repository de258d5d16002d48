// Outbound webhooks against a real HTTP receiver on loopback that goes down and comes back: every
// event arrives, in order, with a valid Standard Webhooks signature; an endpoint that keeps failing
// is paused and reported, and resumes delivering in order once resumed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventDispatcher, EventLog, EventsAdmin, WebhookService } from '../../src/events/index.ts';
import { dialects, until, type Opened } from './support/harness.ts';

interface Received {
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A webhook receiver that can be stopped and restarted on the same port, or told to answer 500. */
class Receiver {
  readonly received: Received[] = [];
  status = 200;
  #server: http.Server | undefined;
  port = 0;

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.status === 200) {
          this.received.push({
            headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
            body: Buffer.concat(chunks).toString('utf8'),
          });
        }
        res.statusCode = this.status;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }
}

describe.each(dialects)('outbound webhooks on $dialect', ({ open }) => {
  let opened: Opened;
  let log: EventLog;
  let dispatcher: EventDispatcher;
  let admin: EventsAdmin;
  let webhooks: WebhookService;
  const receiver = new Receiver();

  beforeAll(async () => {
    opened = await open();
    log = new EventLog({ store: opened.store });
    dispatcher = new EventDispatcher({ log, pollIntervalMs: 3_600_000 });
    admin = new EventsAdmin(log, (name) => dispatcher.kick(name));
    webhooks = new WebhookService({
      dispatcher,
      admin,
      options: { retryBaseMs: 20, retryMaxMs: 100, pauseAfterFailures: 1000, timeoutMs: 2000 },
    });
    await webhooks.start();
    await receiver.start();
  });
  afterAll(async () => {
    await webhooks.stop();
    await dispatcher.stop();
    await log.stop();
    await receiver.stop();
    await opened.cleanup();
  });

  it('delivers everything in order with valid signatures after the receiver was down', async () => {
    const endpoint = await webhooks.create({ tenantId: 'acme', url: receiver.url, types: ['order:changed'] });
    expect(endpoint.secret).toMatch(/^whsec_/);
    const append = (i: number) =>
      log.append([
        { type: 'order:changed', tenantId: 'acme', entity: { id: `o${i % 3}` }, data: { i } },
        // Neither another tenant's events nor other types reach this endpoint.
        { type: 'order:changed', tenantId: 'other', entity: { id: 'x' }, data: { i } },
        { type: 'case:opened', tenantId: 'acme', entity: { id: `k${i}` }, data: { i } },
      ]);
    for (let i = 0; i < 3; i++) await append(i);
    await until(() => receiver.received.length === 3);

    await receiver.stop();
    for (let i = 3; i < 9; i++) await append(i);
    await until(async () => {
      const c = (await admin.consumers()).find((x) => x.name === `webhook:${endpoint.id}`);
      return (c?.consecutiveFailures ?? 0) >= 3;
    });
    expect(receiver.received).toHaveLength(3);
    await receiver.start();
    await until(() => receiver.received.length === 9);

    const verifier = new Webhook(endpoint.secret);
    const bodies = receiver.received.map((r) => {
      verifier.verify(r.body, r.headers); // throws on a bad signature or timestamp
      return JSON.parse(r.body) as { id: string; data: { i: number }; tenantid: string; sequence: string };
    });
    expect(bodies.map((b) => b.data.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(bodies.every((b) => b.tenantid === 'acme')).toBe(true);
    expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual(bodies.map((b) => b.id));
    expect(receiver.received[0]!.headers['content-type']).toContain('application/cloudevents+json');
    const positions = bodies.map((b) => Number(b.sequence));
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    await webhooks.remove(endpoint.id, ['acme']);
  });

  it('pauses an endpoint that keeps failing, reports it, and delivers in order once resumed', async () => {
    const paused = new WebhookService({
      dispatcher,
      admin,
      options: { retryBaseMs: 10, retryMaxMs: 20, pauseAfterFailures: 3, timeoutMs: 2000 },
    });
    await paused.start();
    try {
      const before = receiver.received.length;
      const endpoint = await paused.create({ tenantId: 'beta', url: receiver.url });
      receiver.status = 500;
      await log.append(
        [1, 2, 3].map((i) => ({
          type: 'case:opened' as const,
          tenantId: 'beta',
          entity: { id: `c${i}` },
          data: { i },
        })),
      );
      await until(async () => (await paused.get(endpoint.id, ['beta'])).status === 'paused');
      const shown = await paused.get(endpoint.id, ['beta']);
      expect(shown.pausedReason).toContain('HTTP 500');
      expect(shown.lag).toBeGreaterThan(0);
      await expect(paused.get(endpoint.id, ['acme'])).rejects.toMatchObject({
        code: 'WEBHOOK_ENDPOINT_NOT_FOUND',
      });

      receiver.status = 200;
      await paused.update(endpoint.id, ['beta'], { status: 'active' });
      await until(() => receiver.received.length === before + 3);
      const got = receiver.received
        .slice(before)
        .map((r) => (JSON.parse(r.body) as { data: { i: number } }).data.i);
      expect(got).toEqual([1, 2, 3]);
      expect((await paused.get(endpoint.id, ['beta'])).status).toBe('active');

      // A replay is re-sent with a distinct webhook-id, so receivers do not drop it as a duplicate.
      await admin.replay(`webhook:${endpoint.id}`, { fromPosition: 0 });
      await until(() => receiver.received.length === before + 6);
      const ids = receiver.received.slice(before).map((r) => r.headers['webhook-id']!);
      expect(new Set(ids).size).toBe(6);
      expect(ids.slice(3).every((id) => id.endsWith('.1'))).toBe(true);
    } finally {
      await paused.stop();
    }
  });
});
