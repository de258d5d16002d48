// The demo runner with a small N (with the fault scenario on: 429 storms, ERP latency and outage,
// duplicate and reordered webhooks, applied-but-timed-out writes), the `crossdock demo` command, and
// `startJourneys` driven by a YAML configuration against the sandbox.
import { eventsMigrations } from '../../src/events/index.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Value } from '@sinclair/typebox/value';
import { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import {
  JourneysConfigSchema,
  journeysMigrations,
  registerDemoCommand,
  runDemo,
  startDemoPipeline,
  startJourneys,
  type JourneysConfig,
} from '../../src/journeys/index.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { openStore, storeMigrations, type Store } from '../../src/store/index.ts';
import { syncMigrations } from '../../src/sync/index.ts';
import { silentLogger } from '../../src/telemetry/index.ts';

describe('demo runner', () => {
  it('converges with faults on: every case shows its order, no milestone twice, counts from the helpdesk', async () => {
    const result = await runDemo({
      orders: 16,
      faults: true,
      seed: 3,
      progress: null,
      convergeTimeoutMs: 90_000,
    });
    expect(result.orders).toBe(16);
    expect(result.casesExpected).toBeGreaterThan(0);
    expect(result.casesUpdated).toBe(result.casesExpected);
    expect(result.lost).toBe(0);
    expect(result.duplicates).toBe(0);
    expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms);
    expect(result.perSec).toBeGreaterThan(0);
  }, 180_000);

  it('crossdock demo --json prints one JSON object with the agreed keys and sets exit code 0', async () => {
    const out: string[] = [];
    const program = new Command('crossdock').exitOverride();
    registerDemoCommand(program, { write: (t) => out.push(t) });
    const before = process.exitCode;
    await program.parseAsync(['demo', '--orders', '4', '--faults', 'off', '--json'], { from: 'user' });
    expect(out).toHaveLength(1);
    const parsed = JSON.parse(out[0]!) as Record<string, unknown>;
    expect(Object.keys(parsed).sort()).toEqual(
      ['casesExpected', 'casesUpdated', 'duplicates', 'lost', 'orders', 'p50Ms', 'p99Ms', 'perSec'].sort(),
    );
    expect(process.exitCode ?? 0).toBe(0);
    process.exitCode = before;
  }, 120_000);

  it('refuses an unknown --faults value', async () => {
    const program = new Command('crossdock').exitOverride().configureOutput({ writeErr: () => undefined });
    registerDemoCommand(program);
    await expect(program.parseAsync(['demo', '--faults', 'maybe'], { from: 'user' })).rejects.toThrow();
  });
});

describe('start --demo pipeline', () => {
  it('runs continuous traffic and prints a live summary line every interval until stopped', async () => {
    const lines: string[] = [];
    const status = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const demo = await startDemoPipeline({ ports: 0, ordersPerSecond: 4, status, statusIntervalMs: 100 });
    try {
      const until = Date.now() + 60_000;
      while (demo.summary().casesUpdated === 0 || demo.summary().shipments === 0) {
        if (Date.now() > until) throw new Error('no case updated');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await demo.stop();
    }
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.at(-1)).toMatch(
      /orders \d+ · shipments \d+ · cases updated \d+\/\d+ · lag [\d.]+s · failures \d+/,
    );
  }, 90_000);
});

describe('startJourneys from YAML configuration', () => {
  let sandbox: Sandbox | undefined;
  let store: Store | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await store?.close();
    await sandbox?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('validates the fragment, opens the configured systems and enriches a case by polling', async () => {
    sandbox = await startSandbox({ ports: 0 });
    const yaml = `
systems:
  erp:
    connector: sandbox-erp
    baseUrl: ${sandbox.urls.erp}
    apiKey: ${sandbox.apiKeys.erp}
    pollIntervalMs: 200
  helpdesk:
    connector: sandbox-helpdesk
    baseUrl: ${sandbox.urls.helpdesk}
    apiKey: ${sandbox.apiKeys.helpdesk}
    pollIntervalMs: 200
journeys:
  orderVisibility: { erp: erp, helpdesk: helpdesk, enabled: true, tenant: acme }
mappings:
  orderVisibility:
    caseFields: { erp_customer: null }
ownership:
  order: { owner: erp }
`;
    const config = parseYaml(yaml) as JourneysConfig;
    expect([...Value.Errors(JourneysConfigSchema, config)]).toEqual([]);
    expect(Value.Check(JourneysConfigSchema, { systems: { erp: { connector: 'tryton' } } })).toBe(false);

    dir = mkdtempSync(join(tmpdir(), 'cd-'));
    store = await openStore(
      { dialect: 'sqlite', sqlite: { path: join(dir, 'db.sqlite') } },
      { logger: silentLogger() },
    );
    await store.migrate([...storeMigrations, ...eventsMigrations, ...syncMigrations, ...journeysMigrations]);
    const journeys = await startJourneys({ config, store, logger: silentLogger() });
    expect(journeys.routes).toHaveLength(0); // no webhook secrets configured: polling only
    try {
      const api = async (system: 'erp' | 'helpdesk', path: string, body: unknown) => {
        const sb = sandbox!;
        const r = await fetch(`${sb.urls[system]}${system === 'erp' ? '/api/v1' : '/api/v2'}${path}`, {
          method: 'POST',
          headers: { [sb.auth[system].header]: sb.auth[system].value, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return (await r.json()) as { id: string | number };
      };
      const customer = await api('erp', '/customers', {
        name: 'Bluefin Marine',
        email: 'ap@bluefin.example',
        credit_limit: 100_000,
        ship_to: { line1: '2 Dock Rd', city: 'Portsmouth', postal_code: 'PO1', country: 'GB' },
      });
      const item = await api('erp', '/items', {
        sku: 'ROPE-10',
        description: 'Rope',
        list_price: 5,
        on_hand: 100,
      });
      const order = await api('erp', '/sales-orders', {
        customer_id: customer.id,
        lines: [{ item_id: item.id, qty: 2 }],
      });
      const kase = await api('helpdesk', '/cases', {
        subject: `Status of ${String(order.id)}`,
        description: 'Thanks',
        requester: { name: 'Sam', email: 'sam@bluefin.example' },
      });
      const until = Date.now() + 20_000;
      while (sandbox.oracle.case(Number(kase.id))?.customFields.erp_order_status !== 'RELEASED') {
        if (Date.now() > until) throw new Error('case not enriched');
        await new Promise((r) => setTimeout(r, 50));
      }
      const fields = sandbox.oracle.case(Number(kase.id))!.customFields;
      expect(fields.erp_order).toBe(order.id);
      // The mapping left erp_customer out of the case.
      expect(fields.erp_customer).toBeUndefined();
      expect(journeys.stats().orderVisibility?.casesLinked).toBe(1);
    } finally {
      await journeys.stop();
    }
  });

  it('rejects a journey naming a system that is not configured', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cd-'));
    store = await openStore(
      { dialect: 'sqlite', sqlite: { path: join(dir, 'db.sqlite') } },
      { logger: silentLogger() },
    );
    await expect(
      startJourneys({
        config: { journeys: { orderVisibility: { erp: 'erp', helpdesk: 'helpdesk', enabled: true } } },
        store,
        logger: silentLogger(),
      }),
    ).rejects.toMatchObject({ code: 'JOURNEY_CONFIG_INVALID' });
  });
});
