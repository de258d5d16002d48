// `crossdock sync backfill` against the sandbox ERP, as a user runs it: reads what the system already
// holds through the capture path with progress on stderr, keeps its own cursor (the live poll's is
// untouched), resumes instead of starting over, and honours --since.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import type { SyncDb } from '../../src/sync/tables.ts';
import type { JourneysDb } from '../../src/journeys/order-visibility/index.ts';
import { silentLogger } from '../../src/telemetry/index.ts';
import { runCli } from '../support/cli.ts';

interface Result {
  system: string;
  records: number;
  applied: number;
  streams: { stream: string; records: number; applied: number }[];
}

describe('crossdock sync backfill', () => {
  let sandbox: Sandbox;
  let dir: string;
  let configFile: string;
  const orders: string[] = [];
  let newOrder: () => Promise<string>;

  beforeAll(async () => {
    sandbox = await startSandbox({ ports: 0 });
    const api = async (p: string, body: unknown) => {
      const r = await fetch(`${sandbox.urls.erp}/api/v1${p}`, {
        method: 'POST',
        headers: { [sandbox.auth.erp.header]: sandbox.auth.erp.value, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return (await r.json()) as { id: string };
    };
    const customer = await api('/customers', {
      name: 'Bluefin Marine',
      email: 'ap@bluefin.example',
      credit_limit: 100_000,
      ship_to: { line1: '2 Dock Rd', city: 'Portsmouth', postal_code: 'PO1', country: 'GB' },
    });
    const item = await api('/items', { sku: 'ROPE-10', description: 'Rope', list_price: 5, on_hand: 100 });
    newOrder = async () =>
      (await api('/sales-orders', { customer_id: customer.id, lines: [{ item_id: item.id, qty: 2 }] })).id;
    orders.push(await newOrder(), await newOrder());
    // The third order is more than the sandbox cursor's 2 s overlap (plus its whole-second stamps)
    // younger than the first two, so a resumed read re-reads it and not them.
    await new Promise((r) => setTimeout(r, 3_500));
    orders.push(await newOrder());
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-backfill-'));
    configFile = path.join(dir, 'crossdock.yaml');
    fs.writeFileSync(
      configFile,
      [
        `dataDir: ${dir}`,
        'systems:',
        `  erp: { connector: sandbox-erp, baseUrl: "${sandbox.urls.erp}", apiKey: "${sandbox.apiKeys.erp}" }`,
        `  helpdesk: { connector: sandbox-helpdesk, baseUrl: "${sandbox.urls.helpdesk}", apiKey: "${sandbox.apiKeys.helpdesk}" }`,
        'journeys:',
        '  orderVisibility: { erp: erp, helpdesk: helpdesk }',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await sandbox.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const backfill = async (...extra: string[]) => {
    const r = await runCli([
      'sync',
      'backfill',
      '--system',
      'erp',
      '--config',
      configFile,
      '--json',
      ...extra,
    ]);
    expect(r.code, r.stderr).toBe(0);
    return { result: JSON.parse(r.stdout) as Result, stderr: r.stderr };
  };

  it('captures every order the ERP holds, with a progress line per stream, on its own cursor', async () => {
    const { result, stderr } = await backfill();
    expect(result.system).toBe('erp');
    expect(result.streams.map((s) => s.stream)).toEqual([
      'sales_order',
      'credit_hold',
      'shipment',
      'invoice',
    ]);
    const sales = result.streams.find((s) => s.stream === 'sales_order')!;
    expect(sales).toMatchObject({ records: orders.length, applied: orders.length });
    expect(stderr).toMatch(/backfill erp sales_order: 3 records read, 3 applied, 1 pages.* - done/);

    const store = await openStore(
      { dialect: 'sqlite', sqlite: { path: path.join(dir, 'crossdock.db') } },
      { logger: silentLogger() },
    );
    try {
      const db = store.db<SyncDb>();
      const captured = await db
        .selectFrom('sync_record_state')
        .select('external_id')
        .where('system', '=', 'erp')
        .where('stream', '=', 'sales_order')
        .orderBy('external_id')
        .execute();
      expect(captured.map((r) => r.external_id)).toEqual([...orders].sort());
      const cursors = await db
        .selectFrom('sync_cursors')
        .select('stream')
        .where('system', '=', 'erp')
        .execute();
      // The live poll's cursors are untouched: the next live poll still starts from its own position.
      expect(cursors.map((c) => c.stream).sort()).toEqual([
        'backfill:credit_hold:all',
        'backfill:invoice:all',
        'backfill:sales_order:all',
        'backfill:shipment:all',
      ]);
    } finally {
      await store.close();
    }
  });

  it('resumes from its cursor when run again: only the overlap and what is new are read', async () => {
    orders.push(await newOrder());
    const { result } = await backfill();
    // From the start it would read all four orders; resumed, the third (overlap) and the fourth.
    expect(result.streams.find((s) => s.stream === 'sales_order')).toMatchObject({ records: 2, applied: 1 });
  });

  it('reads nothing older than --since', async () => {
    const { result } = await backfill('--since', new Date(Date.now() + 3_600_000).toISOString());
    expect(result.records).toBe(0);
  });

  it('leaves the case writes to the running service: a backfilled case is linked in the store, not written', async () => {
    const hd = (p: string, init: RequestInit = {}) =>
      fetch(`${sandbox.urls.helpdesk}/api/v2${p}`, {
        ...init,
        headers: {
          [sandbox.auth.helpdesk.header]: sandbox.auth.helpdesk.value,
          'content-type': 'application/json',
        },
      });
    const created = (await (
      await hd('/cases', {
        method: 'POST',
        body: JSON.stringify({
          subject: `Where is ${orders[0]}?`,
          description: 'Hello',
          requester: { name: 'Ann', email: 'ap@bluefin.example' },
        }),
      })
    ).json()) as { id: number };
    const r = await runCli(['sync', 'backfill', '--system', 'helpdesk', '--config', configFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Result).applied).toBeGreaterThanOrEqual(1);
    // Give a stray write from the finished process time to land, then look at the case.
    await new Promise((res) => setTimeout(res, 500));
    const kase = (await (await hd(`/cases/${created.id}`)).json()) as {
      custom_fields?: Record<string, unknown>;
    };
    expect(kase.custom_fields?.erp_order ?? null).toBeNull();
    const comments = (await (await hd(`/cases/${created.id}/comments`)).json()) as { data?: unknown[] };
    expect(comments.data ?? []).toHaveLength(0);
    const store = await openStore(
      { dialect: 'sqlite', sqlite: { path: path.join(dir, 'crossdock.db') } },
      { logger: silentLogger() },
    );
    try {
      const links = await store
        .db<JourneysDb & SyncDb>()
        .selectFrom('jrn_case_links')
        .select(['case_id', 'order_number'])
        .execute();
      expect(links).toEqual([{ case_id: String(created.id), order_number: orders[0] }]);
      const pending = await store
        .db<SyncDb>()
        .selectFrom('sync_desired')
        .select(['version', 'applied_version'])
        .where('system', '=', 'helpdesk')
        .execute();
      expect(pending.map((p) => Number(p.applied_version) < Number(p.version))).toEqual([true]);
    } finally {
      await store.close();
    }
  });

  it('names the option when --since is not a date, and the system when it is unknown', async () => {
    const bad = await runCli([
      'sync',
      'backfill',
      '--system',
      'erp',
      '--config',
      configFile,
      '--since',
      'soon',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since: got "soon"');
    const unknown = await runCli(['sync', 'backfill', '--system', 'crm', '--config', configFile]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--system crm: not a system of a configured journey (erp, helpdesk)');
  });
});
